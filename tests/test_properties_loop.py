"""`convergence.properties` through a whole real loop (EMT oracle, linear ACE, ASE MD, MaxVol).

The cheapest honest setup: one short, cold exploration that never halts (gamma-converged from
iteration 0 on), no spot checks, a small fixed basis, the equation of state only, and a
the default tolerances: the initial potential, trained on rattled cells at one volume only, misses
the lattice constant (0.8 % against 0.5 %); a potential that has seen three EOS cells meets it. So the loop can
only go on because of the property, the selector can only get property structures, and the loop
can only end because training on them fixed the property.
"""

import json

import pytest
import yaml

from conftest import REPO, run, snakemake_cmd
from mlip_autopipec.core.io import read_structures
from mlip_autopipec.domain_models.config import load_config
from mlip_autopipec.plan import PROPERTY_RULES, build_plan

CONFIG = {
    "seed": 3,
    "max_cycles": 2,
    "patience": 3,
    "initial_exploration_steps": 30,
    "structures": [{"kind": "bulk", "element": "Cu", "crystal": "fcc", "cubic": True, "supercell": [2, 2, 2]}],
    # one volume only (and no derived wide cell: its strained copies would add volumes)
    "initial_data": {"n_rattled": 6, "rattle_stdev": 0.05, "strains": [], "wide_cell": False},
    "exploration": {"conditions": [{"name": "t300", "temperature": 300}], "gamma_select": 50.0,
                    "gamma_halt": 100.0},  # never halts: gamma-converged at once
    "dynamics": {"kind": "ase_md"},
    "selection": {"kind": "maxvol", "n_select": 3},
    "oracle": {"kind": "emt"},
    "trainer": {"kind": "linear_ace", "basis": {"cutoff": 5.0, "number_of_functions_per_element": 20,
                                                "max_order": 2}, "ladder": None},
    "labeling": {"structures_per_job": 20},
    "convergence": {"spot_checks": 0, "properties": True, "property_candidates": 5},
    "properties": {"enabled": True, "include": ["eos"]},  # default tolerances: a0 0.5 %, B0 8 %
}


def _records(path):
    return {r["name"]: r for r in json.loads(path.read_text())}


@pytest.mark.slow
def test_out_of_tolerance_property_keeps_the_loop_going_until_training_fixes_it(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    run(snakemake_cmd("--snakefile", REPO / "Snakefile", "--configfile", "config.yaml", "--cores", "2",
                      "converged.flag", "final/properties.json"), cwd=tmp_path, timeout=600)

    # iteration 0: every exploration ran through, but the initial potential's lattice constant is off
    first = json.loads((tmp_path / "iter_000" / "exploration.json").read_text())
    assert first["action"] == "continue" and first["progress"] == 1.0
    assert "out of tolerance (lattice_constant" in first["reason"]
    initial = _records(tmp_path / "initial" / "properties" / "properties.json")
    assert not initial["lattice_constant"]["ok"] and initial["bulk_modulus"]["ok"]

    # ... so the selector got the EOS cells the potential missed most, and they were labelled
    offer = read_structures(tmp_path / "iter_000" / "property_offer.xyz")
    assert len(offer) == 5 and all(a.info["generator"].startswith("property:eos/") for a in offer)
    scores = [a.info["property_disagreement"] for a in offer]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    selected = read_structures(tmp_path / "iter_000" / "selected.xyz")
    assert len(selected) == 3 and all(a.info["generator"].startswith("property:eos/") for a in selected)
    labels = read_structures(tmp_path / "iter_000" / "labels.extxyz")
    assert sorted(len(a) for a in labels) == [4, 4, 4]  # the 4-atom conventional EOS cells

    # iteration 1: the potential trained on them is within tolerance -> the loop ends, converged
    last = json.loads((tmp_path / "iter_001" / "exploration.json").read_text())
    assert last["action"] == "converged", last["reason"]
    assert (tmp_path / "converged.flag").is_file() and not (tmp_path / "iter_002").exists()
    final = _records(tmp_path / "final" / "properties.json")
    assert final == _records(tmp_path / "iter_000" / "properties" / "properties.json")
    assert all(r["ok"] for r in final.values())
    assert final["lattice_constant"]["rel_error"] < initial["lattice_constant"]["rel_error"] / 10

    # `mlip-runner plan` counted exactly the property jobs Snakemake ran, and sees the run finished
    plan = build_plan(load_config(tmp_path / "config.yaml"), tmp_path, with_report=False)
    assert plan.finished and plan.property_potentials == ["initial", "iter_000"]
    # 7 EOS cells, and the oracle's equilibrium relaxation they are built around
    assert plan.property_calculations == {"calculations": 7 + 1, "relaxations": 1, "hessians": 0}
    for rule in (*PROPERTY_RULES, "property_offer", "final_properties"):
        planned = sum(s.jobs.get(rule, 0) for s in plan.stages)
        assert planned == len(list((tmp_path / "logs" / "benchmark" / rule).glob("*.tsv"))), rule
