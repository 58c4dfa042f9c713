"""Glue between Snakemake and the package: config loading in the Snakefile and the wrapper every
rule script runs in (logging to the rule's log, one-line errors for user mistakes, state refresh).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Callable

from .core.crashpoints import crashpoint
from .core.errors import UserError
from .loop.state import refresh_state
from .domain_models.config import ResolvedConfig, config_from_dict

DEFAULT_CONFIG = "config/config.yaml"
LOG_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"


def effective_config_file(workflow) -> Path:
    """The config file this run uses: the last `--configfile` given, else the default."""
    given = list(getattr(workflow, "overwrite_configfiles", None) or [])
    return Path(given[-1] if given else DEFAULT_CONFIG).resolve()


def load_workflow_config(config: dict, workflow) -> ResolvedConfig:
    """Validate Snakemake's config dict with the pydantic models; a user mistake becomes a one-line
    WorkflowError naming the file and the field instead of a traceback."""
    from snakemake.exceptions import WorkflowError

    path = effective_config_file(workflow)
    try:
        rcfg = config_from_dict(dict(config), path)
        if is_main_process(workflow):
            from .preflight import preflight

            preflight(rcfg)
    except UserError as exc:
        raise WorkflowError(f"invalid configuration:\n{exc}") from None
    # Jobs get exactly this: every key filled with its documented default and typed (`--config`
    # values arrive as strings), so the schema check, the DAG and every job see one config.
    # The settings derived from the system stay null, so every job derives them again (the same value)
    # and knows why (the initial step logs the DEFAULTS lines).
    dumped = rcfg.cfg.model_dump(mode="json")
    for dotted in rcfg.cfg.derived():
        *parents, leaf = dotted.split(".")
        node = dumped
        for key in parents:
            node = node[key]
        node[leaf] = None
    config.clear()
    config.update(dumped)
    return rcfg


def is_main_process(workflow) -> bool:
    """Is this the Snakemake process the user started (not the one inside a cluster job)? Only it needs
    the preflight checks: a SLURM job's Snakemake parses this Snakefile again for its one job, and
    the checks (building the structures, the system checks' imports) cost ~1.2 s of its ~5 s start."""
    return bool(getattr(workflow, "is_main_process", True))


def job_config(smk) -> ResolvedConfig:
    """The config Snakemake resolved for this job (`snakemake.config`: config file(s), `--config`,
    profile), validated with the same models. The file named by `params.config_file` is never read:
    it only anchors relative paths in the config."""
    return config_from_dict(dict(smk.config), smk.params.config_file)




def _setup_logging(log_file: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, handlers=handlers, force=True)


def blas_threads(smk):
    """Limit BLAS/OpenMP pools to the threads Snakemake gave the job.

    Snakemake schedules jobs by their `threads`, but OpenBLAS starts one thread per core in every
    job; two jobs on two cores then run four spinning BLAS threads, and small dense algebra (the
    active set's pinv, the ladder's solves) was measured 8x slower than with one thread each.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=max(1, int(getattr(smk, "threads", 1) or 1)))


def run_step(smk, step: Callable[[ResolvedConfig, object], object]) -> None:
    """Run one rule's step from its Snakemake script.

    Errors the user can fix are logged as one line (the rule's log then says what to do) and end
    the job with exit code 1; anything else keeps its traceback in the log, as a bug should.
    """
    log_file = smk.log[0] if len(smk.log) else None
    _setup_logging(log_file)
    log = logging.getLogger("mlip_autopipec.rule." + smk.rule)
    try:
        rcfg = job_config(smk)
        crashpoint(f"start:{smk.rule}")
        with blas_threads(smk):
            step(rcfg, smk)
        crashpoint(f"end:{smk.rule}")
    except UserError as exc:
        log.error("%s", exc)
        sys.exit(1)
    except Exception:
        log.exception("rule %s failed", smk.rule)
        raise
    finally:
        try:
            wc = dict(smk.wildcards.items()) if hasattr(smk.wildcards, 'items') else {}
            refresh_state(os.getcwd(), event=' '.join([smk.rule, *map(str, wc.values())]))
        except Exception:  # the state is derived; a failed refresh must not mask the real error
            log.exception("could not refresh workflow_state.json")


_FAILED_LOGS = re.compile(r"log: (.*?) \(check log file\(s\) for error details\)")
_SLURM_LOG = re.compile(r"slurm_logs/(rule|group)_([^/]+)/(?:.*/)?(\d+)\.log$")


def failed_slurm_jobs(snakemake_logs) -> list[tuple[str, str, Path]]:
    """(rule or group, SLURM job id, SLURM log file) of every failed SLURM job named in Snakemake's
    log file(s) (`onerror` gets a list of paths in Snakemake 9, a path before)."""
    if isinstance(snakemake_logs, (str, Path)):
        snakemake_logs = [snakemake_logs]
    text = ""
    for path in snakemake_logs or []:
        try:
            text += Path(path).read_text(errors="replace")
        except OSError:
            pass
    found: dict[str, tuple[str, str, Path]] = {}
    for logs in _FAILED_LOGS.findall(text):
        for path in logs.split(", "):
            m = _SLURM_LOG.search(path)
            if m and path not in found:
                found[path] = (f"{m.group(1)} {m.group(2)}", m.group(3), Path(path))
    return list(found.values())


def report_failed_slurm_jobs(snakemake_logs) -> None:
    """One line per failed SLURM job: rule (or group), job id, log file and what SLURM said there.
    With `slurm-status-command: squeue` the plugin cannot tell why a job failed; its log can."""
    for name, job_id, path in failed_slurm_jobs(snakemake_logs):
        lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
        said = [ln.strip() for ln in lines if "slurmstepd" in ln] or [ln.strip() for ln in lines if "error" in ln.lower()]
        print(f"mlip-autopipec: SLURM job {job_id} ({name}) failed: {said[0] if said else 'see its log'}\n"
              f"    SLURM log: {path}", file=sys.stderr)
