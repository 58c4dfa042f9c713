# LABEL: the oracle on every selected structure (initial data and each iteration alike).
# Finished calculations are cached under {stage}/label_cache, so a rerun recomputes none.


rule label:
    input:
        selected="{stage}/selected.xyz",
    output:
        labels="{stage}/labels.extxyz",
        failed="{stage}/labels_failed.json",
    params:
        config_file=CONFIG_FILE,
        cache_dir=lambda w: L.label_cache(w.stage),
    log:
        "logs/label/{stage}.log",
    benchmark:
        "logs/benchmark/label/{stage}.tsv"
    conda:
        "../envs/mlip.yaml"
    script:
        "../scripts/label.py"
