# TRAIN: refit on all labels so far (initial data and iterations up to this one).


rule train:
    input:
        labels=lambda w: [L.labels(s) for s in L.stages_up_to(w.stage)],
        reference=rules.reference_energies.output.energies,
        previous=previous_potential,
        validation=[L.VALIDATION_FILE] if VALIDATION else [],
    output:
        yace="{stage}/potential.yace",
        yaml="{stage}/potential.yaml",
        asi="{stage}/potential.asi",
        record="{stage}/train.json",
        rows=DESIGN_ROWS,
    params:
        config_file=CONFIG_FILE,
    threads: RES.train.cores
    resources:
        **RES.train.snakemake_resources(),
    log:
        "logs/train/{stage}.log",
    benchmark:
        "logs/benchmark/train/{stage}.tsv"
    conda:
        conda_env(RCFG.cfg.trainer.kind)
    script:
        "../scripts/train.py"
