"""A real one-node SLURM cluster on 127.0.0.1 for the tests that run the workflow through
`--profile profiles/slurm` (Debian 12's slurm-wlm 22.05 + munge, installed by tools/install_slurm.sh).

`slurm_cluster()` writes /etc/slurm/slurm.conf with a scratch state directory (the Snakemake jobstep
plugin drops SLURM_CONF before its inner `srun`, so only the default path works inside jobs), starts
munged, slurmctld and slurmd as root, waits until the node is idle, yields a `Cluster`, then cancels
what is left in the queue and stops exactly the daemons it started, by the PIDs in their pid files.

No conftest magic: tests/test_slurm.py wraps it in a session fixture. Missing SLURM (or not root)
follows the skip policy of tests/conftest.py (fail in CI, skip elsewhere); a cluster that is
installed but cannot start FAILS the tests with the daemons' log tails.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# written by mlip-autopipec tests/slurm_cluster.py"
LOCK_FILE = Path("/tmp/mlip-autopipec-slurm-cluster.lock")
SBIN = ("/usr/sbin", "/usr/bin", "/sbin")

CONF_TEMPLATE = """{marker} (state in {state})
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={state}/state
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# memory limits are enforced by polling (no cgroups here): a job over its --mem is killed within ~1 s
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# squeue must still list a finished job when Snakemake polls (plugin: >= 3 x the first poll delay)
# and when the tests read the states of all jobs of a run afterwards
MinJobAge=3600
SchedulerType=sched/backfill
# CPUs may exceed the machine's cores: test jobs mostly wait, and three test runs share the node
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


ACTIVE_STATES = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING")


class ClusterError(RuntimeError):
    pass


@dataclass
class Cluster:
    state_dir: Path
    cpus: int
    mem_mb: int

    @property
    def slurmctld_log(self) -> Path:
        return self.state_dir / "slurmctld.log"

    def job_ids_in_log(self) -> list[str]:
        """Every job id slurmctld accepted (from its log, which outlives MinJobAge)."""
        text = self.slurmctld_log.read_text(errors="replace") if self.slurmctld_log.exists() else ""
        return sorted(set(re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", text)), key=int)

    def squeue(self) -> list[dict]:
        """`squeue --states=all` (finished jobs stay listed for MinJobAge seconds) as dicts: id, state,
        name (the Snakemake run's SLURM run ID), comment (rule_<rule or group>_wildcards_...), cpus, mem."""
        out = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%j|%k|%C|%m"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        keys = ("id", "state", "name", "comment", "cpus", "mem")
        return [dict(zip(keys, line.split("|", 5))) for line in out.splitlines() if line.strip()]

    def scontrol_job(self, job_id: str) -> str:
        return subprocess.run(["scontrol", "show", "job", str(job_id)], capture_output=True, text=True,
                              timeout=30).stdout

    def cancel(self, name: str | None = None) -> None:
        """scancel the jobs of one Snakemake run (job name = its SLURM run ID), or all jobs."""
        subprocess.run(["scancel", "--full", *(["--name", name] if name else ["--user", "root"])],
                       capture_output=True, timeout=30)

    def wait_queue_empty(self, timeout: float = 60, name: str | None = None) -> None:
        """Wait until no job (of the run `name`, if given) is pending, running or completing."""
        deadline = time.time() + timeout
        while True:
            active = [r for r in self.squeue() if r["state"] in ACTIVE_STATES and name in (None, r["name"])]
            if not active:
                return
            if time.time() > deadline:
                raise ClusterError(f"SLURM jobs still active after {timeout:.0f} s: {active}")
            time.sleep(0.5)


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in SBIN:
        if os.access(f"{d}/{name}", os.X_OK):
            return f"{d}/{name}"
    return None


def _tail(path: Path, n: int = 30) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return f"--- {path} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as dead
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _stop(pid: int | None, timeout: float = 10) -> None:
    """SIGTERM one daemon by its PID, then SIGKILL it if it is still there after `timeout`."""
    if pid is None or not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while time.time() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _munge_works() -> bool:
    munge, unmunge = _which("munge"), _which("unmunge")
    if not (munge and unmunge):
        return False
    try:
        cred = subprocess.run([munge, "-n"], capture_output=True, timeout=5)
        if cred.returncode:
            return False
        return subprocess.run([unmunge], input=cred.stdout, capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) / 1024 * 0.8)
    return 4000


def check_prerequisites() -> None:
    missing = [b for b in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo") if not _which(b)]
    if missing:
        raise ClusterError(f"SLURM is not installed (missing {', '.join(missing)}): run "
                           f"`bash tools/install_slurm.sh` as root")
    if os.geteuid() != 0:
        raise ClusterError("starting the test SLURM cluster needs root (it writes /etc/slurm/slurm.conf and runs "
                           "slurmctld/slurmd)")


@contextlib.contextmanager
def _exclusive_lock(timeout: float = 1800):
    """One test cluster per machine: a second pytest session waits for the first to finish."""
    fh = open(LOCK_FILE, "a+")
    deadline = time.time() + timeout
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.time() > deadline:
                fh.close()
                raise ClusterError(f"another test session holds {LOCK_FILE} (its SLURM cluster) for "
                                   f"over {timeout:.0f} s") from None
            time.sleep(1)
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


@contextlib.contextmanager
def slurm_cluster(cpus: int | None = None, start_timeout: float = 30):
    """Start the one-node cluster, yield a Cluster, stop it. Raises ClusterError if it cannot start."""
    check_prerequisites()
    with _exclusive_lock():
        state = Path(tempfile.mkdtemp(prefix="mlip-slurm-"))
        for sub in ("state", "spool"):
            (state / sub).mkdir()
        cpus = cpus or max(8, os.cpu_count() or 1)
        cluster = Cluster(state, cpus, _mem_mb())
        backup = None
        if SLURM_CONF.exists() and MARKER not in SLURM_CONF.read_text(errors="replace"):
            backup = SLURM_CONF.with_suffix(".conf.mlip-backup")
            shutil.copy2(SLURM_CONF, backup)
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF.write_text(CONF_TEMPLATE.format(marker=MARKER, state=state, cpus=cpus, mem_mb=cluster.mem_mb))
        started_munged: int | None = None
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
        try:
            if not _munge_works():
                run_dir = Path("/run/munge")
                run_dir.mkdir(parents=True, exist_ok=True)
                shutil.chown(run_dir, "munge", "munge")
                subprocess.run(["runuser", "-u", "munge", "--", _which("munged")], check=True, timeout=15,
                               capture_output=True)
                started_munged = _read_pid(run_dir / "munged.pid")
                deadline = time.time() + 10
                while not _munge_works():
                    if time.time() > deadline:
                        raise ClusterError("munged started but `munge -n | unmunge` fails; see "
                                           "/var/log/munge/munged.log")
                    time.sleep(0.1)
            subprocess.run([_which("slurmctld")], check=True, timeout=30, env=env, capture_output=True)
            subprocess.run([_which("slurmd"), "-N", "localhost"], check=True, timeout=30, env=env,
                           capture_output=True)
            deadline = time.time() + start_timeout
            while True:
                sinfo = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10,
                                       env=env)
                if "idle" in sinfo.stdout:
                    break
                if time.time() > deadline:
                    raise ClusterError(f"the SLURM node is not idle after {start_timeout:.0f} s "
                                       f"(sinfo: {sinfo.stdout.strip() or sinfo.stderr.strip()})")
                time.sleep(0.3)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, ClusterError, OSError) as exc:
            detail = getattr(exc, "stderr", None)
            detail = detail.decode(errors="replace") if isinstance(detail, bytes) else (detail or "")
            failure = ClusterError(f"could not start the test SLURM cluster: {exc} {detail}\n"
                                   f"{_tail(cluster.slurmctld_log)}\n{_tail(state / 'slurmd.log')}")
        else:
            failure = None
        try:
            if failure is not None:
                raise failure
            yield cluster
        finally:
            with contextlib.suppress(Exception):
                cluster.cancel()
                cluster.wait_queue_empty(timeout=20)
            _stop(_read_pid(state / "slurmd.pid"))
            _stop(_read_pid(state / "slurmctld.pid"))
            if started_munged is not None:
                _stop(started_munged)
            if backup is not None:
                shutil.move(backup, SLURM_CONF)
            elif SLURM_CONF.exists() and MARKER in SLURM_CONF.read_text(errors="replace"):
                SLURM_CONF.unlink()
            if os.environ.get("MLIP_KEEP_SLURM_STATE") != "1":
                shutil.rmtree(state, ignore_errors=True)
