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
from ..core.io import atomic_path, copy_file, read_structures, write_structures, write_text
from ..domain_models.property_records import PropertyRecord, read_property_records
from ..domain_models.records import LabelNoiseRecord, read_record, read_reference_energies_file
from ..domain_models.state import Decision, ShippedSummary, read_decision
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


PACE_DIR = "pace_dir"  # LAMMPS variable: the directory holding potential.{yaml,asi,yace}


def lammps_input(elements: list[str], gamma_select: float, gamma_halt: float, every: int) -> str:
    """The LAMMPS fragment `final/lammps/in.pace`.

    LAMMPS resolves `pair_coeff` file names against the directory it was started in, not the
    included file's, so a fixed `../potential.yaml` works from final/lammps/ only. The files are
    named through the variable `pace_dir` instead: `.` when potential.yaml lies in the start
    directory (LAMMPS started in final/), else `..` (started in final/lammps/); started anywhere
    else, `lmp -var pace_dir /path/to/final` (an index variable is not redefined, so the command
    line wins). No absolute path, so final/ can be copied to another machine as it is.
    """
    species = " ".join(elements)
    pot = f"${{{PACE_DIR}}}/potential"
    return f"""\
# ML-PACE input fragment written by mlip-autopipec (LAMMPS built with the ML-PACE package).
# Include it after the box and atoms exist (units metal, atom_style atomic; atom types in the
# order {species}). The potential files are found from LAMMPS's start directory: final/ (then
# `include lammps/in.pace`) or final/lammps/ (`include in.pace`); from anywhere else start LAMMPS
# with `-var {PACE_DIR} /path/to/final` (a command-line -var wins over the two lines below).
if              "$(is_file(potential.yaml))" then "variable {PACE_DIR} index ."
variable        {PACE_DIR} index ..

# --- Production with uncertainty watch: extrapolation grade gamma every {every} steps ----------------
# (pace/extrapolation evaluates the B-basis potential.yaml with its active set potential.asi)
pair_style      pace/extrapolation
pair_coeff      * * {pot}.yaml {pot}.asi {species}
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
# pair_coeff    * * {pot}.yace {species}
"""


def _shipped(potential_stage: str) -> str:
    if potential_stage == L.FINAL_FIT:
        return (f"the final fit ({L.FINAL_FIT}/: the loop's labels refitted with the ladder's final rungs too;\n"
                "                   its train.json has the rung scores)")
    return f"the last good potential ({potential_stage}/)"


def verification_lines(shipped: ShippedSummary | None, properties: list[PropertyRecord] | None) -> list[str]:
    """What the README says about the shipped potential: which and why, its spot checks, its MD
    stability run and its properties, all measured with it (the same lines as the status)."""
    from ..shipping.summary import shipped_lines

    out = shipped_lines(shipped)
    if properties:
        bad = [r.name for r in properties if not r.ok]
        out.append(f"  properties of {shipped.stage}/ (properties.json): {len(properties) - len(bad)} of "
                   f"{len(properties)} within tolerance" + (f"; outside: {', '.join(bad)}" if bad else ""))
    return out


def noise_paragraph(noise: LabelNoiseRecord | None) -> str:
    """What the labels themselves are worth (steps/label_noise.py): no potential is closer to the
    converged oracle than its labels are."""
    if noise is None or not noise.applicable:
        return ""
    per = "; ".join(f"{s.change}: {1000 * s.force_rms:.0f} meV/Å RMS, {1000 * s.energy_per_atom:.1f} meV/atom"
                    for s in noise.settings)
    return (f"Label noise (one {noise.structure} structure at the oracle's settings vs tighter ones): "
            f"{1000 * noise.force_rms:.0f} meV/Å RMS force, {1000 * noise.energy_per_atom:.1f} meV/atom"
            + (f" ({per})" if per else "") + ".\nErrors against these labels below this floor are not errors "
            "against the converged oracle.\n")


def readme(decision: Decision, n_frames: int, stages: list[str], potential_stage: str, elements: list[str],
           verification: list[str] = (), noise: LabelNoiseRecord | None = None,
           warnings: list[str] | None = None, notes: list[str] | None = None) -> str:
    """`notes`: information that needs no action for the use the run trained for (a molecule's one
    composition), printed like the warnings but as NOTE."""
    checked = "\n".join(verification)
    warned = "".join(f"WARNING: {w}\n" for w in warnings or []) + "".join(f"NOTE: {w}\n" for w in notes or [])
    return f"""\
mlip-autopipec: final result of the active-learning run
========================================================
Outcome: {decision.action.value} after iteration {decision.iteration}: {decision.reason}
{f"Extended: {decision.extended}" if decision.extended else ""}
{checked}
{noise_paragraph(noise)}
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
  docs/resuming.md "Extending a run".
"""


def run_final(decision_file: str, potential_files: list[str], label_files: list[str], reference_file: str,
              report_html: str, gamma: tuple[float, float, int], out: dict[str, str], workdir: str | None = None,
              properties_file: str | None = None, label_noise_file: str | None = None) -> int:
    """`out` maps yace, yaml, asi, dataset, dataframe, lammps, report, readme to output paths.
    `gamma`: (gamma_select, gamma_halt, check interval) for the LAMMPS input: the thresholds that
    apply to the shipped potential (a final fit's are calibrated for its basis). `workdir`: the run
    directory, whose derived state says which potential ships and what it passed (README)."""
    decision = read_decision(decision_file)
    by_ext = {Path(p).suffix.lstrip("."): p for p in potential_files}
    for ext in ("yace", "yaml", "asi"):
        copy_file(by_ext[ext], out[ext])
    frames = collect_dataset(label_files)
    write_structures(out["dataset"], frames)
    reference = read_reference_energies_file(reference_file)
    write_dataframe(frames, reference, out["dataframe"])
    elements = sorted({s for a in frames for s in a.get_chemical_symbols()})
    write_text(out["lammps"], lammps_input(elements, *gamma))
    copy_file(report_html, out["report"])
    stages = [Path(p).parent.name for p in label_files]
    from ..loop.state import derive_state

    shipped = derive_state(workdir).shipped if workdir is not None else None
    props = read_property_records(properties_file) if properties_file else None
    noise = read_record(LabelNoiseRecord, label_noise_file) if label_noise_file else None
    check = composition_check(frames, elements)
    warnings = [check.warning] if check.warning else []
    notes = [check.note] if check.note else []
    write_text(out["readme"], readme(decision, len(frames), stages, Path(potential_files[0]).parent.name, elements,
                                     verification_lines(shipped, props), noise, warnings, notes))
    log.info("FINAL: potential of %s, %d labelled structures from %d stage(s) in %s", Path(potential_files[0]).parent,
             len(frames), len(stages), Path(out["readme"]).parent)
    return len(frames)
