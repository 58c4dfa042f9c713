"""Physical properties of a potential, computed on the same structures as with the oracle.

Each property module has two halves: `tasks(...)` builds the structures to compute (each an Atoms
tagged with `info['prop_task']` and `info['prop_relax']`), and `analyze(results)` turns the
computed structures (task id -> Atoms with energy/forces/stress) into values. The same `analyze`
runs on the potential's and on the oracle's results, so the two columns differ only by who computed
the energies. `registry.py` holds one group object per config name that binds a module's two halves
to the config and the structure; the rest of the stage asks it instead of naming groups.
"""

TASK = "prop_task"  # info key: unique id of a property calculation, e.g. "eos/03"
RELAX = "prop_relax"  # info key: relax the positions (fixed cell) before reporting the results
EV_PER_A3_TO_GPA = 160.21766208  # 1 eV/Å^3 in GPa
EV_PER_A2_TO_J_PER_M2 = 16.02176634  # 1 eV/Å^2 in J/m^2


def tag(atoms, task: str, relax: bool = False):
    """Mark `atoms` as the calculation `task` (returns it, for chaining)."""
    atoms.info[TASK] = task
    atoms.info[RELAX] = bool(relax)
    return atoms
