"""`mlip-runner status`: one row per iteration, read from the derived state."""

from __future__ import annotations

import json

from ..domain_models.state import WorkflowState


def _fmt(value, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def _mev(val: dict | None, key: str) -> str:
    if not val or val.get(key) is None:
        return "-"
    return f"{1000 * val[key]:.2f}"


def format_status(state: WorkflowState, as_json: bool = False) -> str:
    if as_json:
        return json.dumps(state.model_dump(mode="json"), indent=2)
    header = ["iter", "explorations", "halt step", "max gamma", "cand", "sel", "lab", "fail", "data",
              "E meV/at", "F meV/Å", "decision", "time s"]
    rows = []
    for rec in state.history:
        n_cond = len(rec.conditions)
        rows.append([
            f"{rec.iteration:03d}",
            f"{len(rec.halted_conditions)}/{n_cond} halted" if n_cond else "-",
            _fmt(rec.halt_step),
            _fmt(rec.max_gamma, ".2f"),
            _fmt(rec.n_candidates), _fmt(rec.n_selected), _fmt(rec.n_labelled), _fmt(rec.n_failed),
            _fmt(rec.dataset_size),
            _mev(rec.validation, "energy_rmse_per_atom"), _mev(rec.validation, "force_rmse"),
            rec.action.value if rec.action else "-",
            f"{sum(rec.timings_s.values()):.1f}" if rec.timings_s else "-",
        ])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    out = [f"status: {state.status.value}  iteration: {state.iteration}  potential: {state.current_potential or '-'}"]
    if state.message:
        out.append(f"        {state.message}")
    init = state.initial
    if init.get("n_labelled") is not None:
        out.append(f"initial: {init.get('n_labelled')} labelled, {init.get('n_failed') or 0} failed"
                   + (f", validation E {_mev(init.get('validation'), 'energy_rmse_per_atom')} meV/atom, "
                      f"F {_mev(init.get('validation'), 'force_rmse')} meV/Å" if init.get("validation") else ""))
    out += ["", line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
    return "\n".join(out)
