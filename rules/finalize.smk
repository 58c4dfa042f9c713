# The end of the loop: converged.flag, or stopped.flag (max_cycles / patience) with the reason.


rule finalize:
    input:
        decision=lambda w: walk_decisions()[0],
    output:
        flag="{outcome}.flag",
    params:
        config_file=CONFIG_FILE,
    threads: RES.light.cores
    resources:
        **RES.light.snakemake_resources(),
    log:
        "logs/finalize/{outcome}.log",
    benchmark:
        "logs/benchmark/finalize/{outcome}.tsv"
    conda:
        "../envs/mlip.yaml"
    script:
        "../scripts/finalize.py"
