"""The workflow on a real SLURM cluster through `--profile profiles/slurm`.

A one-node cluster (slurmctld + slurmd + munge on 127.0.0.1, tests/slurm_cluster.py) runs the mock
loop with plain `snakemake --profile`, a short real Cu/EMT loop with `mlip-runner run --profile` that
is interrupted (a job cancelled with scancel, Snakemake killed mid-iteration) and resumed, and a job
killed by SLURM for exceeding its memory. Every run is guarded by `timeout -k 10`: a stuck status poll
ignores SIGTERM. Each SLURM job costs ~10-20 s here (submission, two Snakemake start-ups inside the
job, status polling), so the configs are small and the profile groups chains of rules.

These tests FAIL when the cluster cannot start (SLURM not installed: tools/install_slurm.sh), unless
MLIP_SKIP_SLURM=1. The profile checks at the top need no cluster.
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

from conftest import BIN, CONFIGS, REPO
from slurm_cluster import ClusterError, slurm_cluster

PROFILE = REPO / "profiles" / "slurm"
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: (\S+?)\)")
ITER_FILES = ["halt.xyz", "candidates.xyz", "selected.xyz", "labels.extxyz", "potential.yace",
              "potential.yaml", "potential.asi", "exploration.json", "train.json"]


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
    rows = {}
    for jid, state, comment, cpus, mem in cluster.squeue():
        if jid in ids:
            rows[jid] = {"state": state, "comment": comment, "cpus": int(cpus), "mem": mem}
    return rows


def file_snapshot(paths) -> dict[str, tuple[int, bytes]]:
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in paths if p.is_file()}


def state_of(d: Path) -> dict:
    return json.loads((d / "workflow_state" / "workflow_state.json").read_text())


def check_one_refined_iteration(d: Path) -> dict:
    """Iteration 0 halted and was refined, labelled and fitted; iteration 1 ran through: converged."""
    assert (d / "converged.flag").is_file(), sorted(p.name for p in d.iterdir())
    for name in ITER_FILES:
        f = d / "iter_000" / name
        assert f.is_file() and f.stat().st_size > 0, f
    assert (d / "iter_001" / "exploration.json").is_file()
    assert not (d / "iter_001" / "halt.xyz").exists(), "a converged iteration has nothing to refine"
    assert not (d / "iter_002").exists()
    state = state_of(d)
    assert state["status"] == "CONVERGED" and state["iteration"] == 1, state
    assert state["history"][0]["n_labelled"] == state["history"][0]["n_selected"] > 0
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
    if os.environ.get("MLIP_SKIP_SLURM") == "1":
        pytest.skip("MLIP_SKIP_SLURM=1: SLURM tests skipped")
    with contextlib.ExitStack() as stack:
        try:
            c = stack.enter_context(slurm_cluster())
        except ClusterError as exc:
            pytest.fail(f"{exc}\n(set MLIP_SKIP_SLURM=1 to skip the SLURM tests)", pytrace=False)
        yield c


@pytest.mark.slow
def test_mock_loop_through_slurm_profile(cluster, tmp_path):
    shutil.copy(CONFIGS / "slurm_mock.yaml", tmp_path / "config.yaml")
    proc = run_guarded(snakemake_profile_cmd(), tmp_path, 600)
    output = proc.stdout + proc.stderr
    check_one_refined_iteration(tmp_path)

    # every rule job went through SLURM: job ids in Snakemake's output, in slurmctld's log, COMPLETED
    jobs = submitted_jobs(output)
    print(f"\nmock loop on SLURM: {len(jobs)} SLURM jobs in {proc.seconds:.0f} s")
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
    label_jobs = {j: r for j, r in rows.items() if r["comment"].startswith("rule_label_")}
    assert len(label_jobs) == 4, label_jobs
    assert {r["cpus"] for r in label_jobs.values()} == {2}, label_jobs
    for jid in label_jobs:
        assert re.search(r"rule label:.*?threads: 2", jobs[jid].read_text(), flags=re.S), jobs[jid]
        shown = cluster.scontrol_job(jid)
        assert not shown or "NumCPUs=2" in shown, shown
    # the label step itself saw the cores it got (oracles launch that many MPI ranks)
    for record in (tmp_path / "iter_000" / "label_jobs").glob("*.json"):
        rec = json.loads(record.read_text())
        if "cores" in rec:
            assert rec["cores"] == 2, rec


def _wait_for(predicate, timeout: float, what: str, proc=None, poll: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) while waiting for {what}")
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.mark.slow
def test_emt_loop_survives_scancel_and_killed_snakemake(cluster, tmp_path):
    """Cancel a running label job with scancel (Snakemake retries it), kill Snakemake mid-iteration,
    cancel what the killed run left in the queue, rerun the same command: the loop finishes and no
    finished label or fit is redone."""
    d = tmp_path
    shutil.copy(CONFIGS / "slurm_emt.yaml", d / "config.yaml")
    first_out = d / "first_run.log"
    t0 = time.time()
    with open(first_out, "w") as fh:
        proc = subprocess.Popen(guarded(runner_profile_cmd(), 600), cwd=d, env=clean_env(), stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def running_label_job():
            for jid, state, comment, *_ in cluster.squeue():
                if state == "RUNNING" and comment.startswith("rule_label_wildcards_iter_000"):
                    return jid
            return None

        victim = _wait_for(running_label_job, 420, "a running label job of iteration 0", proc)
        subprocess.run(["scancel", victim], check=True, timeout=30)
        # Snakemake sees the CANCELLED job and resubmits it (profile `retries: 1`)
        _wait_for(lambda: "Trying to restart job" in first_out.read_text(), 120,
                  "Snakemake to retry the cancelled job", proc)
    finally:
        # kill Snakemake mid-iteration: no cleanup, no cancelling of its jobs (a crash, a lost session)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    first = first_out.read_text()
    assert f"SLURM-job '{victim}' failed, SLURM status is: 'CANCELLED'" in first, first[-3000:]
    assert not (d / "converged.flag").exists()
    assert (d / "initial" / "potential.yace").is_file(), "iteration 0 should be under way"
    # what a user does after a crash: cancel the killed run's jobs still in the queue, then rerun
    cluster.cancel_all()
    cluster.wait_queue_empty(timeout=60)
    finished = sorted([*(d / "initial").glob("label_cache/*"), d / "initial" / "labels.extxyz",
                       *(d / "initial").glob("potential.*"), *(d / "iter_000").glob("label_cache/*"),
                       *(d / "iter_000").glob("explore/*"), d / "iter_000" / "exploration.json"])
    before = file_snapshot(finished)
    assert any("initial/label_cache" in p for p in before)
    records_before = file_snapshot((d / "iter_000").glob("label_jobs/*.json"))
    cached_before = sum(1 for p in before if "iter_000/label_cache" in p)

    proc2 = run_guarded(runner_profile_cmd(), d, 600)
    second = proc2.stdout + proc2.stderr
    print(f"\nEMT loop on SLURM: {len(submitted_jobs(first))} + {len(submitted_jobs(second))} SLURM jobs, "
          f"{proc2.seconds:.0f} s for the resumed run, {time.time() - t0:.0f} s in all")
    assert "CONVERGED" in proc2.stdout
    check_one_refined_iteration(d)
    after = file_snapshot(finished)
    changed = [p for p, v in before.items() if after.get(p) != v]
    assert not changed, f"finished work was redone after the resume: {changed}"
    # a label job the resumed run (re)did computed only what had no cached result
    for path, (mtime, content) in file_snapshot((d / "iter_000").glob("label_jobs/*.json")).items():
        if records_before.get(path) != (mtime, content):
            rec = json.loads(content)
            assert rec["n_computed_now"] == len(rec["indices"]) - cached_before, (rec, cached_before)
    # the resumed run went through SLURM too; the cancelled job is on record as such
    jobs = submitted_jobs(second)
    assert jobs and set(jobs) <= set(cluster.job_ids_in_log())
    assert slurm_rows(cluster, [victim])[victim]["state"] == "CANCELLED"


@pytest.mark.slow
def test_job_killed_by_slurm_names_rule_job_id_and_log(cluster, tmp_path):
    """A label job with a 20 MB memory limit is killed by SLURM (twice: the profile retries once); the
    error names the rule, the SLURM job id and the SLURM log, which says why."""
    cfg = yaml.safe_load((CONFIGS / "slurm_mock.yaml").read_text())
    cfg["resources"]["label"]["mem_mb"] = 20
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_guarded(runner_profile_cmd("--", "initial/labels.extxyz"), tmp_path, 400, check=False)
    out = proc.stdout + proc.stderr
    print(f"\nfailing job on SLURM: {len(submitted_jobs(out))} SLURM jobs in {proc.seconds:.0f} s")
    assert proc.returncode == 1, out[-3000:]
    assert "Trying to restart job" in out, "the profile retries a failed job once"
    blocks = out.split("Error in rule ")[1:]
    assert blocks, out[-4000:]
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
    assert not (tmp_path / "initial" / "labels.extxyz").exists()
