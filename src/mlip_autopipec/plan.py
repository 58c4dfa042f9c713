"""The whole-loop preview that `snakemake --dry-run` cannot give.

Snakemake's dry run of a checkpoint loop shows only the jobs up to the next checkpoint and marks
the rest `<TBD>`. This module counts, from the config alone, the jobs every stage runs (one
`explore` per condition, `label` jobs in chunks of `labeling.structures_per_job`, ...), checks
which of them are already done from the files on disk, and prints the bounds of the loop
(`max_cycles`, `patience`) and where a rerun resumes.

`n_label_jobs` is the single place that sizes the label scatter: `rules/common.smk` uses it too,
so the plan and the DAG Snakemake builds cannot disagree. The same holds for the properties stage
(`properties.jobs`, used by `rules/properties_inputs.smk`): its jobs per potential and its oracle
calculations, each a labelled structure, are counted where the workflow runs them — in the iteration
whose checkpoint needs them (`convergence.properties`), else in the end stage (the final potential,
and with `properties.every` every N-th explored potential).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .core import layout as L
from .domain_models.ship import read_ship_or_none
from .domain_models.state import Action, read_decision_or_none
from .domain_models.portfolio_config import portfolio_conditions

INITIAL_RULES = ("initial_structures", "label_noise", "reference_energies", "validation_set", "label", "gather_labels", "train")
ITERATION_RULES = ("explore", "gate", "collect_halts", "candidates", "select", "label", "gather_labels", "train")
CONVERGED_RULES = ("explore", "gate")  # an iteration whose checkpoint ends the loop refines nothing
FINAL_RULES = ("finalize", "report", "final")  # final/ needs the report
PROPERTY_RULES = ("property_equilibrium", "property_tasks", "property_label", "md_stability", "properties")


# -- job counts: pure functions of the config ---------------------------------------------------
def n_label_jobs(cfg, stage: str) -> int:
    """Label jobs of a stage: fixed slots for the most structures the stage can hold
    (`n_initial_structures()` initially, `selection.n_select` (two-level: `expensive_per_iteration()`)
    or `convergence.spot_checks` per iteration), in chunks of
    `labeling.structures_per_job`; surplus slots label nothing. `cfg` is an OTFConfig."""
    if stage == L.FINAL_CHECK:  # the fresh spot checks of the potential to ship
        n = cfg.convergence.spot_checks
    else:
        n = cfg.n_initial_structures() if stage == L.INITIAL else max(cfg.expensive_per_iteration(),
                                                                      cfg.convergence.spot_checks)
    return -(-n // cfg.labeling.structures_per_job)


def cheap_label_stages(cfg, stage: str) -> list[str]:
    """Two-level labelling: the stages whose cheap labels (layout.cheap_labels) the fit of `stage` uses as
    its prior: the initial set's and every iteration's candidates' up to `stage`, as `two_level.cheap_labels`
    asks; [] in a one-level run. `rules/common.smk` asks this too, so plan and DAG agree."""
    return [s for s in L.stages_up_to(stage)
            if cfg.cheap_labels("initial" if s == L.INITIAL else "candidates")]


def cheap_validation(cfg) -> bool:
    """The cheap level labels the held-out set (its errors are reported beside the expensive level's)."""
    return cfg.cheap_labels("validation") and cfg.has_validation()


def has_validation(cfg) -> bool:
    return cfg.has_validation()


def initial_jobs(cfg) -> dict[str, int]:
    jobs = {rule: 1 for rule in INITIAL_RULES}
    if not has_validation(cfg):
        del jobs["validation_set"]
    parts = portfolio_conditions(cfg)
    if parts:  # the portfolio's held-out frames: one job per condition
        jobs = {"validation_part": len(parts), **jobs}
    jobs["label"] = n_label_jobs(cfg, L.INITIAL)
    n_cheap = bool(cheap_label_stages(cfg, L.INITIAL)) + cheap_validation(cfg)
    if n_cheap:  # two-level labelling: one cheap job for the initial set, one for the held-out set
        jobs["label_cheap"] = n_cheap
    if cfg.two_level_on():
        jobs["cheap_reference_energies"] = 1
    return jobs


def iteration_jobs(cfg, refines: bool = True, properties: dict[str, int] | None = None) -> dict[str, int]:
    """Jobs of one iteration: all of them when an exploration halts and the loop continues,
    only explore + gate when the checkpoint ends the loop there. With `convergence.properties` the
    checkpoint also waits for the explored potential's properties (`properties`: their jobs per
    potential), and a continuing iteration offers the worst property structures (`property_offer`)."""
    jobs = {rule: 1 for rule in (ITERATION_RULES if refines else CONVERGED_RULES)}
    jobs["explore"] = len(cfg.exploration.conditions)
    if refines:
        jobs["label"] = n_label_jobs(cfg, L.iter_dir(0))
        if cfg.cheap_labels("candidates"):  # two-level labelling: every candidate, one job
            jobs["label_cheap"] = 1
    if cfg.convergence.properties and properties:
        jobs.update(properties)
        if refines:
            jobs["property_offer"] = 1
    return jobs


def ship_jobs(cfg, md_stability: bool) -> dict[str, int]:
    """The check of a final fit before it ships (rules/ship.smk): fresh spot checks labelled in
    final_check/, its gamma scale, its MD stability run (when the properties stage runs one) and the
    `ship` checkpoint; {} without a final fit."""
    if not cfg.has_final_fit():
        return {}
    jobs = {"final_fit": 1, "gamma_scale": 1, "ship": 1}
    n_check = n_label_jobs(cfg, L.FINAL_CHECK)
    if n_check:
        jobs.update({"final_check_frames": 1, "label": n_check, "gather_labels": 1})
    if md_stability:
        jobs["md_stability"] = 1
    return jobs


def final_jobs(with_report: bool, properties: dict[str, int] | None = None,
               ship: dict[str, int] | None = None) -> dict[str, int]:
    """The end stage; `properties`: the property jobs run there (summed over their potentials);
    `ship`: the final fit and its check (`ship_jobs`). A final fit's MD stability run is counted once:
    it is both the check's and, when the final fit ships, its properties'."""
    jobs = {rule: 1 for rule in FINAL_RULES if with_report or rule == "finalize"}
    for rule, k in (ship or {}).items():
        jobs[rule] = jobs.get(rule, 0) + k
    if properties is not None:
        for rule, k in properties.items():
            jobs[rule] = jobs.get(rule, 0) + k
        jobs["final_properties"] = 1
    return {r: k for r, k in jobs.items() if k}


def property_stages(cfg, last_iteration: int, workdir: Path | None = None) -> list[str]:
    """Potentials whose properties the run computes if its loop ends at `last_iteration`."""
    p = cfg.properties
    if not p.enabled:
        return []
    its = range(last_iteration + 1) if cfg.convergence.properties else \
        range(0, last_iteration + 1, p.every) if p.every else []
    return list(dict.fromkeys([*(L.potential_stage_for(k) for k in its), final_stage(cfg, last_iteration, workdir)]))


def final_stage(cfg, last_iteration: int, workdir: Path | None = None) -> str:
    """The shipped potential's stage: without a final fit the one the last iteration explored with;
    with one, what the `ship` checkpoint decided (final_check/ship.json in `workdir`), and before it
    has decided the final fit (what the plan expects; if the loop's potential ships instead, its
    properties replace the final fit's)."""
    loop = L.potential_stage_for(last_iteration)
    if not cfg.has_final_fit():
        return loop
    ship = None if workdir is None else read_ship_or_none(Path(workdir) / L.SHIP_DECISION)
    return L.FINAL_FIT if ship is None else ship.shipped_stage


def end_property_stages(cfg, last_iteration: int, workdir: Path | None = None) -> list[str]:
    """Those not waited for by a checkpoint: they run in the end stage (the shipped potential's
    always, unless a checkpoint already computed its properties)."""
    stages = property_stages(cfg, last_iteration, workdir)
    if not cfg.convergence.properties:
        return stages
    shipped = final_stage(cfg, last_iteration, workdir)
    return [shipped] if shipped == L.FINAL_FIT else []


# -- what is already done: outputs on disk -----------------------------------------------------
def _exists(workdir: Path, *names: str) -> bool:
    return all((workdir / n).is_file() for n in names)


def _label_done(workdir: Path, cfg, stage: str) -> int:
    return sum(_exists(workdir, L.label_job(stage, k, "json"), L.label_job(stage, k, "extxyz"))
               for k in range(n_label_jobs(cfg, stage)))


def initial_done(cfg, workdir: Path) -> dict[str, int]:
    s = L.INITIAL
    done = {
        "initial_structures": int(_exists(workdir, L.selected(s))),
        "label_noise": int(_exists(workdir, L.LABEL_NOISE)),
        "reference_energies": int(_exists(workdir, L.REFERENCE_ENERGIES)),
        "validation_part": sum(_exists(workdir, L.validation_part(c)) for c in portfolio_conditions(cfg)),
        "validation_set": int(_exists(workdir, L.VALIDATION_FILE)),
        "label": _label_done(workdir, cfg, s),
        "gather_labels": int(_exists(workdir, L.labels(s), L.labels_failed(s))),
        "train": int(_exists(workdir, L.potential(s), L.train_record(s))),
        "label_cheap": sum(_exists(workdir, L.cheap_labels(c), L.cheap_label_record(c))
                           for c in [L.INITIAL, L.VALIDATION_DIR]),
        "cheap_reference_energies": int(_exists(workdir, L.CHEAP_REFERENCE_ENERGIES)),
    }
    return {k: v for k, v in done.items() if k in initial_jobs(cfg)}


def iteration_done(cfg, workdir: Path, n: int) -> dict[str, int]:
    s = L.iter_dir(n)
    return {
        "explore": sum(_exists(workdir, L.explore_record(n, c.name), L.explore_frames(n, c.name))
                       for c in cfg.exploration.conditions),
        "gate": int(_exists(workdir, L.decision(n))),
        "collect_halts": int(_exists(workdir, L.halt(n))),
        "candidates": int(_exists(workdir, L.candidates(n))),
        "select": int(_exists(workdir, L.selected(s))),
        "label": _label_done(workdir, cfg, s),
        "gather_labels": int(_exists(workdir, L.labels(s), L.labels_failed(s))),
        "train": int(_exists(workdir, L.potential(s), L.train_record(s))),
        **({"label_cheap": int(_exists(workdir, L.cheap_labels(s), L.cheap_label_record(s)))}
           if cfg.cheap_labels("candidates") else {}),
    }


def property_done(workdir: Path, stage: str, per_potential: dict[str, int]) -> dict[str, int]:
    done = {"property_equilibrium": int(_exists(workdir, L.oracle_equilibrium(stage, "extxyz"),
                                                L.oracle_equilibrium(stage, "json"))),
            "property_tasks": int(_exists(workdir, L.property_tasks(stage), L.property_potential_frames(stage))),
            "property_label": sum(_exists(workdir, L.property_label_job(stage, k, "extxyz"),
                                          L.property_label_job(stage, k, "json"))
                                  for k in range(per_potential.get("property_label", 0))),
            "md_stability": int(_exists(workdir, L.md_stability(stage))),
            "properties": int(_exists(workdir, L.stage_properties(stage), L.property_details(stage)))}
    return {r: k for r, k in done.items() if r in per_potential}


def _add(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    for r, k in more.items():
        total[r] = total.get(r, 0) + k
    return total


def _decision_action(workdir: Path, n: int) -> Action | None:
    decision = read_decision_or_none(workdir / L.decision(n))
    return None if decision is None else decision.action


# -- the plan -----------------------------------------------------------------------------------
@dataclass
class StagePlan:
    stage: str  # initial | iter_NNN | end
    jobs: dict[str, int]  # jobs the stage runs (an undecided iteration: as if it halts)
    done: dict[str, int]
    state: str  # done | resume here | pending | decided
    note: str = ""
    steps: int | None = None  # MD steps per exploration condition

    @property
    def n_jobs(self) -> int:
        return sum(self.jobs.values())

    @property
    def n_done(self) -> int:
        return sum(min(self.done.get(r, 0), k) for r, k in self.jobs.items())

    def missing(self) -> dict[str, int]:
        return {r: k - min(self.done.get(r, 0), k) for r, k in self.jobs.items() if self.done.get(r, 0) < k}


@dataclass
class Plan:
    config: str
    workdir: str
    n_conditions: int
    conditions: list[str]
    label_jobs_initial: int
    label_jobs_iteration: int
    jobs_if_refining: dict[str, int]
    jobs_if_ending: dict[str, int]
    max_cycles: int
    patience: int
    last_iteration_max_cycles: int
    last_iteration_patience: int
    stages: list[StagePlan] = field(default_factory=list)
    future_first: int | None = None  # iterations after the current one that may still run
    future_last: int | None = None
    remaining_max: int = 0
    remaining_min: int = 0
    resume: str = ""
    finished: bool = False
    ended: str | None = None  # "iter_003: converged" once a checkpoint has ended the loop
    property_jobs_per_potential: dict[str, int] = field(default_factory=dict)  # {} = properties off
    property_calculations: dict[str, int] = field(default_factory=dict)  # oracle work per potential
    property_potentials: list[str] = field(default_factory=list)  # whose properties (so far) are computed

    def iteration(self, n: int) -> StagePlan | None:
        for s in self.stages:
            if s.stage == L.iter_dir(n):
                return s
        return None

    def to_dict(self) -> dict:
        d = asdict(self)
        for s, sd in zip(self.stages, d["stages"]):
            sd["n_jobs"], sd["n_done"] = s.n_jobs, s.n_done
        return d


def patience_bound(workdir: Path, upto: int, patience: int) -> int:
    """The last iteration the loop can reach if explorations never again get further: from the
    most recent decision (iteration k, s iterations already without improvement) it is
    k + patience - s; before any decision it is `patience` (iteration 0 always counts as an
    improvement)."""
    for k in range(upto, -1, -1):
        decision = read_decision_or_none(workdir / L.decision(k))
        if decision is not None:
            return k + patience - decision.iterations_without_improvement
    return patience


def build_plan(rcfg, workdir: str | Path, with_report: bool = True) -> Plan:
    """`with_report`: count the `report` job in the end stage (the Snakefile's `all` rule always
    asks for report/report.html; False only for a workflow built without it)."""
    from .properties.jobs import jobs_per_potential, oracle_calculations

    cfg = rcfg.cfg
    workdir = Path(workdir)
    props = jobs_per_potential(rcfg)
    full, ending = iteration_jobs(cfg, True, props), iteration_jobs(cfg, False, props)
    plan = Plan(
        config=str(rcfg.path), workdir=str(workdir.resolve()),
        n_conditions=len(cfg.exploration.conditions), conditions=[c.name for c in cfg.exploration.conditions],
        label_jobs_initial=n_label_jobs(cfg, L.INITIAL), label_jobs_iteration=n_label_jobs(cfg, L.iter_dir(0)),
        jobs_if_refining=full, jobs_if_ending=ending, max_cycles=cfg.max_cycles, patience=cfg.patience,
        last_iteration_max_cycles=cfg.max_cycles - 1, last_iteration_patience=cfg.max_cycles - 1,
        property_jobs_per_potential=props, property_calculations=oracle_calculations(rcfg) if props else {},
    )

    def done_of(n: int) -> dict[str, int]:
        done = iteration_done(cfg, workdir, n)
        if cfg.convergence.properties and props:
            done.update(property_done(workdir, L.potential_stage_for(n), props))
            done["property_offer"] = int(_exists(workdir, L.property_offer(n)))
        return done

    plan.stages.append(StagePlan(L.INITIAL, initial_jobs(cfg), initial_done(cfg, workdir), "pending"))

    # walk the finished iterations; `n` ends as the first one not finished
    n, end_action = 0, None
    while n < cfg.max_cycles:
        action = _decision_action(workdir, n)
        done = done_of(n)
        if action is None:
            break
        if action is not Action.CONTINUE:
            end_action = action
            plan.ended = f"{L.iter_dir(n)}: {action.value}"
            stage = StagePlan(L.iter_dir(n), ending, done, "pending", note=f"checkpoint: {action.value}",
                              steps=cfg.exploration_steps(n))
            plan.stages.append(stage)
            break
        stage = StagePlan(L.iter_dir(n), full, done, "pending", note="checkpoint: continue",
                          steps=cfg.exploration_steps(n))
        plan.stages.append(stage)
        if stage.missing():
            break
        stage.state = "done"
        n += 1

    if end_action is None:
        if plan.stages[-1].stage != L.iter_dir(n):
            plan.stages.append(StagePlan(L.iter_dir(n), full, done_of(n), "pending",
                                         note=f"{sum(ending.values())} jobs if its checkpoint ends the loop",
                                         steps=cfg.exploration_steps(n)))
        if n + 1 <= cfg.max_cycles - 1:
            plan.future_first, plan.future_last = n + 1, cfg.max_cycles - 1

    flag_done = int(any(_exists(workdir, f) for f in L.FLAGS))
    end_done = {"finalize": flag_done, "report": int(_exists(workdir, f"{L.REPORT_DIR}/report.html")),
                "final": int(_exists(workdir, f"{L.FINAL_DIR}/README.txt")),
                "final_properties": int(_exists(workdir, L.FINAL_PROPERTIES))}
    end_props = None
    end_stages = end_property_stages(cfg, n, workdir) if props else []
    if props:  # the final potential's (and every N-th one's) properties, unless a checkpoint needed them
        plan.property_potentials = property_stages(cfg, n, workdir)
        end_props = {}
        for stage in end_stages:
            _add(end_props, props)
            _add(end_done, property_done(workdir, stage, props))
    # the final fit's check; its MD stability run counted once (also its properties' when it ships)
    ship_md = "md_stability" in props and L.FINAL_FIT not in end_stages
    ship = ship_jobs(cfg, ship_md)
    if ship:
        c = L.FINAL_CHECK
        fitted = _exists(workdir, L.potential(L.FINAL_FIT), L.train_record(L.FINAL_FIT))
        _add(end_done, {"final_fit": int(fitted),
                        "gamma_scale": int(_exists(workdir, L.gamma_scale(L.FINAL_FIT))),
                        "ship": int(_exists(workdir, L.SHIP_DECISION)),
                        "final_check_frames": int(_exists(workdir, L.selected(c))),
                        "label": _label_done(workdir, cfg, c),
                        "gather_labels": int(_exists(workdir, L.labels(c), L.labels_failed(c))),
                        "md_stability": int(ship_md and _exists(workdir, L.md_stability(L.FINAL_FIT)))})
    note = " or ".join(L.FLAGS) + (f", {L.REPORT_HTML}, {L.FINAL_DIR}/" if with_report else "")
    if ship:
        note += "; the final fit and its check (ship)"
    if end_props:
        note += f"; properties of {len(end_stages)} potential(s)" + (
            "" if end_action is not None or not cfg.properties.every else ", more if the loop goes on")
    plan.stages.append(StagePlan("end", final_jobs(with_report, end_props, ship), end_done, "pending", note=note))

    for stage in plan.stages:
        if stage.state != "done" and not stage.missing():
            stage.state = "done"
    first_open = next((s for s in plan.stages if s.state != "done"), None)
    plan.finished = first_open is None
    if first_open is not None:
        first_open.state = "resume here"
        todo = first_open.missing()
        plan.resume = (f"{first_open.stage}: " + ", ".join(f"{r} x{k}" for r, k in todo.items())
                       + f" ({first_open.n_done} of {first_open.n_jobs} jobs of this stage done)")
    else:
        plan.resume = "nothing: the run is finished"

    # bounds and remaining work
    plan.last_iteration_patience = min(patience_bound(workdir, n, cfg.patience), cfg.max_cycles - 1)
    known = sum(sum(s.missing().values()) for s in plan.stages if s.state != "done")
    n_future = 0 if plan.future_first is None else plan.future_last - plan.future_first + 1
    plan.remaining_max = known + n_future * sum(full.values())
    if props and not cfg.convergence.properties and cfg.properties.every and n_future:
        # every N-th explored potential of the iterations still to come (the last one is the final)
        extra = len(set(end_property_stages(cfg, plan.future_last)) - set(end_property_stages(cfg, n, workdir)))
        plan.remaining_max += extra * sum(props.values())
    plan.remaining_min = known
    cur = plan.iteration(n) if end_action is None else None
    if cur is not None:
        if _decision_action(workdir, n) is None:  # its checkpoint may still end the loop
            plan.remaining_min -= sum(v for r, v in cur.missing().items() if r not in ending)
        elif n_future:  # it continues: the next iteration runs at least explore + gate
            plan.remaining_min += sum(ending.values())
    return plan


def _jobs(jobs: dict[str, int]) -> str:
    n = sum(jobs.values())
    return ", ".join(f"{r} x{k}" for r, k in jobs.items()) + f" = {n} job{'' if n == 1 else 's'}"


def _progress(stage: StagePlan) -> str:
    return ", ".join(f"{r} {min(stage.done.get(r, 0), k)}/{k}" for r, k in stage.jobs.items())


def format_plan(rcfg, workdir: str | Path, plan: Plan | None = None) -> str:
    from .loop.oracle_budget import budget_line, oracle_budget

    cfg = rcfg.cfg
    plan = plan or build_plan(rcfg, workdir)
    growth = cfg.exploration.steps_growth
    per_job = cfg.labeling.structures_per_job
    lines = [
        f"Plan for {rcfg.path} in {plan.workdir}",
        "  the loop: initial data, then per iteration EXPLORE (checkpoint `gate`) -> REFINE -> LABEL -> TRAIN,",
        f"            until converged, max_cycles={cfg.max_cycles} or patience={cfg.patience}",
        f"  initial:         {_jobs(initial_jobs(cfg))}  ({cfg.n_initial_structures()} structures, "
        f"{per_job} per label job)",
        f"  each iteration:  {_jobs(plan.jobs_if_refining)}  when an exploration halts",
        f"                   {_jobs(plan.jobs_if_ending)}  when its checkpoint ends the loop",
        f"  end:             {_jobs(plan.stages[-1].jobs)}",
        f"  exploration:     {plan.n_conditions} condition(s) ({', '.join(plan.conditions)}), "
        f"{cfg.exploration_steps(0)} MD steps each in iteration 0"
        + (f", x{growth:g} per iteration" if growth != 1 else ""),
        f"  per iteration:   {cfg.candidates.n_candidates} candidates per halt -> {cfg.expensive_per_iteration()} "
        f"selected ({cfg.selection.kind}) -> labelled by {cfg.oracle.kind} in {plan.label_jobs_iteration} "
        f"job(s) of <= {per_job} -> {cfg.trainer.kind} fit",
    ]
    if cfg.two_level_on():
        t = cfg.two_level
        lines.append(f"  two levels:      {cfg.cheap_oracle.kind} (cheap) labels {', '.join(t.cheap_labels)}, one job "
                     f"each; {cfg.oracle.kind} only the selected, {t.disagreement_share:g} of them by cheap-vs-"
                     f"potential disagreement; the fit takes the cheap labels as its prior")
    if plan.property_jobs_per_potential:
        c = plan.property_calculations
        where = ("every explored potential, before its checkpoint (convergence.properties)"
                 if cfg.convergence.properties else "the final potential"
                 + (f" and every {cfg.properties.every}. explored one" if cfg.properties.every else ""))
        lines += [
            f"  properties:      {_jobs(plan.property_jobs_per_potential)} per potential, for {where}",
            f"                   {c['calculations']} oracle calculations (labelled structures) per potential"
            + (f", {c['relaxations']} of them relaxations" if c["relaxations"] else "")
            + (f", {c['hessians']} of them with a Hessian" if c["hessians"] else "")
            + (" (each one cached result of many oracle calls)" if c["relaxations"] or c["hessians"] else ""),
        ]
    lines.append("")
    for stage in plan.stages:
        if stage.stage == "end" and plan.future_first is not None:
            first, last = plan.future_first, plan.future_last
            names = L.iter_dir(first) + ("" if first == last else f" .. {L.iter_dir(last)}")
            lines.append(f"  {names}: <TBD by the checkpoints>: up to {last - first + 1} more iteration(s), "
                         f"{sum(plan.jobs_if_refining.values())} jobs each if it halts, "
                         f"{sum(plan.jobs_if_ending.values())} if it ends the loop")
        steps = f", {stage.steps} MD steps" if stage.steps is not None else ""
        mark = "<- resumes here" if stage.state == "resume here" else stage.state
        lines.append(f"  {stage.stage:9s} {stage.n_done:3d}/{stage.n_jobs:<3d} jobs  {mark}{steps}"
                     + (f"  ({stage.note})" if stage.note else ""))
        if stage.state != "done":
            lines.append(f"  {'':9s}   {_progress(stage)}")
    if plan.ended:
        bounds = (f"  bounds: the checkpoint ended the loop at {plan.ended} (max_cycles={cfg.max_cycles}, "
                  f"patience={cfg.patience})")
    else:
        bounds = (f"  bounds: max_cycles={cfg.max_cycles}: the last possible iteration is "
                  f"{L.iter_dir(plan.last_iteration_max_cycles)}; patience={cfg.patience}: without further "
                  f"improvement the loop stops after {L.iter_dir(plan.last_iteration_patience)}")
    lines += [
        "",
        bounds,
        f"  remaining: {plan.remaining_min} to {plan.remaining_max} jobs"
        + ("" if plan.finished else " (fewest if the current iteration's checkpoint ends the loop)"),
        f"  resume point: {plan.resume}",
        f"  {budget_line(oracle_budget(rcfg, workdir, plan))}",
    ]
    return "\n".join(lines)
