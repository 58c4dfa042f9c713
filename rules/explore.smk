# EXPLORE: one job per exploration condition; the `gate` checkpoint decides what comes next.


rule explore:
    input:
        potential=exploring_potential,
        structures=STRUCTURE_FILES,
        lattice=L.LATTICE,  # the starting structures' lattice constants
        calibration=calibration_records,
    output:
        record=L.explore_record("{it}", "{cond}"),
        frames=L.explore_frames("{it}", "{cond}"),
        samples=L.explore_samples("{it}", "{cond}"),
    params:
        config_file=CONFIG_FILE,
    threads: RES.explore.cores
    resources:
        **RES.explore.snakemake_resources(),
    log:
        "logs/explore/iter_{it}_{cond}.log",
    benchmark:
        "logs/benchmark/explore/iter_{it}_{cond}.tsv"
    conda:
        conda_env(RCFG.cfg.dynamics.kind)
    script:
        "../scripts/explore.py"


checkpoint gate:
    input:
        records=explore_records,
        previous=lambda w: [L.decision(k) for k in range(iteration(w))],
        superseded=superseded_decision,
        properties=lambda w: gate_property_files(iteration(w)),
        # the previous fit's record: its prior errors are the spot checks' result
        previous_train=lambda w: [L.train_record(L.iter_dir(iteration(w) - 1))] if iteration(w) > 0 else [],
    output:
        decision=L.decision("{it}"),
    params:
        config_file=CONFIG_FILE,
    threads: RES.light.cores
    resources:
        **RES.light.snakemake_resources(),
    log:
        "logs/gate/iter_{it}.log",
    benchmark:
        "logs/benchmark/gate/iter_{it}.tsv"
    conda:
        "../envs/mlip.yaml"
    script:
        "../scripts/gate.py"
