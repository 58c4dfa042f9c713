"""Universal (foundation) potentials as the oracle: CHGNet today, SevenNet / MACE / GRACE by a subclass.

Why a family of its own: a universal potential is cheap per structure but dear to start (importing
PyTorch and loading the weights cost seconds, the first forward pass more), so the model is loaded
once per oracle object (= once per label job) and structures are labelled in batches
(`label_batch`) rather than one ASE calculator call each. Everything the backends share lives
here; a backend fills in four hooks:

* `load_model()`      the model, on `self.cfg.device`;
* `package()`         the distribution whose version goes into every label (`importlib.metadata`);
* `predict(frames)`   one batched forward pass → per structure (total energy eV, forces eV/Å,
                      stress eV/Å³ in ASE's convention, Voigt order, or None without stress);
* `ase_calculator()`  a live ASE calculator sharing the loaded model (oracle-driven MD of the
                      generated validation set).

Units: the project's labels are ASE's (total energy in eV, forces in eV/Å, stress in eV/Å³, positive
= tensile); a backend converts from its model's own units in `predict`.
"""

from __future__ import annotations

import logging
import time
from importlib import metadata
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from ...core.errors import OracleError, UserError
from ...domain_models.oracle_config import UniversalOracleBase
from .base import classify
from .common import check_results, has_stress, isolated_atom, labelled_copy

log = logging.getLogger(__name__)

Prediction = tuple[float, np.ndarray, "np.ndarray | None"]


def raised_in_model(exc: BaseException, package: str) -> bool:
    """Whether the innermost frame of `exc`'s traceback lies in the model's package or the libraries
    it runs on (torch, pymatgen), not in this project's code."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    path = frames[-1].filename.replace("\\", "/")
    return any(f"/{name}/" in path for name in (package, "torch", "pymatgen"))


class UniversalOracle:
    """Base of the universal-potential oracles (see the module docstring for the hooks)."""

    name = "universal"
    max_atomic_number = 118  # a backend narrows it to the elements its model was trained on

    def __init__(self, cfg: UniversalOracleBase, cores: int = 1):
        self.cfg = cfg
        self.cores = max(1, int(cores))
        self._model = None

    # -- hooks -------------------------------------------------------------------------------------
    def package(self) -> str:
        raise NotImplementedError

    def load_model(self):
        raise NotImplementedError

    def predict(self, frames: Sequence[Atoms], need_stress: Sequence[bool]) -> list[Prediction]:
        raise NotImplementedError

    def ase_calculator(self):
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------------
    @property
    def model(self):
        """The model, loaded on first use (a preflight or an element check never pays for it)."""
        if self._model is None:
            self._set_threads()
            t0 = time.perf_counter()
            try:
                self._model = self.load_model()
            except ImportError as exc:
                raise UserError(f"oracle.kind={self.cfg.kind}: cannot import {self.package()} ({exc}); install it "
                                f"with tools/install_universal.sh <venv>/bin/pip") from None
            log.info("%s: model %s loaded in %.1f s (%s, %d thread(s))", self.name, self.model_name(),
                     time.perf_counter() - t0, self.cfg.device, self.cores)
        return self._model

    def prepare(self) -> None:
        """Load the model now (the label step calls it before forking children for `timeout_s`)."""
        _ = self.model

    def _set_threads(self) -> None:
        try:
            import torch
        except ImportError:
            return
        torch.set_num_threads(self.cores)

    def model_name(self) -> str:
        return str(getattr(self.cfg, "model", ""))

    def version(self) -> str:
        try:
            return metadata.version(self.package())
        except metadata.PackageNotFoundError:
            raise UserError(f"oracle.kind={self.cfg.kind}: the package {self.package()} is not installed; install "
                            f"it with tools/install_universal.sh <venv>/bin/pip") from None

    def settings(self, atoms: Atoms | None = None) -> dict:
        """What determines a label (its record and the label cache key): the model and the package
        version. Device, threads and batch size change only the last bits, not the label."""
        return {"kind": self.cfg.kind, "model": self.model_name(), "version": self.version()}

    def check_setup(self) -> None:
        """Before any work (preflight): the package is installed (no import: that costs seconds)."""
        self.version()

    def calculator(self):
        """A live calculator on the loaded model (oracle-driven MD of a generated validation set)."""
        return self.ase_calculator()

    def check_elements(self, symbols: Sequence[str]) -> None:
        beyond = sorted({s for s in symbols if atomic_numbers[s] > self.max_atomic_number},
                        key=lambda s: atomic_numbers[s])
        if beyond:
            raise UserError(f"oracle.kind={self.cfg.kind}: the model knows elements up to Z = "
                            f"{self.max_atomic_number}, not {', '.join(beyond)}; choose another oracle")

    def isolated_atom_energy(self, symbol: str) -> float:
        """The model's energy of one atom with no neighbour within its cutoff: the reference the fit
        subtracts, consistent with the labels (same model)."""
        atoms = isolated_atom(symbol, self.cfg.isolated_atom_box)
        atoms.pbc = True  # graph models want a cell; the box is wider than any cutoff
        energy, _, _ = self._predict_checked([atoms], [False])[0]
        return float(energy)

    def label(self, atoms: Atoms) -> Atoms:
        out = self.label_batch([atoms])[0]
        if isinstance(out, OracleError):
            raise out
        return out

    def batches(self, frames: Sequence[Atoms]) -> list[list[int]]:
        """Indices of `frames` grouped in order, each group at most `max_batch_atoms` atoms (a larger
        structure alone)."""
        groups: list[list[int]] = []
        n_atoms = 0
        for i, atoms in enumerate(frames):
            if groups and n_atoms + len(atoms) <= self.cfg.max_batch_atoms:
                groups[-1].append(i)
                n_atoms += len(atoms)
            else:
                groups.append([i])
                n_atoms = len(atoms)
        return groups

    def label_batch(self, frames: Sequence[Atoms]) -> list[Atoms | OracleError]:
        """Label `frames`, batch by batch; per structure a labelled copy or the OracleError that
        stopped it. A batch that fails is retried structure by structure, so one bad structure
        fails alone. `oracle_wall_time_s` of each label is its share of its batch's time."""
        out: list[Atoms | OracleError] = [None] * len(frames)  # type: ignore[list-item]
        for group in self.batches(frames):
            members = [frames[i] for i in group]
            t0 = time.perf_counter()
            try:
                results = self._predict_checked(members, [self._stress_for(a) for a in members])
            except OracleError as exc:
                if len(group) == 1:
                    out[group[0]] = exc
                    continue
                for i in group:
                    out[i] = self._label_or_error(frames[i])
                continue
            share = (time.perf_counter() - t0) / len(group)
            for i, atoms, (energy, forces, stress) in zip(group, members, results):
                out[i] = self._labelled(atoms, energy, forces, stress, share)
        return out

    def _label_or_error(self, atoms: Atoms) -> Atoms | OracleError:
        t0 = time.perf_counter()
        try:
            energy, forces, stress = self._predict_checked([atoms], [self._stress_for(atoms)])[0]
        except OracleError as exc:
            return exc
        return self._labelled(atoms, energy, forces, stress, time.perf_counter() - t0)

    def _stress_for(self, atoms: Atoms) -> bool:
        return self.cfg.need_stress and has_stress(atoms)

    def _predict_checked(self, frames: Sequence[Atoms], need_stress: Sequence[bool]) -> list[Prediction]:
        model_name = f"{self.name} {self.model_name()}"
        try:
            results = self.predict(frames, need_stress)
        except (OracleError, UserError):
            raise
        except Exception as exc:  # noqa: BLE001 - classified below
            # the failure rule of oracles/base.py: the model's own code failing on a structure (no
            # neighbours, a bad cell, ...) is a failed calculation, recorded and skipped; an exception
            # raised in our own hooks is a bug and stops the job with its traceback
            if classify(exc, model_name) is None and not raised_in_model(exc, self.package()):
                raise
            raise OracleError(f"{model_name} failed: {type(exc).__name__}: {exc}") from exc
        if len(results) != len(frames):
            raise OracleError(f"{model_name} returned {len(results)} results for {len(frames)} structures")
        for atoms, (energy, forces, stress), want in zip(frames, results, need_stress):
            check_results(atoms, energy, np.asarray(forces, dtype=float), stress, model_name)
            if want and stress is None:
                raise OracleError(f"{model_name} returned no stress tensor")
        return results

    def _labelled(self, atoms: Atoms, energy, forces, stress, wall: float) -> Atoms:
        out = labelled_copy(atoms, float(energy), forces, stress if self._stress_for(atoms) else None,
                            self.name, wall, self.settings(atoms))
        return out
