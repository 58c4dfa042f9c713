# LABEL: the oracle on every selected structure (initial data and each iteration alike), scattered
# into one job per chunk of `labeling.structures_per_job` structures and gathered per stage.
# Finished calculations are also cached under {stage}/label_cache, so a rerun recomputes none.


rule label:
    input:
        selected=L.selected("{stage}"),
        # the initial labels wait for the label-noise check (later stages wait for them)
        noise=lambda w: [L.LABEL_NOISE] if w.stage == L.INITIAL else [],
    output:
        labels=L.label_job("{stage}", "{chunk}", "extxyz"),
        record=L.label_job("{stage}", "{chunk}", "json"),
    params:
        config_file=CONFIG_FILE,
        cache_dir=lambda w: L.label_cache(w.stage),
        per_job=RCFG.cfg.labeling.structures_per_job,
    threads: RES.label.cores
    resources:
        **RES.label.snakemake_resources(),
    log:
        "logs/label/{stage}_{chunk}.log",
    benchmark:
        "logs/benchmark/label/{stage}_{chunk}.tsv"
    conda:
        ORACLE_ENV
    script:
        "../scripts/label.py"


rule gather_labels:
    input:
        labels=lambda w: [L.label_job(w.stage, k, "extxyz") for k in label_chunks(w.stage)],
        records=lambda w: [L.label_job(w.stage, k, "json") for k in label_chunks(w.stage)],
    output:
        labels=L.labels("{stage}"),
        failed=L.labels_failed("{stage}"),
    params:
        config_file=CONFIG_FILE,
    threads: RES.light.cores
    resources:
        **RES.light.snakemake_resources(),
    log:
        "logs/gather_labels/{stage}.log",
    benchmark:
        "logs/benchmark/gather_labels/{stage}.tsv"
    conda:
        "../envs/mlip.yaml"
    script:
        "../scripts/gather_labels.py"


# Two-level labelling (cheap_oracle): the cheap level labels a whole stage in one job (a universal potential
# loads its model once and labels in batches): the initial set, an iteration's candidates, the held-out set.
rule label_cheap:
    wildcard_constraints:
        cstage=L.CHEAP_STAGE_REGEX,
    input:
        structures=lambda w: L.cheap_input(w.cstage),
    output:
        labels=L.cheap_labels("{cstage}"),
        record=L.cheap_label_record("{cstage}"),
    params:
        config_file=CONFIG_FILE,
        cache_dir=lambda w: L.cheap_label_cache(w.cstage),
    threads: RES.label.cores
    resources:
        **RES.label.snakemake_resources(),
    log:
        "logs/label_cheap/{cstage}.log",
    benchmark:
        "logs/benchmark/label_cheap/{cstage}.tsv"
    conda:
        CHEAP_ORACLE_ENV
    script:
        "../scripts/label_cheap.py"
