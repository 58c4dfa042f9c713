"""mlip-autopipec: on-the-fly active learning of ACE potentials with Snakemake."""

__version__ = "0.1.0"
