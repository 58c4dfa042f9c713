"""steps/final.py: the hand-off directory from the labels of every stage (mock labels; the Cu/EMT
run checks it with real potentials)."""

from pathlib import Path

import numpy as np

from mlip_autopipec.core.io import read_structures, write_json, write_structures
from mlip_autopipec.domain_models.state import Action, Decision


def test_final_directory_from_labels_of_every_stage(tmp_path):
    """Unit check of the hand-off with mock labels (the Cu/EMT run checks it with real potentials)."""
    import pandas as pd
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    from mlip_autopipec.steps.final import run_final

    labels = []
    for k, stage in enumerate(("initial", "iter_000")):
        frames = []
        for j in range(2 + k):
            atoms = bulk("Cu", cubic=True).repeat((1, 1, 2))
            atoms.rattle(0.01, seed=j)
            atoms.info["generator"] = "rattle"
            atoms.calc = SinglePointCalculator(atoms, energy=-3.0 * len(atoms) + j, forces=np.zeros((len(atoms), 3)))
            frames.append(atoms)
        write_structures(tmp_path / stage / "labels.extxyz", frames)
        labels.append(str(tmp_path / stage / "labels.extxyz"))
    for ext in ("yace", "yaml", "asi"):
        (tmp_path / "iter_000" / f"potential.{ext}").write_text(ext)
    write_json(tmp_path / "ref.json", {"Cu": -0.5})
    (tmp_path / "report.html").write_text("<html/>")
    decision = Decision(iteration=1, action=Action.CONVERGED, reason="ran through", progress=1.0)
    write_json(tmp_path / "decision.json", decision.model_dump(mode="json"))
    names = ("yace", "yaml", "asi", "dataset", "dataframe", "lammps", "report", "readme")
    files = ("potential.yace", "potential.yaml", "potential.asi", "dataset.extxyz", "dataset.pkl.gz",
             "lammps/in.pace", "report.html", "README.txt")
    out = {k: str(tmp_path / "final" / f) for k, f in zip(names, files)}
    pots = [str(tmp_path / "iter_000" / f"potential.{e}") for e in ("yace", "yaml", "asi")]
    assert run_final(str(tmp_path / "decision.json"), pots, labels, str(tmp_path / "ref.json"),
                     str(tmp_path / "report.html"), (2.0, 5.0, 10), out) == 5
    frames = read_structures(out["dataset"])
    assert [f.info["stage"] for f in frames] == ["initial"] * 2 + ["iter_000"] * 3
    assert [f.info["iteration"] for f in frames] == [-1] * 2 + [0] * 3
    df = pd.read_pickle(out["dataframe"], compression="gzip")
    assert len(df) == 5 and (df["energy"] - df["energy_corrected"]).tolist() == [-0.5 * 8] * 5
    assert (tmp_path / "final" / "potential.asi").read_text() == "asi"
    lammps = Path(out["lammps"]).read_text()
    assert "v_max_pace_gamma > 5 error soft" in lammps and '"c_max_pace_gamma <= 2"' in lammps
    # every file in.pace names resolves when LAMMPS starts in final/lammps/ and in final/
    for start in (tmp_path / "final" / "lammps", tmp_path / "final"):
        paths = pace_files(lammps, start)
        assert len(paths) == 3 and {p.name for p in paths} == {"potential.yaml", "potential.asi", "potential.yace"}
        assert all(p.is_file() for p in paths), (start, paths)


def pace_files(text: str, start: Path) -> list[Path]:
    """The files the pair_coeff lines of `text` (commented ones too) name, as LAMMPS started in
    `start` would open them. Parsed independently of the writer: `if "$(is_file(F))" then
    "variable V index D"` defines V as D when F exists in `start`; of several index definitions of
    one variable, the first wins (LAMMPS ignores a redefinition of an index variable)."""
    import re
    import shlex

    variables: dict[str, str] = {}
    files = []
    for raw in text.splitlines():
        line = raw.lstrip("# ").strip()
        if line.split()[:1] not in (["if"], ["variable"], ["pair_coeff"]):
            continue
        words = shlex.split(line)
        if words[:1] == ["if"] and not raw.startswith("#"):
            condition, command = words[1], shlex.split(words[3])
            m = re.fullmatch(r"\$\(is_file\((.+)\)\)", condition)
            assert m and words[2] == "then" and len(words) == 4, raw
            if (start / m.group(1)).is_file() and command[:1] == ["variable"]:
                variables.setdefault(command[1], command[3])
        elif words[:1] == ["variable"] and words[2] == "index" and not raw.startswith("#"):
            variables.setdefault(words[1], words[3])
        elif words[:1] == ["pair_coeff"]:
            for w in words[3:]:
                if "potential." in w:
                    expanded = re.sub(r"\$\{(\w+)\}", lambda v: variables[v.group(1)], w)
                    files.append((start / expanded).resolve())
    return files
