"""The shipped potential in words: the same lines in the status, the report and final/README.txt."""

from __future__ import annotations


def shipped_lines(shipped: dict) -> list[str]:
    """Which potential final/ ships, why, and the end criteria measured with it (spot checks, MD)."""
    if not shipped:
        return []
    out = [f"shipped: {shipped['potential']}: {shipped['reason']}"]
    spot = shipped.get("spot_check")
    if spot and spot.get("force_rmse") is not None:
        e = spot.get("energy_rmse_per_atom")
        out.append(f"  spot checks of {shipped['stage']}/ ({spot['n_structures']} frames, "
                   f"{shipped.get('spot_check_frames') or '-'}): F {1000 * spot['force_rmse']:.2f} meV/Å "
                   f"(tolerance {1000 * spot['force_tolerance']:.2f}), E {'-' if e is None else f'{1000 * e:.3f}'} "
                   f"meV/atom (tolerance {1000 * spot['energy_tolerance']:.3f}): {'ok' if spot['passed'] else 'FAIL'}")
    md = shipped.get("md_stability")
    if md:
        out.append("  " + md_stability_text(shipped["stage"], md))
    return out


def md_stability_text(stage: str, md: dict) -> str:
    g, bound = md.get("max_gamma"), md.get("gamma_threshold")
    complete = not md.get("exploded") and (md.get("steps_run") or 0) >= (md.get("steps") or 0)
    ok = complete and (g is None or bound is None or g <= bound)
    gamma = "-" if g is None else f"{g:.2f}"
    bound_text = "-" if bound is None else f"{bound:.3g}"
    why = md.get("gamma_threshold_reason") or ""
    calibrated = " (calibrated for its basis)" if why and not why.startswith("properties.") else ""
    return (f"MD stability of {stage}/: {md.get('steps_run')}/{md.get('steps')} steps at {md.get('temperature_K')} K, "
            f"max gamma {gamma} (bound {bound_text}{calibrated}): {'ok' if ok else 'FAIL'}"
            + (f" ({md['exploded']})" if md.get("exploded") else ""))


def format_status(state: WorkflowState, as_json: bool = False, workdir: str | Path | None = None,
                  rcfg=None) -> str:
    """The status table. With `workdir` (the run directory) it also shows the initial stage's
    wall times and, if the run's config is found (or `rcfg` given), the conditions not reported
    yet and the jobs a rerun starts with."""
    if as_json:
        return json.dumps(state.model_dump(mode="json"), indent=2)
    n_conditions, resume, init_times = None, None, None
    if workdir is not None:
        init_times = initial_stage_times(workdir)
        if rcfg is None:
            from .data import load_run_config

            try:
                rcfg = load_run_config(workdir)
            except Exception:  # noqa: BLE001 - the table must print even with a broken config
                rcfg = None
        if rcfg is not None:
            from ..plan import build_plan

            n_conditions = len(rcfg.cfg.exploration.conditions)
            plan = build_plan(rcfg, workdir)
            resume = None if plan.finished else plan.resume
    header, rows = status_rows(state, n_conditions, init_times)
    out = summary_lines(state)
    if init_times and init_times.get("setup") is not None:
        out.append(f"initial data: setup (structures, reference energies, validation set) {init_times['setup']:.1f} s")
    if resume:
        out.append(f"next: {resume}")
    out += [""] + render(header, rows)
    out += ["", "halted/ran: exploration conditions that halted / ran their budget (+N: not finished yet); "
            "halt step: earliest halt; times: seconds summed over the stage's Snakemake jobs"]
    return "\n".join(out)
