# FINAL: the hand-off when the loop has ended: final/potential.*, the whole dataset (extxyz and
# pacemaker DataFrame), a LAMMPS input fragment, the report and a README. Each file is declared on
# its own (not `directory("final")`), so other rules can add files to final/.


rule final:
    input:
        flag=final_target,
        decision=lambda w: walk_decisions()[0],
        potential=final_potential,
        labels=final_labels,
        reference=rules.reference_energies.output.energies,
        report=rules.report.output.html,
        # which potential ships and the end criteria measured with it (README "Shipped")
        ship=[L.SHIP_DECISION] if FINAL_FIT else [],
        scale=lambda w: [L.gamma_scale(L.FINAL_FIT)] if FINAL_FIT and final_stage() == L.FINAL_FIT else [],
        md=lambda w: [L.md_stability(final_stage())] if MD_STABILITY else [],
        properties=lambda w: [L.stage_properties(final_stage())] if PROPS.enabled else [],
        noise=L.LABEL_NOISE,
    output:
        yace=f"{L.FINAL_DIR}/potential.yace",
        yaml=f"{L.FINAL_DIR}/potential.yaml",
        asi=f"{L.FINAL_DIR}/potential.asi",
        dataset=f"{L.FINAL_DIR}/dataset.extxyz",
        dataframe=f"{L.FINAL_DIR}/dataset.pkl.gz",
        lammps=f"{L.FINAL_DIR}/lammps/in.pace",
        report=f"{L.FINAL_DIR}/report.html",
        readme=f"{L.FINAL_DIR}/README.txt",
    params:
        config_file=CONFIG_FILE,
    threads: RES.light.cores
    resources:
        **RES.light.snakemake_resources(),
    log:
        "logs/final/final.log",
    benchmark:
        "logs/benchmark/final/final.tsv"
    conda:
        "../envs/mlip.yaml"
    script:
        "../scripts/final.py"
