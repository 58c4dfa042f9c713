"""What the status table and the report read from a run directory besides the derived state:
per-stage wall times, exploration records with their gamma traces, oracle times, the learning
curve and the parity data of the last potential. Everything here only reads files, so it works
while a run is going on (every output is renamed into place complete)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import layout as L
from ..core.io import read_structures
from ..loop.state import benchmark_seconds
from ..domain_models.records import ExplorationRecord, FitReport, LabelChunkRecord, TrainRecord, read_record
from ..domain_models.state import WorkflowState

# Per-iteration stage -> the rules whose Snakemake benchmark seconds it sums (state.timings_s keys)
STAGE_RULES = {
    "explore": ("explore:",),
    "refine": ("collect_halts", "candidates", "select"),
    "label": ("label", "gather_labels"),
    "train": ("train",),
}
INITIAL_STAGE_RULES = {
    "setup": (("initial_structures", "initial"), ("reference_energies", "initial"), ("validation_set", "validation"),
              ("validation_part", "*")),
    "label": (("label_noise", "initial"), ("label", "initial_*"), ("gather_labels", "initial")),  # the check is oracle work
    "train": (("train", "initial"),),
}
CONFIG_CANDIDATES = ("config.yaml", "config/config.yaml")


def find_config(workdir: str | Path) -> Path | None:
    """The config a run directory was made with, by the usual layouts (None if not found)."""
    for name in CONFIG_CANDIDATES:
        p = Path(workdir) / name
        if p.is_file():
            return p
    return None


def load_run_config(workdir: str | Path, config: str | Path | None = None):
    """ResolvedConfig of a run (an explicit `config` wins), or None if there is none."""
    from ..domain_models.config import load_config

    path = Path(config) if config else find_config(workdir)
    return load_config(path) if path else None


def stage_times(timings: dict[str, float]) -> dict[str, float | None]:
    """Seconds per stage (summed over its jobs) from an IterationRecord's `timings_s`."""
    out: dict[str, float | None] = {}
    for stage, keys in STAGE_RULES.items():
        vals = [v for k, v in timings.items() if any(k == p or (p.endswith(":") and k.startswith(p)) for p in keys)]
        out[stage] = round(sum(vals), 3) if vals else None
    return out


@dataclass
class InitialTimes:
    """Seconds per stage of the initial data, summed over its jobs (None: no job of it finished)."""

    setup: float | None = None  # structures, reference energies, held-out set
    label: float | None = None  # the label-noise check and the labels
    train: float | None = None


def initial_stage_times(workdir: str | Path) -> InitialTimes:
    """Seconds per stage of the initial data (setup, label, train) from the benchmark files."""
    out: dict[str, float | None] = {}
    for stage, rules in INITIAL_STAGE_RULES.items():
        vals = [s for rule, pat in rules if (s := benchmark_seconds(Path(workdir), rule, pat)) is not None]
        out[stage] = round(sum(vals), 3) if vals else None
    return InitialTimes(**out)


def exploration_records(workdir: str | Path) -> dict[int, dict[str, ExplorationRecord]]:
    """iteration -> condition -> the full exploration record (with `gamma_trace`)."""
    out: dict[int, dict[str, ExplorationRecord]] = {}
    for n in L.list_iterations(workdir):
        recs = {}
        for p in sorted(Path(workdir).glob(L.explore_record(n, "*"))):
            try:
                recs[p.stem] = read_record(ExplorationRecord, p)
            except ValueError:
                continue
        if recs:
            out[n] = recs
    return out


_INFO_FLOAT = r"(?:^|\s){key}=([-+0-9.eEinfa]+)"


def _xyz_comment_lines(path: Path):
    """The comment (second) line of every frame of an XYZ file, without parsing coordinates."""
    with open(path) as fh:
        while True:
            line = fh.readline()
            if not line:
                return
            if not line.strip():
                continue
            natoms = int(line.split()[0])
            comment = fh.readline()
            for _ in range(natoms):
                fh.readline()
            yield comment


def label_times(workdir: str | Path) -> list[dict]:
    """One entry per oracle calculation: {stage, seconds, ok}. Successes carry
    `oracle_wall_time_s` in their info; failures are in the label jobs' records."""
    workdir = Path(workdir)
    pattern = re.compile(_INFO_FLOAT.format(key="oracle_wall_time_s"))
    stages = [L.INITIAL] + [L.iter_dir(n) for n in L.list_iterations(workdir)]
    out = []
    for stage in stages:
        for f in sorted(workdir.glob(L.label_job(stage, "*", "extxyz"))):
            try:
                for comment in _xyz_comment_lines(f):
                    m = pattern.search(comment)
                    if m:
                        out.append({"stage": stage, "seconds": float(m.group(1)), "ok": True})
            except (OSError, ValueError):
                continue
        for f in sorted(workdir.glob(L.label_job(stage, "*", "json"))):
            try:
                for failure in read_record(LabelChunkRecord, f).failures:
                    out.append({"stage": stage, "seconds": float(failure.wall_time_s), "ok": False})
            except (OSError, ValueError):
                continue
    return out


def _train_record(workdir: Path, stage: str) -> TrainRecord | None:
    try:
        return read_record(TrainRecord, workdir / L.train_record(stage))
    except (OSError, ValueError):
        return None


@dataclass
class CurvePoint:
    """One fitted potential on the learning curve (eV/atom, eV/Å)."""

    stage: str
    n_labels: int
    energy_rmse_per_atom: float | None
    force_rmse: float


@dataclass
class LearningCurve:
    kind: str | None = None  # 'validation' (held-out set), 'training' (the fit's own), None (no errors yet)
    points: list[CurvePoint] = field(default_factory=list)


def learning_curve(state: WorkflowState, workdir: str | Path) -> LearningCurve:
    """Points (one per fitted potential) of RMSE vs number of labels.

    `kind` is 'validation' when a held-out set was scored, else 'training' (the fit's own training
    error, from train.json) — the report says which. RMSEs in eV/atom and eV/Å.
    """
    workdir = Path(workdir)
    stages = [L.INITIAL] + [rec.potential_out.split("/")[0] for rec in state.history if rec.potential_out]
    if state.final_fit is not None:
        stages.append(L.FINAL_FIT)
    # per fitted stage: (stage, labels, held-out (E, F) or None, training (E, F)), eV/atom and eV/Å
    points = []
    for stage in stages:
        rec = _train_record(workdir, stage)
        if rec is None:
            continue
        fit = rec.fit or FitReport()
        val = rec.validation
        points.append((stage, rec.n_structures,
                       None if val is None else (val.energy_rmse_per_atom, val.force_rmse),
                       (fit.train_energy_rmse_per_atom, fit.train_force_rmse)))
    has_val = any(val is not None and val[1] is not None for _, _, val, _ in points)
    has_train = any(train[1] is not None for _, _, _, train in points)
    kind = "validation" if has_val else ("training" if has_train else None)
    rows = []
    for stage, n_labels, val, train in points:
        m = val if kind == "validation" else train
        if m is not None and m[1] is not None:
            rows.append(CurvePoint(stage=stage, n_labels=n_labels, energy_rmse_per_atom=m[0], force_rmse=m[1]))
    return LearningCurve(kind=kind, points=rows)


@dataclass
class Predictions:
    """A potential's predictions against the oracle's labels: energies per atom (eV/atom) and force
    components (eV/Å), flat arrays; empty without frames."""

    n: int
    energy_ref: np.ndarray | None = None
    energy_pred: np.ndarray | None = None
    force_ref: np.ndarray | None = None
    force_pred: np.ndarray | None = None


@dataclass
class Parity:
    potential: str | None = None  # None: no potential yet
    held_out: Predictions | None = None
    train: Predictions | None = None


def _predict(calc, frames) -> Predictions:
    e_ref, e_pred, f_ref, f_pred = [], [], [], []
    for ref in frames:
        atoms = ref.copy()
        atoms.calc = calc
        n = len(ref)
        e_ref.append(ref.get_potential_energy() / n)
        e_pred.append(atoms.get_potential_energy() / n)
        f_ref.append(np.asarray(ref.get_forces()).ravel())
        f_pred.append(np.asarray(atoms.get_forces()).ravel())
    if not frames:
        return Predictions(n=0)
    return Predictions(n=len(frames), energy_ref=np.asarray(e_ref), energy_pred=np.asarray(e_pred),
                       force_ref=np.concatenate(f_ref), force_pred=np.concatenate(f_pred))


def parity_data(state: WorkflowState, workdir: str | Path, rcfg, max_train: int = 300, seed: int = 0) -> Parity:
    """Predictions of the run's current potential on the held-out set (if any) and on (up to
    `max_train` of) its training labels. Energies per atom (eV/atom), force components (eV/Å)."""
    from ..components.base import PotentialFiles
    from ..components.registry import make_trainer

    workdir = Path(workdir)
    if not state.current_potential or not (workdir / state.current_potential).is_file():
        return Parity()
    stage = Path(state.current_potential).parent.as_posix()
    calc = make_trainer(rcfg.cfg.trainer).calculator(PotentialFiles.in_dir(workdir / stage))
    # the final fit has no labels of its own: those of the loop's last potential
    label_stage = Path(state.history[-1].potential_in).parent.as_posix() if stage == L.FINAL_FIT else stage
    train = []
    for s in L.stages_up_to(label_stage):
        if (workdir / L.labels(s)).is_file():
            train += read_structures(workdir / L.labels(s))
    if len(train) > max_train:
        idx = np.random.default_rng(seed).choice(len(train), size=max_train, replace=False)
        train = [train[i] for i in sorted(idx)]
    held_out = read_structures(workdir / L.VALIDATION_FILE) if (workdir / L.VALIDATION_FILE).is_file() else []
    return Parity(potential=state.current_potential, held_out=_predict(calc, held_out), train=_predict(calc, train))
