"""One module per pipeline step. Each takes a resolved config and file paths and writes its
outputs atomically; the Snakemake scripts only unpack `snakemake.input/output` and call these."""
