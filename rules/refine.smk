# REFINE: halt structures -> local swarm of candidates -> D-optimal selection.


rule collect_halts:
    input:
        decision=rules.gate.output.decision,
        records=explore_records,
        frames=explore_frames,
    output:
        halt=L.halt("{it}"),
    params:
        config_file=CONFIG_FILE,
    threads: RES.light.cores
    resources:
        **RES.light.snakemake_resources(),
    log:
        "logs/collect_halts/iter_{it}.log",
    benchmark:
        "logs/benchmark/collect_halts/iter_{it}.tsv"
    conda:
        "../envs/mlip.yaml"
    script:
        "../scripts/collect_halts.py"


rule candidates:
    input:
        halt=rules.collect_halts.output.halt,
        frames=explore_frames,
        potential=exploring_potential,
        offer=lambda w: property_offer_files(iteration(w)),
        decision=rules.gate.output.decision,
        samples=lambda w: [L.explore_samples(iteration(w), c) for c in CONDITIONS],
    output:
        candidates=L.candidates("{it}"),
    params:
        config_file=CONFIG_FILE,
    threads: RES.refine.cores
    resources:
        **RES.refine.snakemake_resources(),
    log:
        "logs/candidates/iter_{it}.log",
    benchmark:
        "logs/benchmark/candidates/iter_{it}.tsv"
    conda:
        "../envs/mlip.yaml"
    script:
        "../scripts/candidates.py"


rule select:
    input:
        candidates=rules.candidates.output.candidates,
        potential=exploring_potential,
        cheap=lambda w: [L.cheap_labels(L.iter_dir(w.it))] if DISAGREEMENT else [],
        train_record=lambda w: [L.train_record(L.potential_stage_for(iteration(w)))] if DISAGREEMENT else [],
    output:
        selected=L.selected(L.iter_dir("{it}")),
    params:
        config_file=CONFIG_FILE,
    threads: RES.refine.cores
    resources:
        **RES.refine.snakemake_resources(),
    log:
        "logs/select/iter_{it}.log",
    benchmark:
        "logs/benchmark/select/iter_{it}.tsv"
    conda:
        "../envs/mlip.yaml"
    script:
        "../scripts/select.py"
