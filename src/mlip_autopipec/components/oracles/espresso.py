"""Quantum ESPRESSO pw.x through ASE's `Espresso` calculator and `EspressoProfile`.

Each structure runs in its own directory (`espresso.pwi` in, `espresso.pwo` out, `espresso.err`);
a failure is diagnosed from the output (SCF not converged, missing or unreadable
pseudopotential, any `Error in routine`) and the directory kept.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from ase import Atoms

from ...core.errors import UserError
from ...domain_models.oracle_config import RYDBERG_EV, EspressoOracleConfig
from .common import singlepoint
from .external import DFTOracle, patched_environ, tail

SHIPPED_PSEUDO_DIR = Path(__file__).resolve().parents[2] / "data" / "pseudo"
QE_SMEARING = {"fermi-dirac": "fd", "gaussian": "gaussian", "marzari-vanderbilt": "mv", "methfessel-paxton": "mp"}
INSTALL_HINT = "install Quantum ESPRESSO (apt-get install quantum-espresso; tools/install_oracles.sh does it)"


def kpoint_pools(ranks: int, grid: tuple[int, int, int], requested: int | None = None) -> int:
    """pw.x's -nk for `ranks` MPI ranks: `requested` if set, else the largest divisor of `ranks` that the grid's
    k-points can fill. Time reversal halves a Monkhorst-Pack grid (about: pw.x keeps k and -k once), so half the
    grid points is the estimate of what pw.x distributes; a pool without a k-point would idle its ranks.

    Why pools: with few atoms and many k-points the plane-wave (R & G) division leaves each rank tiny FFTs and
    much communication, while k-points are independent: one pool per rank does no communication in the SCF
    loop but the final sums."""
    if requested is not None:
        return requested
    kpoints = max(1, (grid[0] * grid[1] * grid[2] + 1) // 2)
    return max(d for d in range(1, ranks + 1) if ranks % d == 0 and d <= kpoints)


class EspressoOracle(DFTOracle):
    name = "espresso"
    cfg: EspressoOracleConfig
    config_class = EspressoOracleConfig
    scf_hint = "or oracle.input_data.electrons.mixing_beta"

    # -- pseudopotentials -------------------------------------------------------------------------
    def _pseudo_dir_lookup(self) -> tuple[Path, str]:
        return self.data_directory("pseudo_dir", "ESPRESSO_PSEUDO", SHIPPED_PSEUDO_DIR, "the shipped pseudopotentials")

    def pseudo_dir(self) -> Path:
        return self._pseudo_dir_lookup()[0]

    def _pseudo_dir_field(self) -> str:
        return self._pseudo_dir_lookup()[1]

    def pseudopotential(self, symbol: str) -> str:
        """The UPF file name for `symbol` in pseudo_dir; UserError naming the field to set."""
        pdir = self.pseudo_dir()
        if not pdir.is_dir():
            raise UserError(f"{self._pseudo_dir_field()} is not a directory; set oracle.pseudo_dir to the "
                            f"directory holding your UPF files")
        if symbol in self.cfg.pseudopotentials:
            name = self.cfg.pseudopotentials[symbol]
            if not (pdir / name).is_file():
                raise UserError(f"oracle.pseudopotentials.{symbol}: {name} not found in {self._pseudo_dir_field()}; "
                                f"fix the file name or oracle.pseudo_dir")
            return name
        pattern = re.compile(rf"^{re.escape(symbol)}([._-].*)?\.upf$", re.IGNORECASE)
        matches = sorted(p.name for p in pdir.iterdir() if pattern.match(p.name))
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UserError(f"oracle.pseudopotentials: no pseudopotential for {symbol} in {self._pseudo_dir_field()}; "
                            f"add {symbol}: <file.UPF> to oracle.pseudopotentials and put the file in "
                            f"oracle.pseudo_dir")
        raise UserError(f"oracle.pseudopotentials: {len(matches)} candidate files for {symbol} in "
                        f"{self._pseudo_dir_field()} ({', '.join(matches)}); choose one with "
                        f"oracle.pseudopotentials: {{{symbol}: <file>}}")

    # -- setup checks ------------------------------------------------------------------------------
    def check_setup(self) -> None:
        self.check_program(self.cfg.executable, "executable", INSTALL_HINT)
        self.check_launcher()

    def check_elements(self, symbols: Sequence[str]) -> None:
        for symbol in sorted(set(symbols)):
            self.pseudopotential(symbol)

    # -- calculation -------------------------------------------------------------------------------
    def overriding_keys(self, setting: str) -> list[str]:
        keys = {"cutoff": ("ecutwfc",), "smearing": ("degauss", "smearing", "occupations")}.get(setting, ())
        system = {k.lower(): v for k, v in self.cfg.input_data.get("system", {}).items()}
        return [f"oracle.input_data.system.{k}" for k in keys if k in system]

    def tighter_config(self, setting: str, atoms: Atoms):
        """As the base; a higher cutoff also raises an explicit ecutrho (input_data) by the same factor."""
        found = super().tighter_config(setting, atoms)
        if found is None or setting != "cutoff":
            return found
        cfg, change = found
        system = dict(cfg.input_data.get("system", {}))
        rho_key = next((k for k in system if k.lower() == "ecutrho"), None)
        if rho_key is not None:
            system[rho_key] = system[rho_key] * self.cutoff_factor
            cfg = cfg.model_copy(update={"input_data": {**cfg.input_data, "system": system}})
        return cfg, change

    def input_data(self, atoms: Atoms, isolated: bool) -> dict:
        cfg = self.cfg
        data: dict[str, dict] = {
            "control": {"calculation": "scf", "tprnfor": True, "tstress": self.wants_stress(atoms, isolated),
                        "disk_io": "none", "outdir": "./out", "pseudo_dir": str(self.pseudo_dir())},
            "system": {"ecutwfc": cfg.cutoff_ev / RYDBERG_EV, "occupations": "smearing",
                       "smearing": QE_SMEARING[cfg.smearing.method], "degauss": cfg.smearing.width_ev / RYDBERG_EV},
            "electrons": {"electron_maxstep": cfg.max_scf_iterations, "conv_thr": 1e-8 * max(1, len(atoms))},
        }
        data["system"]["input_dft"] = cfg.xc  # pw.x would otherwise take the pseudopotentials' functional
        for section, values in cfg.input_data.items():
            data.setdefault(section.lower(), {}).update(values)
        return data

    def compute(self, atoms: Atoms, rundir: Path, isolated: bool) -> Atoms:
        from ase.calculators.espresso import Espresso, EspressoProfile

        work = self.prepared(atoms, isolated)
        grid = self.kpoint_grid(atoms, isolated)
        # Monkhorst-Pack: even sizes shifted off Γ (pw.x offset 1), odd sizes contain Γ anyway.
        koffset = tuple(0 if (self.cfg.kpoints.gamma or n % 2) else 1 for n in grid)
        pseudos = {s: self.pseudopotential(s) for s in sorted(set(atoms.get_chemical_symbols()))}
        ranks = self.cores if self.launcher() else 1
        pools = kpoint_pools(ranks, grid, self.cfg.pools) if ranks > 1 else 1
        program = f"{self.cfg.executable} -nk {pools}" if pools > 1 else self.cfg.executable
        profile = EspressoProfile(command=self.command(program), pseudo_dir=str(self.pseudo_dir()))
        calc = Espresso(profile=profile, directory=str(rundir), input_data=self.input_data(atoms, isolated),
                        pseudopotentials=pseudos, kpts=None if isolated else grid, koffset=koffset)
        with patched_environ(self.run_env()):
            out = singlepoint(work, calc, self.name, need_stress=self.wants_stress(atoms, isolated),
                              settings=None if isolated else self.settings(atoms) | {"pseudopotentials": pseudos},
                              force_consistent=True)
        self.check_converged(rundir)
        return self.as_given(out, atoms)

    def diagnose(self, rundir: Path) -> str | None:
        out = rundir / "espresso.pwo"
        text = out.read_text(errors="replace") if out.is_file() else ""
        if "convergence NOT achieved" in text:
            return self.scf_not_converged()
        match = re.search(r"Error in routine\s+(\S+)\s*\((\s*-?\d+)\):\s*\n\s*(.+)", text)
        if match:
            routine, message = match.group(1), match.group(3).strip()
            if routine.startswith(("readpp", "read_ncpp", "read_upf")) or "pseudo" in message.lower():
                return f"pseudopotential problem in {self._pseudo_dir_field()}: {message} (routine {routine})"
            return f"pw.x stopped: {message} (routine {routine})"
        err_file = rundir / "espresso.err"
        err = err_file.read_text(errors="replace") if err_file.is_file() else ""
        crash = re.search(r"^(Fortran runtime error:.*|.*Segmentation fault.*|.*signal \d+.*)$", err, re.M | re.I)
        if crash:
            where = re.search(r"^At line (\d+) of file (\S+)", err, re.M)
            reason = f"pw.x crashed: {crash.group(1).strip()}"
            if where:
                reason += f" (line {where.group(1)} of {where.group(2)})"
            if "Reading input" in text and "PseudoPot. #" not in text:
                reason += f" while reading the pseudopotentials from {self._pseudo_dir_field()}: is a UPF file truncated?"
            return reason
        if err.strip() and not text.strip():
            return f"pw.x did not start: {tail(err_file, 3)}"
        return None
