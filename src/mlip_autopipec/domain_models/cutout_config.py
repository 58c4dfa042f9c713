"""How structures too large for the oracle are cut into small ones (labeling.max_atoms)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._strict import Strict


class CutoutConfig(Strict):
    """Cut-outs of large structures: a sphere around an extrapolative (or, for the initial data, a
    distinctive) atom, labelled as a periodic box (`box`, healed by the current potential) or a
    cluster in vacuum (`cluster`). Only the forces of the core atoms are trained."""

    kind: Literal["box", "cluster"] = Field(
        "box", description="box: periodic box holding the sphere, its outside relaxed by the current potential "
        "(metals, ionic and covalent crystals); cluster: the sphere alone in vacuum (molecular systems, or "
        "covalent ones with a passivation hook).",
    )
    radius: float | None = Field(
        None, gt=0, description="Radius (Å) of the sphere copied unchanged around the centre atom; null: the "
        "largest whose cut-out has at most labeling.max_atoms atoms.",
    )
    core_margin: float | None = Field(
        None, ge=0, description="Distance (Å) between the core (atoms whose forces are trained) and the edge "
        "of the sphere; null: 2 x the trainer's cutoff + oracle_buffer, so that neither the ACE force nor the "
        "oracle's force on a core atom can see the cut (capped at half the radius when max_atoms cannot afford it).",
    )
    oracle_buffer: float = Field(
        1.0, ge=0, description="Extra margin (Å) for the oracle's own locality (electronic screening) added "
        "to 2 x cutoff when core_margin is null.",
    )
    per_structure: int = Field(
        4, ge=1, description="Most cut-outs made from one large structure (highest gamma first; for the "
        "initial data, farthest-point sampled environments).",
    )
    vacuum: float = Field(8.0, gt=0, description="Vacuum (Å) between a cluster and its periodic images.")
    min_distance: float = Field(
        1.5, gt=0, description="Box: atoms outside the sphere closer than this (Å) to another atom or image "
        "are removed before healing.",
    )
    relax_steps: int = Field(
        60, ge=0, description="Box: FIRE steps relaxing the atoms outside the sphere with the current "
        "potential (0: no healing; the initial data has no potential and is never relaxed).",
    )
    relax_fmax: float = Field(0.05, gt=0, description="Box: relaxation stops below this force (eV/Å).")
    passivate: str | None = Field(
        None, description="Cluster: 'module:function' called as f(cluster, parent, centre_index) -> Atoms "
        "to cap cut bonds (covalent systems); added atoms are never trained.",
    )
