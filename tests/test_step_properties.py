"""steps/properties.py called directly: a killed property label job resumes from its cache, the
disagreement ranking, a failed oracle calculation recorded in its property (the property calculations
themselves are tested in test_properties.py, whose EMT helpers these tests share)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ase.calculators.emt import EMT

from mlip_autopipec.core.io import read_json, read_structures, write_structures
from mlip_autopipec.domain_models.config import config_from_dict
from mlip_autopipec.domain_models.properties_config import PropertiesConfig
from mlip_autopipec.domain_models.property_records import read_property_records
from mlip_autopipec.properties import TASK
from mlip_autopipec.properties.system import build_tasks
from test_properties import StretchedEMT, compute, cu_system


def test_killed_property_label_job_resumes_without_recomputing(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(textwrap.dedent("""
        structures: [{kind: bulk, element: Cu, crystal: fcc, a: 3.61}]
        oracle: {kind: emt}
        labeling: {structures_per_job: 20}
        properties: {enabled: true, include: [eos, vacancy]}
    """))
    rcfg = config_from_dict(__import__("yaml").safe_load(cfg.read_text()), cfg)
    from mlip_autopipec.properties.system import property_system

    tasks = build_tasks(rcfg.cfg.properties, property_system(rcfg))
    assert len(tasks) == 9 and tasks[-1].info["prop_relax"]
    write_structures(tmp_path / "tasks.extxyz", tasks)
    code = ("import sys; from mlip_autopipec.domain_models.config import load_config; "
            "from mlip_autopipec.steps.properties import run_property_label_chunk as r; "
            "r(load_config('config.yaml'), 'tasks.extxyz', 0, 'out.extxyz', 'out.json', 'cache')")
    env = {**os.environ, "MLIP_CRASHPOINT": "property_label:after_one"}
    killed = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, start_new_session=True,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr[-2000:]
    cached = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.extxyz")}
    assert len(cached) == 1 and not (tmp_path / "out.json").exists()

    env.pop("MLIP_CRASHPOINT")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    record = read_json(tmp_path / "out.json")
    assert record["n_computed_now"] == 8 and record["n_labelled"] == 9 and not record["failures"]
    for p, mtime in cached.items():
        assert p.stat().st_mtime_ns == mtime
    labelled = {a.info[TASK]: a for a in read_structures(tmp_path / "out.extxyz")}
    relaxed = labelled["vacancy/defect"]
    assert np.abs(relaxed.get_forces()).max() < 0.01  # the oracle relaxed it (fmax default 0.01)
    assert len(list((tmp_path / "cache" / "relax").glob("*.extxyz"))) == 1

def test_disagreement_ranks_what_the_potential_gets_wrong():
    from mlip_autopipec.steps.properties import disagreement

    pcfg = PropertiesConfig(include=["eos"])
    labelled = compute(pcfg, cu_system(), EMT())
    assert disagreement(labelled["eos/03"], EMT()) == pytest.approx(0, abs=1e-9)
    wrong = StretchedEMT(1.02)  # its a0 is larger: the compressed cells are the furthest off
    scores = {k: disagreement(a, wrong) for k, a in labelled.items()}
    assert max(scores, key=scores.get) == "eos/00" and scores["eos/00"] > 1.5 * scores["eos/06"] > 0

def test_a_failed_oracle_calculation_fails_its_property_and_names_the_reason(tmp_path):
    import yaml

    from mlip_autopipec.core.io import write_json
    from mlip_autopipec.domain_models.property_files import PropertyLabelChunkRecord, PropertyLabelFailure
    from mlip_autopipec.steps.properties import run_properties

    raw = {"structures": [{"kind": "bulk", "element": "Cu", "crystal": "fcc", "a": 3.61}],
           "properties": {"enabled": True, "include": ["eos", "vacancy"]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    rcfg = config_from_dict(raw, tmp_path / "config.yaml")
    pcfg = rcfg.cfg.properties
    labelled = compute(pcfg, cu_system(), EMT())
    write_structures(tmp_path / "potential.extxyz", list(labelled.values()))
    write_structures(tmp_path / "oracle.extxyz", [a for k, a in labelled.items() if k != "vacancy/defect"])
    failure = PropertyLabelFailure(index=8, task="vacancy/defect", hash="0" * 16, reason="SCF not converged",
                                   wall_time_s=1.0, oracle="emt")
    write_json(tmp_path / "oracle.json", PropertyLabelChunkRecord(chunk=0, indices=list(range(9)), n_labelled=8,
                                                                  failures=[failure], n_computed_now=9,
                                                                  wall_time_s=2.0).model_dump())
    records = run_properties(rcfg, "iter_000", str(tmp_path / "potential.extxyz"), [str(tmp_path / "oracle.extxyz")],
                             [str(tmp_path / "oracle.json")], None, str(tmp_path / "p.json"), str(tmp_path / "d.json"))
    by_name = {r.name: r for r in records}
    assert by_name["lattice_constant"].ok is True
    assert by_name["vacancy"].ok is False and "vacancy/defect" in by_name["vacancy"].error
    assert by_name["vacancy_formation_energy"].oracle is None and by_name["vacancy_formation_energy"].ok is False
    assert read_json(tmp_path / "d.json")["oracle_failures"][0]["reason"] == "SCF not converged"
    assert read_property_records(tmp_path / "p.json") == records


def test_cluster_vibrations_are_one_cached_oracle_calculation_and_cheap_mode_skips_the_relaxation(tmp_path):
    """The oracle's relaxation + Hessian of a cluster is one label job entry, cached like a label;
    in cheap mode the oracle's Hessian is taken at the geometry the potential relaxed to."""
    from mlip_autopipec.properties.evaluate import evaluate
    from mlip_autopipec.steps.properties import _clean, run_property_label_chunk
    from test_properties import cu13

    raw = {"structures": [{"kind": "file", "path": "cu13.extxyz"}], "oracle": {"kind": "emt"},
           "labeling": {"structures_per_job": 5}, "properties": {"enabled": True, "include": ["vibrations"]}}
    write_structures(tmp_path / "cu13.extxyz", [cu13()])
    rcfg = config_from_dict(raw, tmp_path / "config.yaml")
    from mlip_autopipec.properties.system import property_system

    (task,) = build_tasks(rcfg.cfg.properties, property_system(rcfg))
    from mlip_autopipec.properties.jobs import jobs_per_potential, oracle_calculations

    rcfg_md = config_from_dict({**raw, "properties": {"enabled": True}}, tmp_path / "config.yaml")
    assert "md_stability" not in jobs_per_potential(rcfg_md)  # a bulk-only check: no MD of a repeated cluster
    assert oracle_calculations(rcfg_md) == {"calculations": 2, "relaxations": 2, "hessians": 1}
    cheap = _clean(evaluate(task, EMT(), 0.01, 200))  # what run_property_tasks hands the oracle in cheap mode
    cheap.info["prop_relax"] = False
    write_structures(tmp_path / "tasks.extxyz", [task, cheap])
    args = (rcfg, str(tmp_path / "tasks.extxyz"), 0, str(tmp_path / "o.extxyz"), str(tmp_path / "o.json"),
            str(tmp_path / "cache"))
    record = run_property_label_chunk(*args)
    assert record.n_labelled == 2 and record.n_computed_now == 2
    full, single = read_structures(tmp_path / "o.extxyz")
    # no relaxation: one single point and 6N displacements
    assert full.info["oracle_calls"] > single.info["oracle_calls"] == 1 + 6 * 13
    reference = evaluate(task, EMT(), 0.01, 200).info["vib_frequencies_THz"]  # the same calculation in-process
    assert np.asarray(full.info["vib_frequencies_THz"]) == pytest.approx(reference, abs=1e-5)
    assert np.asarray(single.info["vib_frequencies_THz"]) == pytest.approx(reference, abs=1e-5)
    assert len(list((tmp_path / "cache" / "vib").glob("*.extxyz"))) == 2
    assert run_property_label_chunk(*args).n_computed_now == 0


def test_oracle_job_builds_its_tasks_from_the_config_without_waiting_for_the_potential(tmp_path):
    """Outside cheap mode the oracle's structures are the config's task list: the job needs no
    tasks file, and computes the same labels as from the file `property_tasks` writes."""
    from mlip_autopipec.properties.system import property_system
    from mlip_autopipec.steps.properties import _clean, run_property_label_chunk

    raw = {"structures": [{"kind": "bulk", "element": "Cu", "crystal": "fcc", "a": 3.61}], "oracle": {"kind": "emt"},
           "labeling": {"structures_per_job": 5}, "properties": {"enabled": True, "include": ["eos", "vacancy"]}}
    rcfg = config_from_dict(raw, tmp_path / "config.yaml")
    tasks = [_clean(t) for t in build_tasks(rcfg.cfg.properties, property_system(rcfg))]
    write_structures(tmp_path / "tasks.extxyz", tasks)
    out = {}
    for name, tasks_file in (("config", None), ("file", str(tmp_path / "tasks.extxyz"))):
        rec = run_property_label_chunk(rcfg, tasks_file, 1, str(tmp_path / f"{name}.extxyz"),
                                       str(tmp_path / f"{name}.json"), str(tmp_path / f"cache_{name}"))
        assert rec.indices == [5, 6, 7, 8] and rec.n_computed_now == 4
        out[name] = {a.info[TASK]: a.get_potential_energy() for a in read_structures(tmp_path / f"{name}.extxyz")}
    assert list(out["config"]) == ["eos/05", "eos/06", "vacancy/bulk", "vacancy/defect"]
    assert out["config"] == pytest.approx(out["file"], abs=1e-9)
