"""MD stability: the potential alone, hotter and larger than anything it was trained on.

NVE (velocity Verlet) started from Maxwell–Boltzmann velocities at 2T, so that equipartition
settles near T: without a thermostat the total energy is a conserved quantity and its drift is a
clean test of smooth, consistent forces. Every `check_interval` steps: max extrapolation grade
(when the potential has an active set), shortest interatomic distance and the total energy.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet

from ..domain_models.properties_config import MD_STABILITY
from ..domain_models.property_files import MdStabilityResult, MdTrace
from ..domain_models.property_records import PropertyRecord
from ..sampling.candidate_generator import min_interatomic_distance
from .judge import record
from .registry import GROUPS

log = logging.getLogger(__name__)


def run_md_stability(cell: Atoms, supercell, calc: Calculator, temperature: float, steps: int,
                     timestep_fs: float, check_interval: int, seed: int,
                     gamma: Callable[[Atoms], float] | None = None) -> MdStabilityResult:
    """The run's result without its wall time and gamma bound (the step adds them)."""
    atoms = cell * tuple(supercell)
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=2 * temperature, rng=np.random.default_rng(seed))
    Stationary(atoms)
    n = len(atoms)
    e0 = atoms.get_total_energy()
    trace = {"step": [], "max_gamma": [], "min_distance": [], "energy_drift": [], "temperature": []}
    dyn = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)

    def check():
        trace["step"].append(int(dyn.nsteps))
        trace["min_distance"].append(float(min_interatomic_distance(atoms)))
        trace["energy_drift"].append(float(abs(atoms.get_total_energy() - e0) / n))
        trace["temperature"].append(float(atoms.get_temperature()))
        if gamma is not None:
            trace["max_gamma"].append(float(gamma(atoms)))

    check()
    exploded = None
    for _ in range(0, steps, check_interval):
        try:
            dyn.run(min(check_interval, steps - dyn.nsteps))
        except Exception as exc:  # noqa: BLE001 - a potential blowing up is a result, not a crash
            exploded = f"{type(exc).__name__}: {exc}"
            break
        check()
        if not np.isfinite(trace["energy_drift"][-1]):
            exploded = "non-finite energy"
            break
    return MdStabilityResult(
        n_atoms=n, temperature_K=temperature, steps_run=int(dyn.nsteps), steps=steps,
        timestep_fs=timestep_fs, exploded=exploded,
        max_gamma=max(trace["max_gamma"]) if trace["max_gamma"] else None,
        min_distance=min(trace["min_distance"]),
        max_energy_drift=max(trace["energy_drift"]),
        mean_temperature_K=float(np.mean(trace["temperature"][len(trace["temperature"]) // 2:])),
        trace=MdTrace(**trace),
    )


def records(result: MdStabilityResult, tolerances, min_distance: float) -> list[PropertyRecord]:
    """Potential-only records (oracle: null): bounds, not differences. An explosion fails all three.
    The gamma bound is the run's own `gamma_threshold` when it has one (a final fit's, calibrated for
    its basis by shipping/gamma_scale.py), else tolerances.md_max_gamma."""
    q = GROUPS[MD_STABILITY].quantities
    out = [record("md_min_distance", q["md_min_distance"], None, result.min_distance, min_distance),
           record("md_energy_drift", q["md_energy_drift"], None, result.max_energy_drift,
                  tolerances.md_energy_drift)]
    if result.max_gamma is not None:
        bound = result.gamma_threshold or tolerances.md_max_gamma
        out.append(record("md_max_gamma", q["md_max_gamma"], None, result.max_gamma, bound))
    if not result.complete:
        for r in out:
            r.ok = False
    return out
