"""The workflow on a real SLURM cluster through `--profile profiles/slurm`.

A one-node cluster (slurmctld + slurmd + munge on 127.0.0.1, tests/slurm_cluster.py) runs three
workflows side by side (they mostly wait for the queue): the mock loop with plain
`snakemake --profile`, a short real Cu/EMT loop with `mlip-runner run --profile` that is interrupted (a
job cancelled with scancel, Snakemake killed mid-iteration) and resumed, and a run whose label jobs
SLURM kills for exceeding their memory. Every run is guarded by `timeout -k 10`: a stuck status poll
ignores SIGTERM. Each wave of SLURM jobs costs ~15-25 s here (the plugin's pause before sbatch, two
Snakemake start-ups inside the job, status polling), so the configs are small and the profile groups
chains of rules.

Without SLURM (tools/install_slurm.sh, as root) these tests fail in CI and skip elsewhere (the one
policy of tests/conftest.py); a cluster that is installed but cannot start always fails them.
`-m "not slurm"` deselects them. The profile checks at the top need no cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import BIN, CONFIGS, REPO, missing
from slurm_cluster import ClusterError, check_prerequisites, slurm_cluster

PROFILE = REPO / "profiles" / "slurm"
# `pytest.mark.slurm` once pyproject.toml registers that marker (--strict-markers rejects it before)
ON_SLURM = pytest.mark.slurm
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: (\S+?)\)")
ITER_FILES = ["halt.xyz", "candidates.xyz", "selected.xyz", "labels.extxyz", "potential.yace",
              "potential.yaml", "potential.asi", "exploration.json", "train.json"]


# The limit of each workflow run here. They run alongside the rest of the suite (tests/run_suite.sh),
# which keeps both cores busy: on a slow CI machine the mock loop's 21 SLURM jobs took over 10 min
# (30 s a wave), so 600 s failed a run that was working. A stuck poll still ends within this.
RUN_LIMIT_S = 1500


def guarded(cmd: list, limit: int) -> list[str]:
    """`timeout -k 10 LIMIT cmd`: SIGTERM at the limit, SIGKILL 10 s later (a stuck poll ignores TERM)."""
    return ["timeout", "-k", "10", str(limit), *map(str, cmd)]


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}:/usr/sbin:/usr/bin"
    return env


def run_guarded(cmd: list, cwd: Path, limit: int, check: bool = True) -> subprocess.CompletedProcess:
    t0 = time.time()
    proc = subprocess.run(guarded(cmd, limit), cwd=cwd, capture_output=True, text=True, timeout=limit + 30,
                          env=clean_env())
    proc.seconds = time.time() - t0
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}) after {proc.seconds:.0f} s:\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def snakemake_profile_cmd(*extra) -> list:
    return [BIN / "snakemake", "--snakefile", REPO / "Snakefile", "--configfile", "config.yaml",
            "--profile", PROFILE, *extra]


def runner_profile_cmd(*extra) -> list:
    # options before the config: `run CONFIG --opt` would leave `-- ...` unparsed
    return [BIN / "mlip-runner", "run", "--profile", PROFILE, "config.yaml", *extra]


def submitted_jobs(output: str) -> dict[str, Path]:
    """SLURM job id -> its SLURM log file, from Snakemake's "submitted with SLURM jobid" lines."""
    return {jid: Path(log) for jid, log in SUBMITTED.findall(output)}


def slurm_rows(cluster, ids) -> dict[str, dict]:
    return {r["id"]: {**r, "cpus": int(r["cpus"])} for r in cluster.squeue() if r["id"] in ids}


def file_snapshot(paths) -> dict[str, tuple[int, bytes]]:
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in paths if p.is_file()}


def state_of(d: Path) -> dict:
    return json.loads((d / "workflow_state" / "workflow_state.json").read_text())


def check_refined_then_converged(d: Path) -> dict:
    """Every iteration before the last halted and was refined, labelled and fitted; the last one ran
    through: converged (how many iterations that takes is the learning's business, not SLURM's)."""
    assert (d / "converged.flag").is_file(), sorted(p.name for p in d.iterdir())
    iterations = sorted(p.name for p in d.glob("iter_*"))
    assert len(iterations) >= 2, iterations
    for it in iterations[:-1]:
        for name in ITER_FILES:
            f = d / it / name
            assert f.is_file() and f.stat().st_size > 0, f
    last = d / iterations[-1]
    assert (last / "exploration.json").is_file()
    assert not (last / "halt.xyz").exists(), "a converged iteration has nothing to refine"
    state = state_of(d)
    assert state["status"] == "CONVERGED" and state["iteration"] == len(iterations) - 1, state
    assert state["history"][0]["n_labelled"] == state["history"][0]["n_selected"] > 0
    if (REPO / "rules" / "report.smk").exists():
        assert (d / "report" / "report.html").is_file()
    return state


# --- the profile itself (no cluster needed) ---------------------------------------------------------

def test_profile_settings():
    prof = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert prof["executor"] == "slurm"
    assert prof["slurm-status-command"] == "squeue", "without slurmdbd, sacct hangs Snakemake"
    assert prof["retries"] >= 1 and prof["rerun-incomplete"] and prof["keep-going"]
    assert prof["jobs"] >= 10
    # MinJobAge (default 300 s) must stay >= 3 x the first poll, else the plugin falls back to sacct
    assert 3 * prof["slurm-init-seconds-before-status-checks"] <= 300
    rules = set(re.findall(r"^(?:rule|checkpoint) (\w+):", "\n".join(
        p.read_text() for p in [REPO / "Snakefile", *(REPO / "rules").glob("*.smk")]), flags=re.M))
    groups = dict(g.split("=") for g in prof["groups"])
    assert set(groups) <= rules, set(groups) - rules
    # work that runs side by side stays in jobs of its own (a group job runs its rules one at a time)
    assert not {"label", "explore"} & set(groups)
    for comp in prof.get("group-components", []):
        assert comp.split("=")[0] in groups.values()
    local = yaml.safe_load((REPO / "profiles" / "local" / "config.yaml").read_text())
    assert "executor" not in local and local["rerun-incomplete"]


def test_profile_dry_run_with_snakemake_and_runner(tmp_path):
    """The profile's keys are accepted by Snakemake 9 and the SLURM plugin (a dry run submits nothing)."""
    shutil.copy(CONFIGS / "slurm_mock.yaml", tmp_path / "config.yaml")
    out = run_guarded(snakemake_profile_cmd("--dry-run"), tmp_path, 120)
    text = out.stdout + out.stderr
    assert "initial_structures" in text and "label" in text
    out = run_guarded(runner_profile_cmd("--dry-run"), tmp_path, 120)
    assert "Plan for" in out.stdout
    assert not (tmp_path / "initial").exists()


# --- on a real SLURM cluster -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    try:
        check_prerequisites()
    except ClusterError as exc:
        missing("a SLURM cluster", str(exc))
    with contextlib.ExitStack() as stack:
        try:
            c = stack.enter_context(slurm_cluster())
        except ClusterError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield c


class BackgroundRun:
    """A guarded workflow run in its own directory and process group, output to run.log."""

    def __init__(self, directory: Path, cmd: list, limit: int):
        self.dir, self.limit, self.t0 = directory, limit, time.time()
        self.log = directory / "run.log"
        with open(self.log, "w") as fh:
            self.proc = subprocess.Popen(guarded(cmd, limit), cwd=directory, env=clean_env(), stdout=fh,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self) -> tuple[int, str, float]:
        """Exit code, output and seconds the run took (until its last output)."""
        rc = self.proc.wait(timeout=self.limit + 30)
        return rc, self.output(), self.log.stat().st_mtime - self.t0

    def kill(self) -> None:
        """SIGKILL the whole run (timeout, Snakemake): no cleanup, its SLURM jobs stay queued."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def run_id(self) -> str | None:
        """The plugin's SLURM run ID, which is the name of every job this run submits."""
        m = re.search(r"SLURM run ID: (\S+)", self.output())
        return m.group(1) if m else None


@pytest.fixture(scope="module")
def background_runs(cluster, tmp_path_factory):
    """The mock loop and the memory-limit run, started together; the tests collect their results."""
    mock = tmp_path_factory.mktemp("slurm_mock")
    shutil.copy(CONFIGS / "slurm_mock.yaml", mock / "config.yaml")
    oom = tmp_path_factory.mktemp("slurm_oom")
    cfg = yaml.safe_load((CONFIGS / "slurm_mock.yaml").read_text())
    cfg["resources"]["label"]["mem_mb"] = 20  # the label jobs' Snakemake alone needs more
    # the noise check runs the oracle with label resources too and would be the first job killed;
    # this run is about the label jobs
    cfg["label_noise"] = {"enabled": False}
    (oom / "config.yaml").write_text(yaml.safe_dump(cfg))
    runs = {"mock": BackgroundRun(mock, snakemake_profile_cmd(), RUN_LIMIT_S),
            "oom": BackgroundRun(oom, runner_profile_cmd("--", "initial/labels.extxyz"), RUN_LIMIT_S)}
    yield runs
    for run in runs.values():
        if run.proc.poll() is None:
            run.kill()


def _wait_for(predicate, timeout: float, what: str, run: BackgroundRun | None = None, poll: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if run is not None and run.proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {run.proc.returncode}) while waiting for {what}:\n"
                                 f"{run.output()[-3000:]}")
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@ON_SLURM
def test_emt_loop_survives_scancel_and_killed_snakemake(cluster, background_runs, tmp_path):
    """Cancel a running label job with scancel (Snakemake retries it), kill Snakemake mid-iteration,
    cancel what the killed run left in the queue, rerun the same command: the loop finishes and no
    finished label, fit or exploration is redone."""
    d = tmp_path
    shutil.copy(CONFIGS / "slurm_emt.yaml", d / "config.yaml")
    first = BackgroundRun(d, runner_profile_cmd(), RUN_LIMIT_S)
    try:
        run_id = _wait_for(first.run_id, 120, "the SLURM run ID", first)

        def running_label_job():
            for row in cluster.squeue():
                if (row["name"] == run_id and row["state"] == "RUNNING"
                        and row["comment"].startswith("rule_label_wildcards_iter_000")):
                    return row["id"]
            return None

        victim = _wait_for(running_label_job, 900, "a running label job of iteration 0", first)
        subprocess.run(["scancel", victim], check=True, timeout=30)
        # Snakemake sees the CANCELLED job and resubmits it (profile `retries: 1`)
        _wait_for(lambda: "Trying to restart job" in first.output(), 120,
                  "Snakemake to retry the cancelled job", first)
    finally:
        first.kill()  # mid-iteration: no cleanup, no cancelling of its jobs (a crash, a lost session)
    out1 = first.output()
    assert f"SLURM-job '{victim}' failed, SLURM status is: 'CANCELLED'" in out1, out1[-3000:]
    assert not (d / "converged.flag").exists()
    assert (d / "initial" / "potential.yace").is_file(), "iteration 0 should be under way"
    # what a user does after a crash: cancel the killed run's jobs still queued (or let them end), rerun
    cluster.cancel(name=run_id)
    cluster.wait_queue_empty(timeout=90, name=run_id)
    finished = sorted([*(d / "initial").glob("label_cache/*"), d / "initial" / "labels.extxyz",
                       *(d / "initial").glob("potential.*"), *(d / "iter_000").glob("label_cache/*"),
                       *(d / "iter_000").glob("explore/*"), d / "iter_000" / "exploration.json"])
    before = file_snapshot(finished)
    assert any("initial/label_cache" in p for p in before)
    records_before = file_snapshot((d / "iter_000").glob("label_jobs/*.json"))
    cached_before = sum(1 for p in before if "iter_000/label_cache" in p)

    proc2 = run_guarded(runner_profile_cmd(), d, RUN_LIMIT_S)
    out2 = proc2.stdout + proc2.stderr
    print(f"\nEMT loop on SLURM: {len(submitted_jobs(out1))} + {len(submitted_jobs(out2))} SLURM jobs, "
          f"{proc2.seconds:.0f} s for the resumed run, {time.time() - first.t0:.0f} s in all")
    assert "CONVERGED" in proc2.stdout
    check_refined_then_converged(d)
    after = file_snapshot(finished)
    changed = [p for p, v in before.items() if after.get(p) != v]
    assert not changed, f"finished work was redone after the resume: {changed}"
    # a label job that the resumed run (re)did computed only what had no cached result
    for path, (mtime, content) in file_snapshot((d / "iter_000").glob("label_jobs/*.json")).items():
        if records_before.get(path) != (mtime, content):
            rec = json.loads(content)
            assert rec["n_computed_now"] == len(rec["indices"]) - cached_before, (rec, cached_before)
    # both runs went through SLURM; the cancelled job is on record as such
    jobs = {**submitted_jobs(out1), **submitted_jobs(out2)}
    assert victim in jobs and set(jobs) <= set(cluster.job_ids_in_log())
    assert slurm_rows(cluster, [victim])[victim]["state"] == "CANCELLED"


@ON_SLURM
def test_mock_loop_through_slurm_profile(cluster, background_runs):
    run = background_runs["mock"]
    rc, output, seconds = run.wait()
    assert rc == 0, output[-5000:]
    check_refined_then_converged(run.dir)

    # every rule job went through SLURM: job ids in Snakemake's output, in slurmctld's log, COMPLETED
    jobs = submitted_jobs(output)
    print(f"\nmock loop on SLURM: {len(jobs)} SLURM jobs in {seconds:.0f} s")
    assert len(jobs) >= 8, output[-3000:]
    assert set(jobs) <= set(cluster.job_ids_in_log())
    rows = slurm_rows(cluster, jobs)
    assert {r["state"] for r in rows.values()} == {"COMPLETED"}, rows
    for log in jobs.values():
        assert log.is_file(), f"SLURM log {log} missing (slurm-keep-successful-logs)"
    # grouped chains: one SLURM job runs several rules
    comments = {r["comment"] for r in rows.values()}
    assert any(c.startswith("rule_refine_") for c in comments), comments
    assert any(c.startswith("rule_fit_") for c in comments), comments

    # label jobs: 2 per stage (structures_per_job 4), each given the 2 cores of resources.label.cores
    label_jobs = {j: r for j, r in rows.items()
                  if r["comment"].startswith("rule_label_") and not r["comment"].startswith("rule_label_noise")}
    assert len(label_jobs) >= 4, label_jobs
    assert {r["cpus"] for r in label_jobs.values()} == {2}, label_jobs
    for jid in label_jobs:
        assert re.search(r"rule label:.*?threads: 2", jobs[jid].read_text(), flags=re.S), jobs[jid]
        shown = cluster.scontrol_job(jid)
        if shown:  # scontrol forgets finished jobs after MinJobAge; slurm_rows above is the record
            assert "NumCPUs=2" in shown, shown
    # the label step itself saw the cores it got (oracles launch that many MPI ranks)
    for record in (run.dir / "iter_000" / "label_jobs").glob("*.json"):
        rec = json.loads(record.read_text())
        if "cores" in rec:
            assert rec["cores"] == 2, rec


@ON_SLURM
def test_job_killed_by_slurm_names_rule_job_id_and_log(cluster, background_runs):
    """Label jobs with a 20 MB memory limit are killed by SLURM (twice: the profile retries once); the
    error names the rule, the SLURM job id and the SLURM log, which says why."""
    run = background_runs["oom"]
    rc, out, seconds = run.wait()
    print(f"\nfailing jobs on SLURM: {len(submitted_jobs(out))} SLURM jobs in {seconds:.0f} s")
    assert rc == 1, out[-3000:]
    assert "Trying to restart job" in out, "the profile retries a failed job once"
    blocks = out.split("Error in rule ")[1:]
    assert len(blocks) == 4, out[-4000:]  # 2 label chunks x 2 attempts
    for block in blocks:
        rule = block.split(":")[0]
        jid = re.search(r"SLURM-job '(\d+)' failed", block).group(1)
        logs = re.search(r"^\s+log: (.*?) \(check log", block, flags=re.M).group(1).split(", ")
        assert rule == "label", block
        assert re.search(rf"^\s+external_jobid: {jid}$", block, flags=re.M), block
        slurm_log = Path(logs[-1])
        assert slurm_log.name == f"{jid}.log" and slurm_log.is_file(), logs
        assert "rule_label" in str(slurm_log)
        assert re.search(r"memory limit", slurm_log.read_text(), flags=re.I), slurm_log.read_text()[-2000:]
    assert not (run.dir / "initial" / "labels.extxyz").exists()
    # with the workflow's onerror summary: one line per failed job with what SLURM said
    from mlip_autopipec import workflow_support

    if hasattr(workflow_support, "report_failed_slurm_jobs"):
        said = re.findall(r"SLURM job (\d+) \(rule label\) failed: (.*)\n\s+SLURM log: (\S+)", out)
        assert len(said) == 4 and all("memory limit" in reason for _, reason, _ in said), said
