"""CP2K (Quickstep, Gaussian and plane waves) through ASE's CP2K calculator and `cp2k_shell`.

The SCF settings (smearing, Broyden mixing, k-points) come from the config; `oracle.inp` is
merged on top (its keywords replace ours). A CP2K SCF that does not converge only warns and
carries on — this oracle reads `cp2k.out` and turns that warning into a failure.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Sequence

from ase import Atoms
from ase.units import kB

from ...core.errors import OracleError, UserError
from ...domain_models.oracle_config import CP2KOracleConfig
from .common import singlepoint
from .external import DFTOracle, patched_environ, tail

INSTALL_HINT = "install CP2K (apt-get install cp2k; tools/install_oracles.sh does it)"
DEBIAN_DATA_DIRS = (Path("/usr/share/cp2k/data"), Path("/usr/share/cp2k"))
# Keywords the ASE calculator writes itself (it refuses duplicates): not allowed in oracle.inp.
ASE_OWNED = {"MAX_SCF", "CUTOFF", "BASIS_SET_FILE_NAME", "POTENTIAL_FILE_NAME", "STRESS_TENSOR",
             "UNRESTRICTED_KOHN_SHAM", "MULTIPLICITY", "CHARGE", "PROJECT", "PRINT_LEVEL"}


def merge_sections(base, extra) -> None:
    """Merge the parsed CP2K input `extra` into `base` (ase.calculators.cp2k.InputSection):
    a keyword of `extra` replaces the same keyword of `base`; sections merge recursively."""
    for line in extra.keywords:
        key = line.split()[0].upper()
        base.keywords = [k for k in base.keywords if k.split()[0].upper() != key] + [line]
    for sub in extra.subsections:
        same = [s for s in base.subsections if s.name == sub.name and (s.params or "") == (sub.params or "")]
        if same:
            merge_sections(same[0], sub)
        else:
            base.subsections.append(sub)


def kpoints_section(grid: tuple[int, int, int], gamma: bool) -> str:
    """CP2K's &KPOINTS for a grid ('' for Γ only: CP2K's faster Γ-point code path)."""
    if tuple(grid) == (1, 1, 1):
        return ""
    if not gamma or all(n % 2 for n in grid):
        scheme = "MONKHORST-PACK {} {} {}".format(*grid)
    else:  # Γ-centred: shift the Monkhorst-Pack points back by half a step along even sizes
        shifts = [0.5 / n if n % 2 == 0 else 0.0 for n in grid]
        scheme = "MACDONALD {} {} {} {:.10f} {:.10f} {:.10f}".format(*grid, *shifts)
    return f"""    &KPOINTS
      SCHEME {scheme}
    &END KPOINTS
"""


class CP2KOracle(DFTOracle):
    name = "cp2k"
    cfg: CP2KOracleConfig
    config_class = CP2KOracleConfig
    scf_hint = "or tune &SCF in oracle.inp"

    # -- data files ----------------------------------------------------------------------------------
    def data_dir(self) -> Path | None:
        debian = next((d for d in DEBIAN_DATA_DIRS if (d / "BASIS_MOLOPT").is_file()), None)
        return self.data_directory("data_dir", "CP2K_DATA_DIR", debian, "Debian's CP2K data")[0]

    def data_file(self, name: str, field: str) -> Path:
        path = Path(name)
        if not path.is_absolute():
            base = self.data_dir()
            path = (base / name) if base is not None else path
        if not path.is_file():
            raise UserError(f"oracle.{field}: {name} not found (looked in {path.parent}); set oracle.data_dir "
                            f"to CP2K's data directory or give the file's full path")
        return path

    def potential_name(self) -> str:
        return self.cfg.potential or f"GTH-{self.cfg.xc.upper()}"

    # -- tighter settings (label-noise check) -----------------------------------------------------------
    def overriding_keys(self, setting: str) -> list[str]:
        """Sections of oracle.inp that set k-points or smearing themselves (merged over the generated
        input, they would hide a tightened common field; the cutoff is refused there anyway)."""
        sections = {"kpoints": "&KPOINTS", "smearing": "&SMEAR"}.get(setting)
        return [f"oracle.inp {sections}"] if sections and sections in self.cfg.inp.upper() else []

    # -- setup checks ------------------------------------------------------------------------------
    def check_setup(self) -> None:
        self.check_program(self.cfg.executable, "executable", INSTALL_HINT)
        self.check_launcher()
        self.data_file(self.cfg.basis_set_file, "basis_set_file")
        self.data_file(self.cfg.potential_file, "potential_file")
        owned = {ln.split()[0].upper() for ln in self.cfg.inp.splitlines() if ln.strip() and not ln.strip().startswith(("&", "!", "#"))}
        clash = sorted(owned & ASE_OWNED)
        if clash:
            raise UserError(f"oracle.inp sets {', '.join(clash)}, which come from other oracle fields "
                            f"(max_scf_iterations, cutoff_ev, basis_set_file, potential_file, need_stress, ...); "
                            f"remove them from oracle.inp")

    def check_elements(self, symbols: Sequence[str]) -> None:
        basis_file = self.data_file(self.cfg.basis_set_file, "basis_set_file")
        pot_file = self.data_file(self.cfg.potential_file, "potential_file")
        basis_text = basis_file.read_text(errors="replace")
        pot_text = pot_file.read_text(errors="replace")
        for symbol in sorted(set(symbols)):
            if not _has_entry(basis_text, symbol, self.cfg.basis_set):
                raise UserError(f"oracle.basis_set: {basis_file} has no {self.cfg.basis_set} basis for {symbol}; "
                                f"choose another oracle.basis_set or oracle.basis_set_file")
            if not _has_entry(pot_text, symbol, self.potential_name()):
                raise UserError(f"oracle.potential: {pot_file} has no {self.potential_name()} potential for "
                                f"{symbol}; choose another oracle.potential or oracle.potential_file")

    # -- calculation -------------------------------------------------------------------------------
    def input_template(self, atoms: Atoms, isolated: bool) -> str:
        grid = self.kpoint_grid(atoms, isolated)
        if isolated:
            # One spin-polarised atom, fixed multiplicity, orbital transformation. Its gradient
            # stagnates near 1e-5 on the real-space grid while the energy is converged to 1e-9 eV,
            # hence the looser EPS_SCF.
            scf = """    &SCF
      EPS_SCF 5.0E-5
      SCF_GUESS ATOMIC
      &OT ON
        MINIMIZER DIIS
        PRECONDITIONER FULL_ALL
      &END OT
    &END SCF
"""
        else:
            temperature = self.cfg.smearing.width_ev / kB
            added = max(10, len(atoms))
            scf = f"""    &SCF
      EPS_SCF 1.0E-6
      SCF_GUESS ATOMIC
      ADDED_MOS {added}
      &SMEAR ON
        METHOD FERMI_DIRAC
        ELECTRONIC_TEMPERATURE [K] {temperature:.4f}
      &END SMEAR
      &MIXING
        METHOD BROYDEN_MIXING
        ALPHA 0.4
      &END MIXING
    &END SCF
"""
        return f"""&FORCE_EVAL
  &DFT
    &MGRID
      REL_CUTOFF [Ry] 50
    &END MGRID
{scf}{kpoints_section(grid, self.cfg.kpoints.gamma)}  &END DFT
&END FORCE_EVAL
"""

    def full_inp(self, atoms: Atoms, isolated: bool) -> str:
        from ase.calculators.cp2k import parse_input

        root = parse_input(self.input_template(atoms, isolated))
        if self.cfg.inp.strip():
            merge_sections(root, parse_input(self.cfg.inp))
        return "\n".join(root.write())

    def compute(self, atoms: Atoms, rundir: Path, isolated: bool) -> Atoms:
        from ase.calculators.cp2k import CP2K

        work = self.prepared(atoms, isolated)
        spin = self.cfg.spin_polarized or isolated
        multiplicity = None
        if isolated:
            multiplicity = int(round(abs(float(work.get_initial_magnetic_moments().sum())))) + 1
        need_stress = self.wants_stress(atoms, isolated)
        with patched_environ(self.run_env()):
            # CP2K runs inside the run directory with a short project name: the shell protocol and
            # CP2K's input parser both break lines of long absolute paths.
            calc = CP2K(
                command=f"cd {shlex.quote(str(rundir))} && exec {self.command(self.cfg.executable)}",
                label="cp2k", xc=self.cfg.xc,
                basis_set=self.cfg.basis_set,
                basis_set_file=str(self.data_file(self.cfg.basis_set_file, "basis_set_file")),
                potential_file=str(self.data_file(self.cfg.potential_file, "potential_file")),
                pseudo_potential=self.potential_name(), cutoff=self.cfg.cutoff_ev,
                max_scf=self.cfg.max_scf_iterations, stress_tensor=need_stress, uks=spin,
                multiplicity=multiplicity, inp=self.full_inp(atoms, isolated), print_level="LOW",
            )
            try:
                out = singlepoint(work, calc, self.name, need_stress=need_stress,
                                  settings=None if isolated else self.settings(atoms), force_consistent=True)
            except (AssertionError, RuntimeError) as exc:
                # ASE's CP2K shell reports a CP2K process that died by failed sanity checks: a
                # program failure when the process is gone, else left to the failure rule (a bug)
                code = _exit_code(calc)
                if code is None:
                    raise
                raise OracleError(f"cp2k stopped with exit code {code}: {tail(rundir / 'cp2k.out', 3)}") from exc
            finally:
                calc.close() if hasattr(calc, "close") else None
        self.check_converged(rundir)
        return self.as_given(out, atoms)

    def diagnose(self, rundir: Path) -> str | None:
        out = rundir / "cp2k.out"
        text = out.read_text(errors="replace") if out.is_file() else ""
        if "SCF run NOT converged" in text:
            return self.scf_not_converged()
        abort = re.search(r"\[ABORT\](.*?)(?:\n\s*\*{20,}|\Z)", text, re.S)
        if abort:
            message = " ".join(part.strip(" *\\/|_") for part in abort.group(1).splitlines())
            return f"CP2K aborted: {' '.join(message.split())}"
        return None


def _exit_code(calc) -> int | None:
    """The exit code of the calculator's CP2K process if it has ended, else None."""
    child = getattr(getattr(calc, "_shell", None), "_child", None)
    return None if child is None else child.poll()


def _has_entry(text: str, symbol: str, name: str) -> bool:
    """Whether a CP2K basis/potential file has `name` for `symbol` (header lines: `El NAME [ALIAS..]`)."""
    pattern = re.compile(rf"^[ \t]*{re.escape(symbol)}[ \t]+(?:\S+[ \t]+)*?{re.escape(name)}[ \t]*$|"
                         rf"^[ \t]*{re.escape(symbol)}[ \t]+(?:\S+[ \t]+)*?{re.escape(name)}[ \t]", re.M | re.I)
    return bool(pattern.search(text))
