"""What the properties are computed on, and which properties apply to it.

A bulk spec gives the pristine crystal (its substitutions and vacancies are for exploring, not for
the reference properties); a structure file is classified by its periodicity as written in the
file: periodic in 3 directions = bulk crystal, in 2 = slab, in none = cluster. Each group says
itself which of these it applies to (`registry.py`, `applies`):

  bulk (any lattice): eos, elastic, vacancy, phonons, md_stability; surface only for fcc
  slab:               relaxation (the relaxed geometry, potential against oracle), surface (its
                      surface energy against a bulk reference, see `surface.py`)
  cluster:            relaxation, vibrations (frequencies of the relaxed cluster)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from ..core.errors import StructureError
from ..domain_models.properties_config import SURFACE
from ..sampling.structures import read_first_frame
from .registry import GROUPS, applicable

CUBIC = {"fcc", "bcc", "diamond", "sc", "rocksalt", "zincblende"}


@dataclass
class PropertySystem:
    kind: str  # bulk | slab | cluster
    primitive: Atoms  # smallest cell (EOS, elastic, phonons); the structure itself for slabs/clusters
    conventional: Atoms  # cell repeated for the vacancy and the MD (cubic cell where one exists)
    element: str | None = None
    crystal: str | None = None  # ase.build.bulk lattice name; None for a structure file
    a: float | None = None  # lattice constant of `primitive` and `conventional`, Å (None: from a file)
    bulk_reference: Atoms | None = None  # a slab's surface-energy reference (None: not needed)

    @property
    def cubic(self) -> bool:
        return self.crystal in CUBIC

    def groups(self, include) -> list[str]:
        """The property groups that apply, in the order of `include`."""
        return applicable(self, include)

    def cell(self, which: str) -> Atoms:
        return self.conventional if which == "conventional" else self.primitive

    @property
    def has_equilibrium(self) -> bool:
        """Bulk crystals relax cell and positions before their properties (`equilibrium.py`);
        slabs and clusters relax their positions in their own tasks."""
        return self.kind == "bulk"

    def at_equilibrium(self, relaxed: Atoms, which: str) -> "PropertySystem":
        """This system with `cell(which)` replaced by `relaxed` (the model's equilibrium) and the
        other cell deformed by the same strain; `a` scaled with the first lattice vector."""
        from dataclasses import replace

        from .equilibrium import deformation, deformed

        ref = self.cell(which)
        f = deformation(ref, relaxed)
        new = relaxed.copy()
        new.calc = None
        new.info = {}
        if self.primitive is self.conventional:  # a structure file: one cell
            prim = conv = new
        elif which == "conventional":
            prim, conv = deformed(self.primitive, f), new
        else:
            prim, conv = new, deformed(self.conventional, f)
        a = self.a
        if a is not None:
            a = float(a * np.linalg.norm(ref.cell[0] @ f) / np.linalg.norm(ref.cell[0]))
        return replace(self, primitive=prim, conventional=conv, a=a)

    def relax_ions(self, setting: str) -> bool:
        if setting == "auto":
            return len(self.primitive) > 1
        return setting == "always"


def property_system(rcfg) -> PropertySystem:
    from ase.build import bulk

    k = rcfg.cfg.properties.structure
    spec = rcfg.cfg.structures[k]
    if spec.kind == "bulk" or (spec.kind == "portfolio" and spec.part == "bulk"):  # the pristine crystal
        a_spec = rcfg.cfg.properties.a or spec.a
        try:
            prim = bulk(spec.element, spec.crystal, a=a_spec)
            conv = bulk(spec.element, spec.crystal, a=a_spec, cubic=spec.crystal in CUBIC)
        except (ValueError, KeyError, RuntimeError, NotImplementedError) as exc:
            raise StructureError(f"properties.structure={k}: ase.build.bulk failed: {exc} (set `a:` of "
                                 f"structures[{k}])") from None
        a = a_spec if a_spec is not None else float(conv.cell.lengths()[0])
        return PropertySystem("bulk", prim, conv, spec.element, spec.crystal, a)
    atoms = read_first_frame(Path(rcfg.resolve(spec.path)), spec.index)
    atoms.calc = None
    n_periodic = int(atoms.pbc.sum())
    kind = {3: "bulk", 2: "slab", 0: "cluster"}.get(n_periodic)
    if kind is None:
        raise StructureError(f"structures[{k}].path: periodic in {n_periodic} direction(s); properties "
                             "need a bulk crystal (3), a slab (2) or a cluster (0): fix `pbc` in the file")
    system = PropertySystem(kind, atoms, atoms)
    if SURFACE in system.groups(rcfg.cfg.properties.include):
        system.bulk_reference = surface_reference(rcfg, atoms)
    return system


def surface_reference(rcfg, slab: Atoms) -> Atoms:
    """The bulk crystal whose energy per formula unit a slab's surface energy subtracts (see surface.py)."""
    from ase.build import bulk

    k = rcfg.cfg.properties.surface_bulk
    if k is None:
        elements = sorted(set(slab.get_chemical_symbols()))
        if len(elements) != 1:
            raise StructureError(
                f"properties: the slab of structures[{rcfg.cfg.properties.structure}] holds {', '.join(elements)}: "
                "its surface energy needs a bulk reference of that composition: set properties.surface_bulk to "
                f"its index in `structures`, or leave `{SURFACE}` out of properties.include")
        try:
            return bulk(elements[0])
        except (ValueError, KeyError, RuntimeError, NotImplementedError) as exc:
            raise StructureError(f"properties: ASE has no reference crystal for {elements[0]} ({exc}): set "
                                 "properties.surface_bulk to the index of a bulk structure") from None
    spec = rcfg.cfg.structures[k]
    if spec.kind == "bulk" or (spec.kind == "portfolio" and spec.part == "bulk"):
        return bulk(spec.element, spec.crystal, a=spec.a)
    ref = read_first_frame(Path(rcfg.resolve(spec.path)), spec.index)
    ref.calc = None
    if not ref.pbc.all():
        raise StructureError(f"properties.surface_bulk={k}: structures[{k}] is not periodic in 3 directions: "
                             "the surface-energy reference must be a bulk crystal")
    return ref


def build_tasks(pcfg, system: PropertySystem) -> list[Atoms]:
    """Every calculation the applicable properties need (the same list for potential and oracle).

    Tasks with identical structures (e.g. the EOS point at V and the surface's bulk reference)
    stay separate tasks; the oracle's cache computes them once.
    """
    return [t for g in system.groups(pcfg.include) for t in GROUPS[g].tasks(system, pcfg)]
