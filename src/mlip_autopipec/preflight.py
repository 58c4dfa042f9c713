"""Checks that run before any work: every input a user gave is readable and usable.

Called by `mlip-runner run` before Snakemake starts and by the Snakefile when it loads the config,
so a mistake (unreadable structure, element the oracle cannot do, missing program or file) is one
line naming the config file and the field, and no output is touched.
"""

from __future__ import annotations

from .components.registry import make_oracle
from .core.errors import UserError
from .core.io import read_structures
from .sampling.system_checks import check_structures_against_config


def preflight(rcfg) -> None:
    from .steps.initial import elements_of, starting_structures

    cfg = rcfg.cfg
    try:
        structures = starting_structures(rcfg, lattice=None)  # ASE's values: no oracle work before the run
        oracle = make_oracle(cfg.oracle)
        oracle.check_elements(elements_of(structures))
        if cfg.cheap_oracle is not None:  # two-level labelling: the cheap level labels the same structures
            try:
                make_oracle(cfg.cheap_oracle).check_elements(elements_of(structures))
            except UserError as exc:
                raise UserError(f"cheap_oracle: {exc}") from None
        check_structures_against_config(cfg, structures)
        check_setup = getattr(oracle, "check_setup", None)
        if check_setup is not None:
            check_setup()
        if cfg.dynamics.kind == "lammps_mlpace":
            from .components.dynamics.lammps_mlpace import check_command

            check_command(cfg.dynamics)
        if cfg.trainer.kind == "pacemaker":  # its own environment; checked without importing pyace
            from .components.trainers.pacemaker_env import pacemaker_python

            pacemaker_python(cfg.trainer.python)
        if cfg.validation.file:
            path = rcfg.resolve(cfg.validation.file)
            try:
                frames = read_structures(path, allow_empty=False)
            except UserError as exc:
                raise UserError(f"validation.file: {exc}") from None
            if any(f.calc is None for f in frames):
                raise UserError(f"validation.file: {path} has frames without energies and forces; "
                                f"give labelled extended XYZ")
    except UserError as exc:
        raise type(exc)(f"{rcfg.path}: {exc}") from None
