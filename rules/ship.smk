# SHIP (with a final fit, trainer.ladder.final_rungs): the final fit ships only once it passes the
# loop's end criteria itself: fresh spot checks from the last exploration, labelled like a stage's
# selection (final_check/), its MD stability run bounded by its own gamma scale, then the `ship`
# checkpoint decides which potential final/ ships (final_check/ship.json). steps/ship.py.


rule final_check_frames:
    input:
        decision=lambda w: walk_decisions()[0],
        samples=lambda w: last_exploration("samples"),
    output:
        selected=L.selected(L.FINAL_CHECK),
    params:
        config_file=CONFIG_FILE,
    threads: RES.light.cores
    resources:
        **RES.light.snakemake_resources(),
    log:
        "logs/final_check_frames/final_check.log",
    benchmark:
        "logs/benchmark/final_check_frames/final_check.tsv"
    conda:
        "../envs/mlip.yaml"
    script:
        "../scripts/final_check_frames.py"


rule gamma_scale:
    input:
        potential=potential_files(L.FINAL_FIT),
        reference=lambda w: potential_files(last_loop_stage()),
        samples=lambda w: last_exploration("samples"),
        frames=lambda w: last_exploration("frames"),
    output:
        scale=L.gamma_scale(L.FINAL_FIT),
    params:
        config_file=CONFIG_FILE,
    threads: RES.refine.cores
    resources:
        **RES.refine.snakemake_resources(),
    log:
        "logs/gamma_scale/final_fit.log",
    benchmark:
        "logs/benchmark/gamma_scale/final_fit.tsv"
    conda:
        conda_env(RCFG.cfg.trainer.kind)
    script:
        "../scripts/gamma_scale.py"


checkpoint ship:
    input:
        record=L.train_record(L.FINAL_FIT),
        potential=potential_files(L.FINAL_FIT),
        loop=lambda w: fit_files(last_loop_stage()),
        labels=[L.labels(L.FINAL_CHECK)] if SPOT_CHECKS else [],
        md=[L.md_stability(L.FINAL_FIT)] if MD_STABILITY else [],
        scale=L.gamma_scale(L.FINAL_FIT),
    output:
        decision=L.SHIP_DECISION,
    params:
        config_file=CONFIG_FILE,
    threads: RES.refine.cores
    resources:
        **RES.refine.snakemake_resources(),
    log:
        "logs/ship/ship.log",
    benchmark:
        "logs/benchmark/ship/ship.tsv"
    conda:
        conda_env(RCFG.cfg.trainer.kind)
    script:
        "../scripts/ship.py"
