"""`mlip-runner`: run the Snakemake workflow for a config, show its state, print the schema.

`run` goes through Snakemake's in-process Python API (`snakemake.cli.parse_args` +
`args_to_api`, the same path the `snakemake` command takes), so profiles behave exactly as with
plain `snakemake --profile`. On top it adds what a user would otherwise do by hand after a crash:
it removes a stale Snakemake lock (no other run alive in the directory) and reruns incomplete jobs.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import sys
from pathlib import Path

from .core import layout as L
from .core.errors import UserError
from .preflight import preflight
from .loop.state import derive_state
from .domain_models.config import json_schema, load_config
from .domain_models.derived_defaults import log_lines
from .domain_models.records import LabelChunkRecord, read_record

log = logging.getLogger("mlip_autopipec.cli")


def workflow_snakefile() -> Path:
    """The Snakefile of a source checkout (editable install), else the copy inside the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / "Snakefile", here / "workflow" / "Snakefile"):
        if candidate.is_file():
            return candidate
    raise UserError("cannot find the workflow's Snakefile; reinstall mlip-autopipec")


def default_workdir(config_path: Path) -> Path:
    """The project directory: where the config lives, or its parent when the config sits in a
    `config/` folder (the Snakemake workflow layout, as in this repository)."""
    parent = config_path.resolve().parent
    return parent.parent if parent.name == "config" else parent


def _check_writable(workdir: Path) -> None:
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / ".mlip_write_probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"{workdir}: output directory is not writable ({exc.strerror}); choose another "
                        f"with --workdir or fix its permissions") from None


def _other_runs_alive(workdir: Path) -> bool:
    """Is another snakemake / mlip-runner process working in this directory right now?"""
    me = {os.getpid(), os.getppid()}
    target = str(workdir.resolve())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in me:
            continue
        try:
            cwd = os.readlink(proc / "cwd")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd == target and ("snakemake" in cmdline or "mlip-runner" in cmdline):
            return True
    return False


def remove_stale_temp_files(workdir: Path) -> None:
    """Temporary files of writes that a kill interrupted (never read: outputs appear only by rename)."""
    for tmp in workdir.rglob(".*.tmp"):
        if tmp.is_file() and ".snakemake" not in tmp.parts:
            tmp.unlink()


class RunLock:
    """An flock held for the whole run: a second `mlip-runner run` in the same directory refuses."""

    def __init__(self, workdir: Path):
        self.path = workdir / "workflow_state" / ".run.lock"

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise UserError(f"{self.path.parent.parent}: another mlip-runner run is active in this directory; "
                            f"wait for it to finish (or stop it) before starting a new one") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def snakemake_argv(config: Path, workdir: Path, cores: int | None, profile: str | None, dry_run: bool,
                   extra: list[str]) -> list[str]:
    argv = ["--snakefile", str(workflow_snakefile()), "--directory", str(workdir),
            "--configfile", str(config), "--rerun-incomplete", "--rerun-triggers", "mtime"]
    if profile:
        pdir = Path(profile)
        if not (pdir / "config.yaml").is_file() and not (pdir / "config.v9+.yaml").is_file():
            raise UserError(f"{profile}: profile directory not found or has no config.yaml; give a "
                            f"directory such as profiles/local or profiles/slurm")
        argv += ["--profile", str(pdir.resolve())]
    if cores is not None:
        argv += ["--cores", str(cores)]
    elif not profile:
        argv += ["--cores", "1"]
    if dry_run:
        argv += ["--dry-run"]
    return argv + list(extra)


def _run_snakemake(argv: list[str]) -> bool:
    from snakemake.cli import args_to_api, parse_args

    parser, args = parse_args(argv)
    return bool(args_to_api(args, parser))


def failed_label_jobs(workdir: Path) -> list[str]:
    """Label job outputs (relative to the run directory) whose record lists failures."""
    out = []
    for rec in sorted(workdir.glob(L.label_job("*", "*", "json"))):
        try:
            failures = read_record(LabelChunkRecord, rec).failures
        except (OSError, ValueError):  # a foreign or partial file (ours are renamed into place complete)
            continue
        if failures:
            out.append(str(rec.with_suffix(".extxyz").relative_to(workdir)))
    return out


def cmd_run(ns) -> int:
    from .config_overrides import load_with_overrides, parse_sets, snakemake_config_args

    config = Path(ns.config)
    overrides = parse_sets(ns.set)
    rcfg = load_with_overrides(config, overrides)  # a bad config fails here, before Snakemake starts
    preflight(rcfg)
    for line in log_lines(rcfg.cfg.derived()):  # what the system set, and why
        print(f"mlip-runner: {line}")
    workdir = Path(ns.workdir).resolve() if ns.workdir else default_workdir(config)
    _check_writable(workdir)
    # options taking a list of values go last, so that they do not swallow the user's targets
    extra = [*ns.snakemake_args, *snakemake_config_args(overrides)]
    if ns.retry_failed:
        from .steps.label_cache import RETRY_ENV

        os.environ[RETRY_ENV] = "1"  # read by the label jobs (inherited by local and SLURM jobs)
        redo = failed_label_jobs(workdir)
        log.info("--retry-failed: %d label job(s) with failures rerun", len(redo))
        if redo:
            extra += ["--forcerun", *redo]
    argv = snakemake_argv(config.resolve(), workdir, ns.cores, ns.profile, ns.dry_run, extra)
    if ns.dry_run:
        from .plan import format_plan

        print(format_plan(rcfg, workdir))
        return 0 if _run_snakemake(argv) else 1
    with RunLock(workdir):
        if (workdir / ".snakemake" / "locks").is_dir() and any((workdir / ".snakemake" / "locks").iterdir()):
            if _other_runs_alive(workdir):
                raise UserError(f"{workdir}: a Snakemake run is active in this directory; wait for it to finish")
            log.warning("removing a stale Snakemake lock left by a killed run in %s", workdir)
            _run_snakemake(argv + ["--unlock"])
        remove_stale_temp_files(workdir)
        ok = _run_snakemake(argv)
    state = derive_state(workdir)
    print(f"mlip-runner: {state.status.value} at iteration {state.iteration}"
          + (f" — {state.message}" if state.message else ""))
    return 0 if ok else 1


def cmd_status(ns) -> int:
    from .report.table import format_status

    workdir = Path(ns.directory)
    if not workdir.is_dir():
        raise UserError(f"{workdir}: no such directory (give the run directory, where iter_000/ lives)")
    print(format_status(derive_state(workdir), as_json=ns.json, workdir=workdir))
    return 0


def cmd_report(ns) -> int:
    from .report.build import build_report
    from .report.data import load_run_config

    workdir = Path(ns.directory)
    if not workdir.is_dir():
        raise UserError(f"{workdir}: no such directory (give the run directory, where iter_000/ lives)")
    rcfg = load_run_config(workdir, ns.config)
    if rcfg is None:
        log.warning("no config.yaml in %s (pass --config): the report has no parity plot", workdir)
    result = build_report(workdir, rcfg, out_html=ns.out, with_parity=not ns.no_parity)
    print(f"mlip-runner: report {result.html} ({len(result.pngs)} figures in {result.html.parent})")
    return 0


def cmd_plan(ns) -> int:
    from .plan import build_plan, format_plan

    config = Path(ns.config)
    rcfg = load_config(config)
    workdir = Path(ns.workdir).resolve() if ns.workdir else default_workdir(config)
    plan = build_plan(rcfg, workdir)
    print(json.dumps(plan.to_dict(), indent=2) if ns.json else format_plan(rcfg, workdir, plan))
    return 0


def cmd_schema(ns) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlip-runner", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run (or resume) the active-learning loop for a config")
    r.add_argument("config", help="path to config.yaml")
    r.add_argument("--cores", type=int, default=None, help="cores for local execution (default 1)")
    r.add_argument("--profile", default=None, help="Snakemake profile directory, e.g. profiles/slurm")
    r.add_argument("--workdir", default=None, help="run directory (default: the config's project directory)")
    r.add_argument("--dry-run", "-n", action="store_true", help="print the plan and the next jobs; run nothing")
    r.add_argument("--set", action="append", default=[], metavar="KEY.SUB=VALUE",
                   help="override a config value (YAML), e.g. --set exploration.gamma_halt=8.0; repeatable")
    r.add_argument("--retry-failed", action="store_true",
                   help="compute failed labels again (cached failures are otherwise reused until the oracle "
                        "settings change)")
    r.add_argument("snakemake_args", nargs="*", metavar="-- SNAKEMAKE_ARGS",
                   help="after `--`: extra arguments passed to Snakemake unchanged")
    r.set_defaults(func=cmd_run)
    s = sub.add_parser("status", help="print the state of a run as a table")
    s.add_argument("directory", nargs="?", default=".", help="run directory (default: .)")
    s.add_argument("--json", action="store_true", help="print the state as JSON")
    s.set_defaults(func=cmd_status)
    rp = sub.add_parser("report", help="write the HTML report with its figures (report/report.html)")
    rp.add_argument("directory", nargs="?", default=".", help="run directory (default: .)")
    rp.add_argument("--config", default=None, help="the run's config (default: config.yaml or config/config.yaml in it)")
    rp.add_argument("--out", default=None, help="HTML file to write (default: DIRECTORY/report/report.html)")
    rp.add_argument("--no-parity", action="store_true", help="skip the parity plot (it loads the potential)")
    rp.set_defaults(func=cmd_report)
    pl = sub.add_parser("plan", help="print the plan of the whole loop: jobs per stage, bounds, resume point")
    pl.add_argument("config", help="path to config.yaml")
    pl.add_argument("--workdir", default=None, help="run directory (default: the config's project directory)")
    pl.add_argument("--json", action="store_true", help="print the plan as JSON")
    pl.set_defaults(func=cmd_plan)
    sc = sub.add_parser("schema", help="print the JSON schema of config.yaml")
    sc.set_defaults(func=cmd_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mlip-runner: %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    # Split off `-- SNAKEMAKE_ARGS` first: argparse cannot hand them to a positional `nargs="*"` once an
    # option follows the config (`run config.yaml --profile p -- --retries 0` was rejected).
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = build_parser()
    ns = parser.parse_args(argv)
    if extra:
        if ns.command != "run":
            parser.error("`-- SNAKEMAKE_ARGS` only goes with `run`")
        ns.snakemake_args = [*ns.snakemake_args, *extra]
    try:
        return ns.func(ns)
    except UserError as exc:
        print(f"mlip-runner: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
