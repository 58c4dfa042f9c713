"""Build components from their config sections.

Imports are lazy so that a mock run never pays for importing pyace or TensorFlow.
"""

from __future__ import annotations

from ..domain_models.config import ExplorationConfig


ORACLE_CLASSES = {  # kind: (module under components/oracles, class); imported when used
    "mock": ("mock", "MockOracle"),
    "emt": ("emt", "EMTOracle"),
    "chgnet": ("chgnet", "ChgnetOracle"),  # UniversalOracle backends: in-process, batched
    "gpaw": ("gpaw", "GPAWOracle"),
    "espresso": ("espresso", "EspressoOracle"),
    "cp2k": ("cp2k", "CP2KOracle"),
    "vasp": ("vasp", "VaspOracle"),
    "ase": ("ase_calculator", "AseCalculatorOracle"),
}


def oracle_class(kind: str):
    import importlib

    if kind not in ORACLE_CLASSES:
        raise ValueError(f"unknown oracle kind {kind!r}")
    module, cls = ORACLE_CLASSES[kind]
    return getattr(importlib.import_module(f".oracles.{module}", __package__), cls)


def make_oracle(cfg, cores: int = 1, scratch_root=None):
    """`cores` is the job's core count: oracles that launch MPI take their rank count from it.
    `scratch_root` overrides where DFT oracles put their per-structure run directories."""
    from .oracles.external import ExternalOracle
    from .oracles.universal import UniversalOracle

    cls = oracle_class(cfg.kind)
    if issubclass(cls, ExternalOracle):
        return cls(cfg, cores=cores, scratch_root=scratch_root)
    if issubclass(cls, UniversalOracle):
        return cls(cfg, cores=cores)
    return cls(cfg)


def measures_label_noise(cfg) -> bool:
    """Whether the label-noise check computes anything for this config: it is enabled and the oracle
    has tighter settings (the `tighter` hook). Known when the DAG is built, so the check's job asks
    for label resources only when it labels."""
    return bool(cfg.label_noise.enabled) and hasattr(oracle_class(cfg.oracle.kind), "tighter")


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
