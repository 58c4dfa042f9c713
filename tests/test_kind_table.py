"""The per-kind held-out error table (issue 29) from synthetic records, and the grouped metrics.

The records are `synthetic`: written here by hand in the shape `TrainRecord.validation` has on disk,
with round numbers so the expected cells are computed by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_autopipec.core.metrics import rmse_metrics
from mlip_autopipec.domain_models.records import RmseMetrics
from mlip_autopipec.domain_models.state import IterationRecord, Status, WorkflowState
from mlip_autopipec.report.table import format_status, kind_rows


def metrics(f_mev: float, e_mev: float, n: int = 6) -> dict:
    return {"energy_rmse_per_atom": e_mev / 1000, "force_rmse": f_mev / 1000, "n_structures": n,
            "pressure_rmse_gpa": None}


def synthetic_validation(kinds: dict[str, tuple[float, float]], whole: tuple[float, float]) -> dict:
    v = metrics(*whole, n=6 * len(kinds))
    v["by_kind"] = {k: metrics(*fe) for k, fe in kinds.items()}
    return RmseMetrics.model_validate(v).model_dump()  # the record's shape, checked


def synthetic_state() -> WorkflowState:
    init = synthetic_validation({"fcc": (20.0, 3.0), "surface_111": (60.0, 9.0)}, (45.0, 6.0))
    it0 = synthetic_validation({"fcc": (4.0, 1.0), "surface_111": (11.5, 2.5)}, (8.6, 1.9))
    return WorkflowState(status=Status.CONVERGED, iteration=0, initial={"validation": init},
                         history=[IterationRecord(iteration=0, validation=it0)])


def test_one_column_per_kind_and_the_worst():
    header, rows = kind_rows(synthetic_state())
    assert header == ["stage", "all", "worst", "fcc", "surface_111"]
    assert rows == [["init", "45.0 (6.0)", "surface_111 60.0", "20.0 (3.0)", "60.0 (9.0)"],
                    ["000", "8.6 (1.9)", "surface_111 11.5", "4.0 (1.0)", "11.5 (2.5)"]]


def test_no_kinds_no_table():
    plain = WorkflowState(status=Status.CONVERGED, iteration=0, initial={"validation": metrics(5.0, 1.0)})
    assert kind_rows(plain) == ([], [])
    assert "portfolio kind" not in format_status(plain)


def test_status_prints_the_table():
    text = format_status(synthetic_state())
    assert "surface_111 11.5" in text and "portfolio kind" in text




def labelled(kind: str, force: float) -> Atoms:
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]])
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=np.full((2, 3), force))
    atoms.info["kind"] = kind
    return atoms


def test_rmse_grouped_by_kind():
    from ase.calculators.calculator import Calculator, all_changes

    class Zero(Calculator):  # predicts E = -1 eV and zero forces
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results = {"energy": -1.0, "forces": np.zeros((len(atoms), 3))}

    frames = [labelled("a", 0.1), labelled("a", 0.1), labelled("b", 0.3)]
    out = rmse_metrics(Zero(), frames, group_by="kind")
    assert out["force_rmse"] == pytest.approx(np.sqrt((2 * 0.01 + 0.09) / 3))
    assert out["by_kind"]["a"]["force_rmse"] == pytest.approx(0.1)
    assert out["by_kind"]["b"]["force_rmse"] == pytest.approx(0.3)
    assert out["by_kind"]["b"]["n_structures"] == 1
    assert "by_kind" not in rmse_metrics(Zero(), frames)
