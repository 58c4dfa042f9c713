# REPORT: the HTML report with its figures, made once the loop has ended (converged or stopped).
# Also available at any time, also during a run: `mlip-runner report [DIR]`.


rule report:
    input:
        flag=final_target,
        properties=property_stage_targets,
        final_fit=[L.train_record(L.FINAL_FIT)] if FINAL_FIT else [],
        ship=[L.SHIP_DECISION] if FINAL_FIT else [],
        # the shipped potential's MD stability line (also when properties are computed every N)
        md=lambda w: [L.md_stability(final_stage())] if MD_STABILITY else [],
        noise=L.LABEL_NOISE,  # the label-noise floor in the summary
    output:
        html=f"{L.REPORT_DIR}/report.html",
    params:
        config_file=CONFIG_FILE,
    threads: RES.light.cores
    resources:
        **RES.light.snakemake_resources(),
    log:
        "logs/report/report.log",
    benchmark:
        "logs/benchmark/report/report.tsv"
    conda:
        "../envs/mlip.yaml"
    script:
        "../scripts/report.py"
