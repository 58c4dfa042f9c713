# TRAIN: refit on all labels so far (initial data and iterations up to this one).


rule train:
    wildcard_constraints:
        stage=L.STAGE_REGEX,
    input:
        labels=lambda w: [L.labels(s) for s in L.stages_up_to(w.stage)],
        reference=rules.reference_energies.output.energies,
        previous=previous_potential,
        validation=[L.VALIDATION_FILE] if VALIDATION else [],
        cheap=lambda w: cheap_label_files(w.stage),
        cheap_validation=cheap_validation_files(),
        cheap_reference=[L.CHEAP_REFERENCE_ENERGIES] if RCFG.cfg.two_level_on() else [],
    output:
        yace=L.potential("{stage}", "yace"),
        yaml=L.potential("{stage}", "yaml"),
        asi=L.potential("{stage}", "asi"),
        record=L.train_record("{stage}"),
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


# FINAL FIT (trainer.ladder.final_rungs): after the loop has ended, refit its labels with every rung,
# the final rungs too, reusing the last fit's design rows; final/ ships this potential.
rule final_fit:
    input:
        labels=final_labels,
        reference=rules.reference_energies.output.energies,
        previous=final_fit_previous,
        validation=[L.VALIDATION_FILE] if VALIDATION else [],
        cheap=final_cheap_labels,
        cheap_validation=cheap_validation_files(),
        cheap_reference=[L.CHEAP_REFERENCE_ENERGIES] if RCFG.cfg.two_level_on() else [],
    output:
        yace=L.potential(L.FINAL_FIT, "yace"),
        yaml=L.potential(L.FINAL_FIT, "yaml"),
        asi=L.potential(L.FINAL_FIT, "asi"),
        record=L.train_record(L.FINAL_FIT),
        rows=[p.format(stage=L.FINAL_FIT) for p in DESIGN_ROWS],
    # everything after the loop waits for it: ahead of the property jobs that need no potential
    priority: 10
    params:
        config_file=CONFIG_FILE,
    threads: RES.train.cores
    resources:
        **RES.train.snakemake_resources(),
    log:
        "logs/final_fit/final_fit.log",
    benchmark:
        "logs/benchmark/final_fit/final_fit.tsv"
    conda:
        conda_env(RCFG.cfg.trainer.kind)
    script:
        "../scripts/final_fit.py"
