"""FINAL: what a user takes away when the loop ends, in one directory `final/`.

The last good potential, every successful label of the run as one extxyz with its provenance and as
a pacemaker DataFrame (for a production fit), a LAMMPS input fragment, the report and a README.
`final/` is not one Snakemake output: each file is declared on its own, so other rules can add
theirs (e.g. final/properties.json).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..components.oracles.common import settings_json
from ..core import layout as L
from ..core.io import atomic_path, copy_file, read_json, read_structures, write_structures, write_text
from ..domain_models.state import Decision
from ..sampling.compositions import composition_check

log = logging.getLogger(__name__)


def provenance(atoms, stage: str):
    """Label info a user needs later: where it came from and what computed it."""
    n = L.iteration_of_stage(stage)
    atoms.info["stage"] = stage
    atoms.info["iteration"] = -1 if n is None else n
    atoms.info["generator"] = str(atoms.info.get("generator", atoms.info.get("source", "unknown")))
    if "oracle_settings" not in atoms.info:
        atoms.info["oracle_settings"] = settings_json({"kind": str(atoms.info.get("oracle", "unknown"))})
    return atoms


def collect_dataset(label_files: list[str]) -> list:
    frames = []
    for path in label_files:
        stage = Path(path).parent.name
        frames += [provenance(a, stage) for a in read_structures(path)]
    return frames


def write_dataframe(frames, reference: dict[str, float], out: str) -> int:
    """pacemaker's DataFrame (ase_atoms, energy, energy_corrected, forces, ...), gzip pickle."""
    from ..components.ace.common import frames_to_dataframe

    df = frames_to_dataframe(frames, reference)
    with atomic_path(out) as tmp:
        df.to_pickle(tmp, compression="gzip")
    return len(df)


def lammps_input(elements: list[str], gamma_select: float, gamma_halt: float, every: int) -> str:
    species = " ".join(elements)
    return f"""\
# ML-PACE input fragment written by mlip-autopipec (LAMMPS built with the ML-PACE package).
# Include it after the box and atoms exist (units metal, atom_style atomic; atom types in the
# order {species}). Files are relative to this directory's parent (final/).

# --- Production with uncertainty watch: extrapolation grade gamma every {every} steps ----------------
# (pace/extrapolation evaluates the B-basis potential.yaml with its active set potential.asi)
pair_style      pace/extrapolation
pair_coeff      * * ../potential.yaml ../potential.asi {species}
fix             pace_gamma all pair {every} pace/extrapolation gamma 1
compute         max_pace_gamma all reduce max f_pace_gamma
variable        max_pace_gamma equal c_max_pace_gamma
# frames worth labelling (max gamma above gamma_select = {gamma_select:g}) go to extrapolative.dump
variable        dump_skip equal "c_max_pace_gamma <= {gamma_select:.17g}"
dump            pace_dump all custom {every} extrapolative.dump id type element x y z f_pace_gamma
dump_modify     pace_dump skip v_dump_skip element {species}
# stop when the potential extrapolates too far (gamma_halt = {gamma_halt:g})
fix             extreme_extrapolation all halt {every} v_max_pace_gamma > {gamma_halt:.17g} error soft
thermo_style    custom step temp pe press vol c_max_pace_gamma

# --- Plain production (fastest, no gamma): use these two lines instead of the block above -------
# pair_style    pace
# pair_coeff    * * ../potential.yace {species}
"""


def _shipped(potential_stage: str) -> str:
    if potential_stage == L.FINAL_FIT:
        return (f"the final fit ({L.FINAL_FIT}/: the loop's labels refitted with the ladder's final rungs too;\n"
                "                   its train.json has the rung scores)")
    return f"the last good potential ({potential_stage}/)"


def readme(decision: Decision, n_frames: int, stages: list[str], potential_stage: str, elements: list[str],
           warnings: list[str] | None = None) -> str:
    warned = "".join(f"WARNING: {w}\n" for w in warnings or [])
    return f"""\
mlip-autopipec: final result of the active-learning run
========================================================
Outcome: {decision.action.value} after iteration {decision.iteration}: {decision.reason}
{f"Extended: {decision.extended}" if decision.extended else ""}
{warned}Files
- potential.yace   {_shipped(potential_stage)}, C-tilde basis for `pair_style pace` (LAMMPS)
                   and pyace's PyACECalculator; predicts total energies (isolated-atom energies included).
- potential.yaml   the same potential as a B-basis (pacemaker's format): upfit it, compute gamma.
- potential.asi    its active set: extrapolation grade gamma (pace/extrapolation, pyace with the .yaml).
- dataset.extxyz   every successful label of the run ({n_frames} structures from {', '.join(stages)}), with
                   energy, forces, stress and in each frame's info: stage, iteration (-1: initial set),
                   generator, oracle_settings (JSON of what computed it).
- dataset.pkl.gz   the same data as a pacemaker DataFrame (columns ase_atoms, energy, energy_corrected =
                   energy minus the isolated-atom energies, forces, stress, NUMBER_OF_ATOMS). Written with
                   this run's pandas: read it with a compatible pandas
                   (pandas.read_pickle("dataset.pkl.gz", compression="gzip")).
- lammps/in.pace   LAMMPS input fragment: pace/extrapolation with gamma watch (dump above gamma_select,
                   fix halt above gamma_halt) and the plain `pair_style pace` production variant.
- report.html      the run's report (learning curve, halts, parity, timings).

How to continue
- Production fit on a GPU with pacemaker: in input.yaml set
    data: {{filename: dataset.pkl.gz}}
  and the elements {', '.join(elements)}; start from potential.yaml (`pacemaker input.yaml -p potential.yaml`) or
  from scratch with a larger basis; then `pace_yaml2yace` and `pace_activeset -d dataset.pkl.gz output_potential.yaml`.
- Molecular dynamics: include lammps/in.pace in your LAMMPS input (see its comments).
- More active learning: edit the config (more conditions, higher max_cycles) and rerun; see the
  README section "Extending a run".
"""


def run_final(decision_file: str, potential_files: list[str], label_files: list[str], reference_file: str,
              report_html: str, gamma: tuple[float, float, int], out: dict[str, str]) -> int:
    """`out` maps yace, yaml, asi, dataset, dataframe, lammps, report, readme to output paths."""
    decision = Decision.model_validate(read_json(decision_file))
    by_ext = {Path(p).suffix.lstrip("."): p for p in potential_files}
    for ext in ("yace", "yaml", "asi"):
        copy_file(by_ext[ext], out[ext])
    frames = collect_dataset(label_files)
    write_structures(out["dataset"], frames)
    reference = read_json(reference_file)
    write_dataframe(frames, reference, out["dataframe"])
    elements = sorted({s for a in frames for s in a.get_chemical_symbols()})
    write_text(out["lammps"], lammps_input(elements, *gamma))
    copy_file(report_html, out["report"])
    stages = [Path(p).parent.name for p in label_files]
    check = composition_check(frames, elements)
    warnings = [] if check.determined else [check.advice]
    write_text(out["readme"], readme(decision, len(frames), stages, Path(potential_files[0]).parent.name, elements,
                                     warnings))
    log.info("FINAL: potential of %s, %d labelled structures from %d stage(s) in %s", Path(potential_files[0]).parent,
             len(frames), len(stages), Path(out["readme"]).parent)
    return len(frames)
