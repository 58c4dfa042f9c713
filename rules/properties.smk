# PROPERTIES: the potential proven by physical properties, each computed with the potential and with
# the oracle on identical structures (EOS, elastic constants, vacancy, surfaces, phonons) plus an MD
# stability run. The oracle's share runs as label-like jobs, cached per structure in
# properties_cache/ (shared by all stages), resumable, failures recorded.
# Final potential -> final/properties.json; with properties.every: N, also iterations 0, N, 2N, ...

include: "properties_inputs.smk"


rule property_tasks:
    input:
        yace="{stage}/potential.yace",
        asi="{stage}/potential.asi",
    output:
        tasks="{stage}/properties/tasks.extxyz",
        potential="{stage}/properties/potential.extxyz",
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


rule property_label:
    input:
        # the oracle's structures follow from the config alone (cheap mode: the potential's geometries),
        # so these jobs run beside the potential's instead of after them
        tasks=lambda w: [f"{w.stage}/properties/tasks.extxyz"] if PROPS.cheap else [],
        structures=STRUCTURE_FILES,
    output:
        labels="{stage}/properties/oracle_jobs/{chunk}.extxyz",
        record="{stage}/properties/oracle_jobs/{chunk}.json",
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
        yace="{stage}/potential.yace",
        asi="{stage}/potential.asi",
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
        potential="{stage}/properties/potential.extxyz",
        labels=lambda w: [f"{w.stage}/properties/oracle_jobs/{k}.extxyz" for k in range(PROPERTY_JOBS)],
        records=lambda w: [f"{w.stage}/properties/oracle_jobs/{k}.json" for k in range(PROPERTY_JOBS)],
        md=lambda w: [L.md_stability(w.stage)] if MD_STABILITY else [],
    output:
        records=L.stage_properties("{stage}"),
        details="{stage}/properties/details.json",
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
        records=FINAL_FILE,
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
        yace=lambda w: f"{L.potential_stage_for(iteration(w))}/potential.yace",
        labels=lambda w: [f"{L.potential_stage_for(iteration(w))}/properties/oracle_jobs/{k}.extxyz"
                          for k in range(PROPERTY_JOBS)],
        # the training set of that potential: what was offered and selected before is not offered again
        trained=lambda w: [L.labels(s) for s in L.stages_up_to(L.potential_stage_for(iteration(w)))],
    output:
        offer="iter_{it}/property_offer.xyz",
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
