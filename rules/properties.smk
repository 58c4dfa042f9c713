# PROPERTIES: the potential proven by physical properties, each computed with the potential and with
# the oracle, each at its own equilibrium (EOS, elastic constants, vacancy, surfaces, phonons) plus an MD
# stability run. The oracle's share runs as label-like jobs, cached per structure in
# properties_cache/ (shared by all stages), resumable, failures recorded.
# Final potential -> final/properties.json; with properties.every: N, also iterations 0, N, 2N, ...

include: "properties_inputs.smk"


rule property_tasks:
    input:
        yace=L.potential("{stage}", "yace"),
        asi=L.potential("{stage}", "asi"),
    output:
        tasks=L.property_tasks("{stage}"),
        potential=L.property_potential_frames("{stage}"),
    params:
        config_file=CONFIG_FILE,
    threads: RES.refine.cores
    resources:
        **RES.refine.snakemake_resources(),
    log:
        "logs/property_tasks/{stage}.log",
    benchmark:
        "logs/benchmark/property_tasks/{stage}.tsv"
    conda:
        conda_env(RCFG.cfg.trainer.kind)
    script:
        "../scripts/property_tasks.py"


rule property_equilibrium:
    # the oracle relaxes the bulk crystal (cell + positions): its tasks are built there. One cached
    # label (properties_cache/cell), so later stages read it from the cache
    input:
        structures=STRUCTURE_FILES,
    output:
        structure=L.oracle_equilibrium("{stage}", "extxyz"),
        record=L.oracle_equilibrium("{stage}", "json"),
    params:
        config_file=CONFIG_FILE,
        cache_dir="properties_cache",
    threads: RES.label.cores
    resources:
        **RES.label.snakemake_resources(),
    log:
        "logs/property_equilibrium/{stage}.log",
    benchmark:
        "logs/benchmark/property_equilibrium/{stage}.tsv"
    conda:
        ORACLE_ENV
    script:
        "../scripts/property_equilibrium.py"


rule property_label:
    input:
        # the oracle's structures follow from the config and its own equilibrium (cheap mode: the
        # potential's geometries), so these jobs run beside the potential's instead of after them
        tasks=lambda w: [L.property_tasks(w.stage)] if PROPS.cheap else [],
        equilibrium=oracle_equilibrium_files,
        structures=STRUCTURE_FILES,
    output:
        labels=L.property_label_job("{stage}", "{chunk}", "extxyz"),
        record=L.property_label_job("{stage}", "{chunk}", "json"),
    params:
        config_file=CONFIG_FILE,
        cache_dir="properties_cache",
    threads: RES.label.cores
    resources:
        **RES.label.snakemake_resources(),
    log:
        "logs/property_label/{stage}_{chunk}.log",
    benchmark:
        "logs/benchmark/property_label/{stage}_{chunk}.tsv"
    conda:
        ORACLE_ENV
    script:
        "../scripts/property_label.py"


rule md_stability:
    input:
        yace=L.potential("{stage}", "yace"),
        asi=L.potential("{stage}", "asi"),
        # a final fit's gamma bound is calibrated for its basis (shipping/gamma_scale.py)
        scale=lambda w: [L.gamma_scale(w.stage)] if w.stage == L.FINAL_FIT else [],
    output:
        result=L.md_stability("{stage}"),
    params:
        config_file=CONFIG_FILE,
    threads: RES.explore.cores
    resources:
        **RES.explore.snakemake_resources(),
    log:
        "logs/md_stability/{stage}.log",
    benchmark:
        "logs/benchmark/md_stability/{stage}.tsv"
    conda:
        conda_env(RCFG.cfg.trainer.kind)
    script:
        "../scripts/md_stability.py"


rule properties:
    input:
        potential=L.property_potential_frames("{stage}"),
        labels=lambda w: [L.property_label_job(w.stage, k, "extxyz") for k in range(PROPERTY_JOBS)],
        records=lambda w: [L.property_label_job(w.stage, k, "json") for k in range(PROPERTY_JOBS)],
        md=lambda w: [L.md_stability(w.stage)] if MD_STABILITY else [],
        equilibrium=oracle_equilibrium_files,
    output:
        records=L.stage_properties("{stage}"),
        details=L.property_details("{stage}"),
    params:
        config_file=CONFIG_FILE,
    threads: RES.light.cores
    resources:
        **RES.light.snakemake_resources(),
    log:
        "logs/properties/{stage}.log",
    benchmark:
        "logs/benchmark/properties/{stage}.tsv"
    conda:
        "../envs/mlip.yaml"
    script:
        "../scripts/properties.py"


rule final_properties:
    input:
        records=lambda w: L.stage_properties(final_stage()),
    output:
        records=L.FINAL_PROPERTIES,
    params:
        config_file=CONFIG_FILE,
    threads: RES.light.cores
    resources:
        **RES.light.snakemake_resources(),
    log:
        "logs/final_properties/final.log",
    benchmark:
        "logs/benchmark/final_properties/final.tsv"
    conda:
        "../envs/mlip.yaml"
    script:
        "../scripts/final_properties.py"


rule property_offer:
    input:
        yace=lambda w: L.potential(L.potential_stage_for(iteration(w))),
        labels=lambda w: [L.property_label_job(L.potential_stage_for(iteration(w)), k, "extxyz")
                          for k in range(PROPERTY_JOBS)],
        # the training set of that potential: what was offered and selected before is not offered again
        trained=lambda w: [L.labels(s) for s in L.stages_up_to(L.potential_stage_for(iteration(w)))],
    output:
        offer=L.property_offer("{it}"),
    params:
        config_file=CONFIG_FILE,
    threads: RES.refine.cores
    resources:
        **RES.refine.snakemake_resources(),
    log:
        "logs/property_offer/iter_{it}.log",
    benchmark:
        "logs/benchmark/property_offer/iter_{it}.tsv"
    conda:
        conda_env(RCFG.cfg.trainer.kind)
    script:
        "../scripts/property_offer.py"
