# REFINE: halt structures -> local swarm of candidates -> D-optimal selection.


rule collect_halts:
    input:
        decision=rules.gate.output.decision,
        records=lambda w: [L.explore_record(iteration(w), c) for c in CONDITIONS],
        frames=lambda w: [L.explore_frames(iteration(w), c) for c in CONDITIONS],
    output:
        halt="iter_{it}/halt.xyz",
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
        frames=lambda w: [L.explore_frames(iteration(w), c) for c in CONDITIONS],
        potential=lambda w: f"{L.potential_stage_for(iteration(w))}/potential.yace",
        decision=rules.gate.output.decision,
        samples=lambda w: [L.explore_samples(iteration(w), c) for c in CONDITIONS],
    output:
        candidates="iter_{it}/candidates.xyz",
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
        potential=lambda w: f"{L.potential_stage_for(iteration(w))}/potential.yace",
    output:
        selected="iter_{it}/selected.xyz",
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
