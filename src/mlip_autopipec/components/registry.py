"""Build components from their config sections.

Imports are lazy so that a mock run never pays for importing pyace or TensorFlow.
"""

from __future__ import annotations

from ..domain_models.config import ExplorationConfig


def make_oracle(cfg, cores: int = 1, scratch_root=None):
    """`cores` is the job's core count: oracles that launch MPI take their rank count from it.
    `scratch_root` overrides where DFT oracles put their per-structure run directories."""
    if cfg.kind == "mock":
        from .oracles.mock import MockOracle

        return MockOracle(cfg)
    if cfg.kind == "emt":
        from .oracles.emt import EMTOracle

        return EMTOracle(cfg)
    universal = {"chgnet": ("chgnet", "ChgnetOracle")}  # UniversalOracle backends: in-process, batched
    if cfg.kind in universal:
        import importlib

        module, cls = universal[cfg.kind]
        return getattr(importlib.import_module(f".oracles.{module}", __package__), cls)(cfg, cores=cores)
    external = {
        "gpaw": ("gpaw", "GPAWOracle"),
        "espresso": ("espresso", "EspressoOracle"),
        "cp2k": ("cp2k", "CP2KOracle"),
        "vasp": ("vasp", "VaspOracle"),
        "ase": ("ase_calculator", "AseCalculatorOracle"),
    }
    if cfg.kind in external:
        import importlib

        module, cls = external[cfg.kind]
        oracle_cls = getattr(importlib.import_module(f".oracles.{module}", __package__), cls)
        return oracle_cls(cfg, cores=cores, scratch_root=scratch_root)
    raise ValueError(f"unknown oracle kind {cfg.kind!r}")


def make_trainer(cfg):
    if cfg.kind == "mock":
        from .trainers.mock import MockTrainer

        return MockTrainer(cfg)
    if cfg.kind == "linear_ace":
        from .trainers.linear_ace import LinearAceTrainer

        return LinearAceTrainer(cfg)
    if cfg.kind == "pacemaker":
        from .trainers.pacemaker import PacemakerTrainer

        return PacemakerTrainer(cfg)
    raise ValueError(f"unknown trainer kind {cfg.kind!r}")


def make_dynamics(cfg, exploration: ExplorationConfig, cores: int = 1, work_dir=None):
    """`cores`: the explore job's cores (the `{cores}` of lammps_mlpace's command); `work_dir`: where
    the LAMMPS backends put their files (lammps: its log; lammps_mlpace: inputs, log and dump),
    None = a temporary directory."""
    if cfg.kind == "mock":
        from .dynamics.mock import MockDynamics

        return MockDynamics(cfg, exploration)
    if cfg.kind == "ase_md":
        from .dynamics.ase_md import AseMD

        return AseMD(cfg, exploration)
    if cfg.kind == "lammps":
        from .dynamics.lammps import LammpsMD

        return LammpsMD(cfg, exploration, work_dir=work_dir)
    if cfg.kind == "lammps_mlpace":
        from .dynamics.lammps_mlpace import LammpsMLPace

        return LammpsMLPace(cfg, exploration, cores=cores, work_dir=work_dir)
    raise ValueError(f"unknown dynamics kind {cfg.kind!r}")


def make_selector(cfg):
    if cfg.kind == "mock":
        from .selectors.mock import MockSelector

        return MockSelector(cfg)
    if cfg.kind == "random":
        from .selectors.random_selector import RandomSelector

        return RandomSelector(cfg)
    if cfg.kind == "maxvol":
        from .selectors.maxvol import MaxVolSelector

        return MaxVolSelector(cfg)
    raise ValueError(f"unknown selector kind {cfg.kind!r}")
