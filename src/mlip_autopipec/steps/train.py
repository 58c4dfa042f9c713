"""TRAIN: fit on all labels so far; score the held-out set; keep the old potential if a fit fails."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..components.base import PotentialFiles
from ..components.registry import make_trainer
from ..components.trainers.design_rows import FILE_NAME as DESIGN_ROWS
from ..core.errors import TrainingError
from ..core.io import copy_file, read_structures, write_json
from ..core.metrics import rmse_metrics
from ..core.seeds import derive_seed
from ..components.trainers.prior_fit import CheapPrior
from ..domain_models.records import (FitReport, RmseMetrics, TrainRecord, TwoLevelFitRecord,
                                     read_reference_energies_file, record_json)
from ..sampling.compositions import composition_check
from .prior_errors import prior_errors_of

log = logging.getLogger(__name__)


def load_dataset(label_files: list[str]) -> list:
    dataset = []
    for f in label_files:
        dataset.extend(read_structures(f))
    return dataset


def copy_potential(src: PotentialFiles, dst: PotentialFiles) -> None:
    for s, d in ((src.yaml, dst.yaml), (src.asi, dst.asi), (src.yace, dst.yace)):
        copy_file(s, d)


def run_train(rcfg, stage: str, label_files: list[str], reference_file: str, out_dir: str,
              previous_dir: str | None, validation_file: str | None, out_record: str,
              final: bool = False, cheap_files: list[str] | None = None,
              cheap_validation_file: str | None = None, cheap_reference_file: str | None = None) -> TrainRecord:
    """`final`: the final fit after the loop (final_fit/): the same labels as the last potential, the
    ladder's final_rungs as candidates too; no prior errors (the previous potential was fitted on
    every one of these labels).

    Two-level labelling (cheap_oracle): `cheap_files` the cheap level's labels so far (the fit's prior),
    `cheap_validation_file` its labels of the held-out set (scored as information, never judged),
    `cheap_reference_file` its isolated-atom energies (the energy shift's fallback)."""
    cfg = rcfg.cfg
    dataset = load_dataset(label_files)
    reference = read_reference_energies_file(reference_file)
    trainer = make_trainer(cfg.final_fit_trainer() if final else cfg.trainer)
    # the previous fit's record is a declared input of the train rule (rules/common.smk fit_files)
    previous = PotentialFiles.fitted(previous_dir) if previous_dir else None
    out = PotentialFiles.in_dir(out_dir)
    t0 = time.perf_counter()
    cheap = load_dataset(cheap_files) if cheap_files else None
    record = TrainRecord(stage=stage, n_structures=len(dataset), trainer=cfg.trainer.kind,
                         composition=composition_check(dataset), n_cheap_structures=None if cheap is None else len(cheap))
    if record.composition.warning:
        log.warning("TRAIN %s: %s", stage, record.composition.warning)
    elif record.composition.note:  # a molecule or compound at its one composition: information only
        log.info("TRAIN %s: %s", stage, record.composition.note)
    if previous is not None and label_files and not final:
        record.prior = prior_errors_of(trainer, previous, label_files[-1], group_of=cfg.kind_of_frame)
    try:
        prior = {} if cheap is None else {"prior": CheapPrior(
            frames=cheap, prior_strength=cfg.two_level.fit.prior_strength,
            isolated=read_reference_energies_file(cheap_reference_file) if cheap_reference_file else None)}
        metrics = trainer.fit(dataset, Path(out_dir), reference, previous, derive_seed(cfg.seed, "train", stage), **prior)
        two_level = metrics.pop("two_level", None)
        record.fit = FitReport.model_validate(metrics)
        record.two_level = None if two_level is None else TwoLevelFitRecord.model_validate(two_level)
    except TrainingError as exc:
        if previous is None:
            raise
        log.error("TRAIN %s: fit failed (%s); keeping the previous potential %s", stage, exc, previous_dir)
        copy_potential(previous, out)
        rows = Path(previous_dir) / DESIGN_ROWS  # a declared output of linear ACE's train rule
        if rows.is_file() and not (Path(out_dir) / DESIGN_ROWS).is_file():
            copy_file(rows, Path(out_dir) / DESIGN_ROWS)
        record.kept_previous, record.error = True, str(exc)
    record.wall_time_s = round(time.perf_counter() - t0, 3)
    if validation_file:
        frames = read_structures(validation_file)
        record.validation = RmseMetrics(**rmse_metrics(trainer.calculator(out), frames, group_by="kind"))
    if cheap_validation_file:
        frames = read_structures(cheap_validation_file)
        if frames:
            record.validation_cheap = RmseMetrics(**rmse_metrics(trainer.calculator(out), frames, group_by="kind"))
    write_json(out_record, record_json(record, drop_none=True))
    val = record.validation
    log.info("TRAIN %s: %d structures, %.1f s%s", stage, len(dataset), record.wall_time_s,
             "" if not val or val.force_rmse is None else
             (f", validation E {1000 * val.energy_rmse_per_atom:.2f} meV/atom" if val.energy_rmse_per_atom is not None
              else ", validation E n/a (no energy labels)") + f", F {1000 * val.force_rmse:.1f} meV/Å")
    for kind, m in ((val.by_kind or {}) if val else {}).items():
        e = "n/a" if m.energy_rmse_per_atom is None else f"{1000 * m.energy_rmse_per_atom:.2f}"
        f = "n/a" if m.force_rmse is None else f"{1000 * m.force_rmse:.1f}"
        log.info("TRAIN %s: held-out %-16s E %s meV/atom, F %s meV/Å (%d frames)", stage, kind, e, f, m.n_structures)
    return record
