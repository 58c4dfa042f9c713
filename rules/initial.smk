# The starting data: structures to label, isolated-atom references, an optional held-out set.


rule initial_structures:
    input:
        structures=STRUCTURE_FILES,
    output:
        selected=L.selected(L.INITIAL),
    params:
        config_file=CONFIG_FILE,
    threads: RES.light.cores
    resources:
        **RES.light.snakemake_resources(),
    log:
        "logs/initial_structures/initial.log",
    benchmark:
        "logs/benchmark/initial_structures/initial.tsv"
    conda:
        "../envs/mlip.yaml"
    script:
        "../scripts/initial_structures.py"


rule reference_energies:
    input:
        structures=STRUCTURE_FILES,
    output:
        energies=L.REFERENCE_ENERGIES,
    params:
        config_file=CONFIG_FILE,
    threads: RES.light.cores
    resources:
        **RES.light.snakemake_resources(),
    log:
        "logs/reference_energies/initial.log",
    benchmark:
        "logs/benchmark/reference_energies/initial.tsv"
    conda:
        ORACLE_ENV
    script:
        "../scripts/reference_energies.py"


rule validation_part:
    input:
        structures=STRUCTURE_FILES,
    output:
        frames=L.validation_part("{cond}"),
    params:
        config_file=CONFIG_FILE,
    threads: RES.refine.cores
    resources:
        **RES.refine.snakemake_resources(),
    log:
        "logs/validation_part/{cond}.log",
    benchmark:
        "logs/benchmark/validation_part/{cond}.tsv"
    conda:
        ORACLE_ENV
    script:
        "../scripts/validation_part.py"


rule validation_set:
    input:
        structures=STRUCTURE_FILES,
        file=VALIDATION_INPUT,
        parts=[L.validation_part(c) for c in VALIDATION_PARTS],
    output:
        frames=L.VALIDATION_FILE,
    params:
        config_file=CONFIG_FILE,
    threads: RES.refine.cores
    resources:
        **RES.refine.snakemake_resources(),
    log:
        "logs/validation_set/validation.log",
    benchmark:
        "logs/benchmark/validation_set/validation.tsv"
    conda:
        ORACLE_ENV
    script:
        "../scripts/validation_set.py"
