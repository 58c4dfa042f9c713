"""Exploration with a LAMMPS that has ML-PACE (`pair_style pace/extrapolation`), run as a program.

For clusters whose LAMMPS was built with ML-PACE. The run is a template-execute-parse cycle in a
working directory:

1. write `start.data` (velocities from the same seeded stream as the other backends), copies of
   the potential's B-basis `potential.yaml` and active set `potential.asi`, and `in.lammps`;
2. run `<command> -in in.lammps -log log.lammps` (`command` from the config, `{cores}` filled in);
3. parse `log.lammps` (thermo rows: the gamma trace; "Fix halt condition ... met on step N": the
   halt), `extrapolative.dump` (every checked frame above gamma_select, read back with the right
   species and rotated back to the caller's orientation) and `last_check.<step>.dump` (the last two
   checked snapshots, for the explosion guard).

The input follows the ML-PACE documentation: `fix pace_gamma all pair N pace/extrapolation gamma 1`
computes gamma every N = gamma_check_interval steps, `compute max_pace_gamma all reduce max
f_pace_gamma` reduces it, a dump skips frames with max gamma <= gamma_select, and `fix
extreme_extrapolation all halt N v_max_pace_gamma > gamma_halt error soft` stops the run. Semantics
match the other backends: checks at step 0, every N steps and at the last step (when the budget is
not a multiple of N a short second stage re-creates the gamma fixes with N = the remainder, because
LAMMPS only evaluates f_pace_gamma on multiples of N); the halt frame is the last frame. A run that
blows up (LAMMPS stops with lost atoms / non-numeric coordinates, or a dumped frame has atoms
closer than MIN_DISTANCE) is a halt with max_gamma = inf whose last frame is the last sane checked
snapshot, as in `ase_md`.

A failed run keeps its directory, renamed `failed-*`, and the error names it.
"""

from __future__ import annotations

import logging
import math
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from ...core.errors import UserError
from ...domain_models.config import ExplorationCondition, ExplorationConfig
from ...domain_models.dynamics_config import LammpsMLPaceConfig
from ..base import ExplorationOutcome, PotentialFiles
from .common import GammaWatch, is_unphysical, log_outcome, prepare_atoms
from .lammps_common import (
    LammpsError,
    LammpsFrame,
    frame_for,
    integrator_commands,
    lammps_subprocess_env,
    read_dump_frames,
    write_data_file,
)

log = logging.getLogger(__name__)

INPUT = "in.lammps"
LOG = "log.lammps"
DATA = "start.data"
DUMP = "extrapolative.dump"
LAST_CHECK = "last_check.*.dump"
GAMMA_COLUMN = "f_pace_gamma"
THERMO_GAMMA = "c_max_pace_gamma"
DONE_MARK = "MLIP_AUTOPIPEC_DONE"
_HALT_LINE = re.compile(r"Fix halt condition for fix-id (\S+) met on step (\d+) with value (\S+)")
_ERROR_LINE = re.compile(r"^ERROR( on proc \d+)?: (.*)$", re.MULTILINE)
_EXPLOSION = re.compile(r"lost atoms|out of range atoms|non-numeric|\bnan\b|\binf\b|too many neighbor",
                        re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------
def _gamma_block(every: int, exploration: ExplorationConfig, species: list[str], append: bool) -> list[str]:
    """Gamma every `every` steps, the dump of frames above gamma_select, the last-check dump and the
    halt above gamma_halt."""
    elements = " ".join(species)
    return [
        f"fix pace_gamma all pair {every} pace/extrapolation gamma 1",
        "compute max_pace_gamma all reduce max f_pace_gamma",
        "variable max_pace_gamma equal c_max_pace_gamma",
        f'variable dump_skip equal "c_max_pace_gamma <= {exploration.gamma_select:.17g}"',
        f"dump pace_dump all custom {every} {DUMP} id type element x y z f_pace_gamma",
        f"dump_modify pace_dump skip v_dump_skip element {elements} sort id format float %20.15g"
        + (" append yes" if append else ""),
        f"dump last_check all custom {every} {LAST_CHECK} id type element x y z f_pace_gamma",
        f"dump_modify last_check maxfiles 2 element {elements} sort id format float %20.15g",
        f"fix extreme_extrapolation all halt {every} v_max_pace_gamma > {exploration.gamma_halt:.17g} error soft",
        "thermo_style custom step temp pe press vol c_max_pace_gamma",
        "thermo_modify flush yes format float %20.15g",
        f"thermo {every}",
    ]


_UNDO_GAMMA = ["unfix extreme_extrapolation", "undump pace_dump", "undump last_check",
               "uncompute max_pace_gamma", "unfix pace_gamma"]


def input_script(frame: LammpsFrame, cfg: LammpsMLPaceConfig, exploration: ExplorationConfig,
                 condition: ExplorationCondition, n_steps: int, seed: int) -> str:
    """The LAMMPS input for one exploration (files it names: start.data, potential.yaml/.asi).

    Checks are due at multiples of N = gamma_check_interval and at the last step. f_pace_gamma only
    exists on multiples of its period, so a budget that is not a multiple of N ends with a tail: the
    remaining steps but one without gamma, then one step with gamma every step (its set-up also
    computes gamma one step early; the parser ignores steps off the schedule).
    """
    every = exploration.gamma_check_interval
    main, rest = (n_steps // every) * every, n_steps % every
    lines = [
        f"# mlip-autopipec exploration '{condition.name}': T = {condition.temperature:g} K, "
        + ("NVT" if condition.pressure is None else f"NPT at {condition.pressure:g} GPa")
        + f", {n_steps} steps, gamma every {every} steps",
        "units metal", "atom_style atomic", "boundary p p p", f"read_data {DATA}", "",
        "pair_style pace/extrapolation",
        f"pair_coeff * * potential.yaml potential.asi {' '.join(frame.species)}", "",
        *integrator_commands(cfg, condition, seed), "",
        *_gamma_block(every, exploration, frame.species, append=False),
        f"run {main}",
    ]
    if rest:  # after a halt these runs do nothing (fix halt ... error soft)
        lines += ["", "# tail: the budget is not a multiple of the check interval", *_UNDO_GAMMA,
                  "thermo_style custom step temp pe press vol", f"thermo {rest}"]
        if rest > 1:
            lines.append(f"run {rest - 1}")
        lines += [*_gamma_block(1, exploration, frame.species, append=True), "run 1"]
    lines += ["", f'print "{DONE_MARK} step $(step)"', ""]
    return "\n".join(lines)


def write_inputs(directory: Path, atoms: Atoms, frame: LammpsFrame, potential: PotentialFiles,
                 cfg: LammpsMLPaceConfig, exploration: ExplorationConfig, condition: ExplorationCondition,
                 n_steps: int, seed: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for src, name in ((potential.yaml, "potential.yaml"), (potential.asi, "potential.asi")):
        if not Path(src).is_file():
            raise FileNotFoundError(f"{src}: potential file missing (lammps_mlpace needs the .yaml and the .asi)")
        shutil.copyfile(src, directory / name)
    write_data_file(directory / DATA, atoms, frame, velocities=True)
    (directory / INPUT).write_text(input_script(frame, cfg, exploration, condition, n_steps, seed))


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------
@dataclass
class LogSummary:
    """What `log.lammps` says: the gamma trace (thermo rows, first row per step kept), the halt
    (step, value) if fix halt fired, the first ERROR message, and whether the input ran to its end."""

    trace: list[tuple[int, float]] = field(default_factory=list)
    halt: tuple[int, float] | None = None
    error: str | None = None
    completed: bool = False


def parse_log(path: str | Path) -> LogSummary:
    """Parse a LAMMPS log written by `input_script` (robust to WARNING lines inside thermo blocks)."""
    text = Path(path).read_text(errors="replace") if Path(path).is_file() else ""
    out = LogSummary()
    seen: set[int] = set()
    columns: list[str] | None = None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "Step" and THERMO_GAMMA in words:
            columns = words
            continue
        if columns is not None:
            if line.startswith("Loop time"):
                columns = None
                continue
            if len(words) == len(columns) and re.fullmatch(r"-?\d+", words[0]):
                step = int(words[0])
                if step not in seen:
                    seen.add(step)
                    out.trace.append((step, float(words[columns.index(THERMO_GAMMA)])))
            continue
        m = _HALT_LINE.search(line)
        if m and m.group(1) == "extreme_extrapolation" and out.halt is None:
            out.halt = (int(m.group(2)), float(m.group(3)))
    m = _ERROR_LINE.search(text)
    if m:
        out.error = m.group(2).strip()
    out.completed = any(line.startswith(DONE_MARK) for line in text.splitlines())
    return out


def _last_sane_check(directory: Path, frame: LammpsFrame, before: int | None = None) -> Atoms | None:
    """The newest `last_check.<step>.dump` snapshot that is physically sane (optionally < step)."""
    candidates = []
    for p in directory.glob(LAST_CHECK):
        m = re.fullmatch(r"last_check\.(\d+)\.dump", p.name)
        if m and (before is None or int(m.group(1)) < before):
            candidates.append((int(m.group(1)), p))
    for _step, p in sorted(candidates, reverse=True):
        snaps = read_dump_frames(p, frame, GAMMA_COLUMN)
        if snaps and np.isfinite(snaps[-1].positions).all() and not is_unphysical(snaps[-1]):
            return snaps[-1]
    return None


def _set_last_sane(watch: GammaWatch, snap: Atoms | None) -> None:
    """Make `snap` (a last-check dump snapshot) the watch's last sane frame; reuse the kept frame of
    the same step, so an explosion does not append a duplicate of it. Without a snapshot the last
    kept frame stays the fallback (possibly older than the last check)."""
    if snap is None:
        return
    if watch.frames and watch.frames[-1].info["step"] == snap.info["step"]:
        watch.last_sane = watch.frames[-1]
    else:
        watch.last_sane = watch._snapshot(snap, snap.info["step"], float(snap.arrays["gamma"].max()),
                                          snap.arrays["gamma"])


def parse_run(directory: str | Path, frame: LammpsFrame, exploration: ExplorationConfig,
              condition: ExplorationCondition, n_steps: int, returncode: int = 0) -> ExplorationOutcome:
    """Outcome of a finished (or failed) run in `directory`; raises LammpsError if LAMMPS failed for
    a reason other than an exploding trajectory."""
    directory = Path(directory)
    summary = parse_log(directory / LOG)
    exploded = False
    if returncode != 0 or summary.error is not None or not summary.completed:
        reason = summary.error or f"exit code {returncode}, the input did not run to its end"
        if not _EXPLOSION.search(reason):
            raise LammpsError(f"LAMMPS failed in {directory}: {reason}")
        exploded = True
        log.warning("%s: LAMMPS stopped on an unphysical configuration: %s", condition.name, reason)
    watch = GammaWatch(exploration, n_steps, condition)
    if not summary.trace:
        if exploded:  # unphysical from the start: a halt without frames, as in ase_md
            watch.explode(0)
            return watch.outcome()
        raise LammpsError(f"{directory / LOG}: no thermo rows with {THERMO_GAMMA} (did LAMMPS start?)")

    frames = {}
    for fr in read_dump_frames(directory / DUMP, frame, GAMMA_COLUMN):
        frames.setdefault(fr.info["step"], fr)  # a stage boundary repeats one step; keep the first

    for step, g in summary.trace:
        if not watch.due(step) or step > n_steps:
            continue  # the tail's set-up computes gamma one step before the last (not a check)
        if summary.halt is not None and step > summary.halt[0]:
            break  # nothing after the halt counts (there should be nothing)
        watch.steps_run = step
        fr = frames.get(step)
        if not math.isfinite(g) or (fr is not None and is_unphysical(fr)):
            _set_last_sane(watch, _last_sane_check(directory, frame, before=step))
            watch.explode(step)
            return watch.outcome()
        if fr is not None:
            # the dump's per-atom gamma is the precise value; thermo agrees to its printed digits
            if watch.check(step, fr, fr.arrays["gamma"]):
                break
        else:
            watch.trace.append((step, g))
            if g > watch.gamma_halt:  # halted above the threshold but the frame was not dumped
                raise LammpsError(f"{directory}: step {step} exceeds gamma_halt but its frame is not in {DUMP}")
    if exploded and not watch.halted:
        # LAMMPS stopped somewhere after the last check; that check is where the run is reported to end
        _set_last_sane(watch, _last_sane_check(directory, frame))
        watch.explode(watch.steps_run)
    elif not watch.halted and watch.steps_run != n_steps:
        raise LammpsError(f"{directory}: the run ended at step {watch.steps_run} of {n_steps} without a halt")
    return watch.outcome()


# --------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------
class LammpsMLPace:
    """`Dynamics` on an external ML-PACE LAMMPS (module docstring)."""

    needs_calculator = False

    def __init__(self, cfg: LammpsMLPaceConfig, exploration: ExplorationConfig, cores: int = 1,
                 work_dir: str | Path | None = None):
        self.cfg = cfg
        self.exploration = exploration
        self.cores = int(cores)
        self.work_dir = Path(work_dir) if work_dir is not None else None

    def command(self) -> list[str]:
        return shlex.split(self.cfg.command.format(cores=self.cores)) + ["-in", INPUT, "-log", LOG]

    def run(
        self,
        atoms: Atoms,
        calculator: Calculator | None,  # unused: LAMMPS evaluates the potential itself
        potential: PotentialFiles,
        condition: ExplorationCondition,
        n_steps: int,
        seed: int,
    ) -> ExplorationOutcome:
        atoms, frame = frame_for(prepare_atoms(atoms, condition, seed), condition, self.cfg.barostat)
        directory = self._directory(condition)
        write_inputs(directory, atoms, frame, potential, self.cfg, self.exploration, condition, n_steps, seed)
        try:
            returncode = self._execute(directory)
            outcome = parse_run(directory, frame, self.exploration, condition, n_steps, returncode)
        except UserError:
            _keep_failed(directory)
            raise
        except (LammpsError, OSError, subprocess.SubprocessError) as exc:
            kept = _keep_failed(directory)
            raise LammpsError(f"{exc} (inputs and outputs kept in {kept})") from exc
        if not self.cfg.keep_files:
            shutil.rmtree(directory, ignore_errors=True)
        log_outcome(condition, outcome, n_steps, "LAMMPS ML-PACE")
        return outcome

    def _directory(self, condition: ExplorationCondition) -> Path:
        if self.work_dir is None:
            return Path(tempfile.mkdtemp(prefix=f"lammps_mlpace-{condition.name}-"))
        if self.work_dir.exists():  # a rerun starts clean: stale dumps must not be parsed
            shutil.rmtree(self.work_dir)
        self.work_dir.mkdir(parents=True)
        return self.work_dir

    def _execute(self, directory: Path) -> int:
        cmd = self.command()
        if shutil.which(cmd[0]) is None:
            raise UserError(f"dynamics.command: '{cmd[0]}' not found on PATH (the LAMMPS with ML-PACE to run "
                            f"for dynamics.kind lammps_mlpace; set `command`, e.g. 'mpirun -np {{cores}} lmp')")
        timeout = None if self.cfg.timeout_min is None else self.cfg.timeout_min * 60.0
        with open(directory / "stdout.txt", "w") as out:
            proc = subprocess.run(cmd, cwd=directory, stdout=out, stderr=subprocess.STDOUT,
                                  env=lammps_subprocess_env(), timeout=timeout, check=False)
        return proc.returncode


def _keep_failed(directory: Path) -> Path:
    """Rename a failed run's directory to failed-<name> (unique) and return where it is now."""
    if not directory.exists():
        return directory
    target = directory.with_name(f"failed-{directory.name}")
    n = 1
    while target.exists():
        target = directory.with_name(f"failed-{directory.name}-{n}")
        n += 1
    directory.rename(target)
    return target




LAUNCHERS = {"mpirun", "mpiexec", "srun", "aprun", "jsrun"}


def missing_programs(command: str) -> list[str]:
    """Programs of a `dynamics.command` not on PATH: the first word, and after an MPI launcher the
    first word that is not an option, a number or VAR=value (the LAMMPS executable)."""
    words = shlex.split(command.format(cores=1))
    programs = [words[0]]
    if Path(words[0]).name in LAUNCHERS:
        rest = [w for w in words[1:] if not w.startswith("-") and not w.isdigit() and "=" not in w]
        programs += rest[:1]
    return [p for p in programs if shutil.which(p) is None]


def check_command(cfg: LammpsMLPaceConfig) -> None:
    """Preflight: a LAMMPS that cannot be started is found before the first oracle call."""
    if not cfg.check_command:
        return
    missing = missing_programs(cfg.command)
    if missing:
        raise UserError(f"dynamics.command: {', '.join(repr(m) for m in missing)} not found on PATH (the LAMMPS "
                        f"with ML-PACE for dynamics.kind lammps_mlpace); fix `command` or PATH, or set "
                        f"dynamics.check_command: false if LAMMPS exists only on the compute nodes")
