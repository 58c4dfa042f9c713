# The starting data: structures to label, isolated-atom references, an optional held-out set.


# with initial_data.oracle_lattice the oracle's equation of state of the starting crystals comes first
# (a few 1-2-atom calculations): this job then runs with the oracle's resources and environment
rule initial_structures:
    input:
        structures=STRUCTURE_FILES,
    output:
        selected=L.selected(L.INITIAL),
        lattice=L.LATTICE,
    params:
        config_file=CONFIG_FILE,
    threads: INITIAL_RES.cores
    resources:
        **INITIAL_RES.snakemake_resources(),
    log:
        "logs/initial_structures/initial.log",
    benchmark:
        "logs/benchmark/initial_structures/initial.tsv"
    conda:
        ORACLE_ENV if ORACLE_LATTICE else "../envs/mlip.yaml"
    script:
        "../scripts/initial_structures.py"


rule label_noise:
    input:
        selected=L.selected(L.INITIAL),
    output:
        record=L.LABEL_NOISE,
    params:
        config_file=CONFIG_FILE,
        stage_cache=L.label_cache(L.INITIAL),
        noise_dir=L.LABEL_NOISE_DIR,
    threads: NOISE_RES.cores
    resources:
        **NOISE_RES.snakemake_resources(),
    log:
        "logs/label_noise/initial.log",
    benchmark:
        "logs/benchmark/label_noise/initial.tsv"
    conda:
        ORACLE_ENV
    script:
        "../scripts/label_noise.py"


rule reference_energies:
    input:
        structures=STRUCTURE_FILES,
        lattice=L.LATTICE,  # the starting structures' lattice constants
        noise=L.LABEL_NOISE,  # no oracle work before the labels are known to be worth it
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


# two-level labelling (cheap_oracle): the cheap level's isolated atoms (the energy shift between the levels)
rule cheap_reference_energies:
    input:
        structures=STRUCTURE_FILES,
        lattice=L.LATTICE,  # the starting structures' lattice constants
    output:
        energies=L.CHEAP_REFERENCE_ENERGIES,
    params:
        config_file=CONFIG_FILE,
    threads: RES.light.cores
    resources:
        **RES.light.snakemake_resources(),
    log:
        "logs/cheap_reference_energies/initial.log",
    benchmark:
        "logs/benchmark/cheap_reference_energies/initial.tsv"
    conda:
        CHEAP_ORACLE_ENV
    script:
        "../scripts/cheap_reference_energies.py"


rule validation_part:
    input:
        structures=STRUCTURE_FILES,
        lattice=L.LATTICE,  # the starting structures' lattice constants
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
        lattice=L.LATTICE,  # the starting structures' lattice constants
        file=VALIDATION_INPUT,
        parts=[L.validation_part(c) for c in VALIDATION_PARTS],
        noise=L.LABEL_NOISE,
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
