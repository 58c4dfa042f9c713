"""properties/registry.py: every group of the config is registered once, applies where the docs say,
and analyses every calculation it asks for; an unknown group is refused when the config loads."""

import numpy as np
import pytest
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.cluster import Icosahedron

from mlip_autopipec.core.errors import ConfigError
from mlip_autopipec.domain_models.config import config_from_dict
from mlip_autopipec.domain_models.properties_config import ALL_GROUPS, PropertiesConfig
from mlip_autopipec.domain_models.property_records import PropertyRecord
from mlip_autopipec.properties import TASK
from mlip_autopipec.properties.evaluate import evaluate
from mlip_autopipec.properties.registry import GROUPS, _register, applicable, quantity
from mlip_autopipec.properties.system import PropertySystem
from mlip_autopipec.properties.vibrations import FREQUENCIES

# small settings: every group still has all its kinds of task
PCFG = PropertiesConfig(eos_points=5, elastic_components=[0, 3], phonon_supercell=(2, 2, 2), slab_layers=3,
                        vacancy_supercell=(1, 1, 1), fmax=0.05)


def fcc_cu():
    return PropertySystem("bulk", bulk("Cu", "fcc", a=3.6), bulk("Cu", "fcc", a=3.6, cubic=True), "Cu", "fcc", 3.6)


def slab():
    s = fcc111("Cu", size=(1, 1, 3), a=3.6, vacuum=5.0)
    s.calc = None
    system = PropertySystem("slab", s, s)
    system.bulk_reference = bulk("Cu", "fcc", a=3.6)
    return system


def cluster():
    c = Icosahedron("Cu", 2)
    c.rattle(0.05, seed=3)
    return PropertySystem("cluster", c, c)


def test_every_group_of_the_config_is_registered_once():
    assert list(GROUPS) != [] and sorted(GROUPS) == sorted(ALL_GROUPS)
    assert all(name == g.name for name, g in GROUPS.items())
    assert len({id(g) for g in GROUPS.values()}) == len(ALL_GROUPS)
    with pytest.raises(RuntimeError, match="'eos' registered twice"):
        _register(*GROUPS.values(), GROUPS["eos"])
    with pytest.raises(RuntimeError, match=r"without code: \['vibrations'\]"):
        _register(*(g for g in GROUPS.values() if g.name != "vibrations"))


def test_an_unknown_group_in_the_config_is_refused_naming_the_field(tmp_path):
    raw = {"structures": [{"kind": "bulk", "element": "Cu", "crystal": "fcc"}],
           "properties": {"include": ["eos", "phonon"]}}
    with pytest.raises(ConfigError, match=r"properties\.include\.1: Input should be .*'phonons'"):
        config_from_dict(raw, tmp_path / "config.yaml")


def test_groups_apply_where_the_docs_say():
    """docs/properties.md: bulk (any lattice) eos, elastic, vacancy, phonons, md_stability, surface
    only for fcc; slab relaxation, surface; cluster relaxation, vibrations (in the order of include)."""
    bcc = PropertySystem("bulk", bulk("Fe", "bcc", a=2.87), bulk("Fe", "bcc", a=2.87, cubic=True), "Fe", "bcc", 2.87)
    everything = list(reversed(ALL_GROUPS))
    assert applicable(fcc_cu(), everything) == ["md_stability", "phonons", "surface", "vacancy", "elastic", "eos"]
    assert applicable(bcc, everything) == ["md_stability", "phonons", "vacancy", "elastic", "eos"]
    assert applicable(slab(), everything) == ["relaxation", "surface"]
    assert applicable(cluster(), everything) == ["vibrations", "relaxation"]
    assert applicable(fcc_cu(), ["eos"]) == ["eos"]


def _perturbed(atoms):
    """The same calculation with different results: energy, forces, stress, positions and any
    frequencies changed, so whatever the analysis reads of it changes."""
    out = atoms.copy()
    out.positions += 1e-3
    results = {"energy": atoms.get_potential_energy() + 0.05, "forces": atoms.get_forces() * 1.1 + 0.01}
    if "stress" in atoms.calc.results:
        results["stress"] = atoms.calc.results["stress"] * 1.1 + 1e-3
    out.calc = SinglePointCalculator(out, **results)
    if FREQUENCIES in atoms.info:
        out.info[FREQUENCIES] = np.asarray(atoms.info[FREQUENCIES]) * 1.1
    return out


def _analysis(group, results, system):
    try:
        values, details = group.analyze(results, system, PCFG)
    except (KeyError, ValueError, np.linalg.LinAlgError) as exc:
        return f"failed: {type(exc).__name__}"
    return repr((values, details))


@pytest.mark.parametrize("system", [fcc_cu, slab, cluster], ids=["bulk", "slab", "cluster"])
def test_each_declared_task_is_analysed(system):
    """Per group: its tasks computed (EMT), analysed; then each task's result changed in turn must
    change the analysis (or make it fail): no calculation is asked for and left unread."""
    system = system()
    for name in applicable(system, ALL_GROUPS):
        group = GROUPS[name]
        tasks = group.tasks(system, PCFG)
        if name == "md_stability":  # a job of its own (md_stability.py), no tasks here
            assert tasks == []
            continue
        ids = [t.info[TASK] for t in tasks]
        assert tasks and len(set(ids)) == len(ids), name
        results = {t.info[TASK]: evaluate(t, EMT(), PCFG.fmax, PCFG.max_relax_steps) for t in tasks}
        reference = _analysis(group, results, system)
        assert not reference.startswith("failed"), (name, reference)
        values, details = group.analyze(results, system, PCFG)
        for value in values:  # every value is judged by a declared quantity
            assert quantity(value).unit, value
        for task in ids:
            changed = {**results, task: _perturbed(results[task])}
            assert _analysis(group, changed, system) != reference, f"{name}: {task} is not read"
        rows = group.records(details, details, PCFG)  # a side against itself: every comparison row passes
        assert all(isinstance(r, PropertyRecord) and r.ok and group.quantity(r.name) for r in rows), name
