"""How much of a DFT-driven run is spent outside the oracle?

Runs the GPAW example (examples/si_gpaw/config.yaml, a few iterations) through `mlip-runner` in a
fresh directory, then compares the time each label spent inside the oracle (`oracle_wall_time_s`
in the labels' info: the oracle's whole `label()` call — run directory, GPAW, parsing) with what
Snakemake measured for the jobs (logs/benchmark/**.tsv) and with the run's wall clock.

    .venv/bin/python benchmarks/oracle_overhead.py [--max-cycles 2] [--cores 2] [--cutoff 400]
    .venv/bin/python benchmarks/oracle_overhead.py --analyse RUN_DIR     # an existing run

Printed: the label jobs' share of wall time outside the oracle (goal ≤ 10 %: the pipeline's cost
per DFT job — interpreter start, imports, config, I/O, state refresh), and for the whole run the
shares of the oracle, of the other steps (ACE fits, MD, selection) and of the gaps between jobs.

Measured here (2 shared cores, Nov 2026), max_cycles 2, 13 GPAW labels of 8-atom Si:
  250 eV (the example as it is), --cores 2: labels 3.7 s each; 18.7 % of label-job time outside the
      oracle (0.85 s per job); 12.9 % of the run's 68 s wall clock outside the oracle.
  --cutoff 400 --cores 1: labels 6.4 s each; 12.0 % (0.88 s per job); 26.2 % of 132 s.
The per-job cost is fixed (~0.9 s: a Python process, imports, config, outputs), so the share is
below 10 % for labels longer than ~8 s — every real DFT label.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mlip_autopipec.core.io import read_json, read_structures  # noqa: E402


def _job_seconds(tsv: Path) -> float:
    with open(tsv) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return float(rows[-1]["s"]) if rows else 0.0


def analyse(run_dir: str | Path, wall_s: float | None = None) -> dict:
    """Times of a finished run directory (seconds and shares); `wall_s`: the run's wall clock."""
    run = Path(run_dir)
    labels = []
    for f in sorted([run / "initial" / "labels.extxyz", *run.glob("iter_*/labels.extxyz")]):
        if f.is_file():
            labels += read_structures(f)
    oracles = sorted({str(a.info.get("oracle")) for a in labels})
    # the oracle time the label jobs spent: a label the job found in the cache (e.g. computed by the
    # label-noise check) carries the oracle time of the job that computed it, not of this one
    records = [read_json(f) for f in sorted([*run.glob("initial/label_jobs/*.json"), *run.glob("iter_*/label_jobs/*.json")])]
    oracle_s = sum(float(r.get("oracle_s_now", 0.0)) for r in records)
    bench = run / "logs" / "benchmark"
    jobs = {str(p.relative_to(bench)): _job_seconds(p) for p in bench.glob("**/*.tsv")}
    label_jobs_s = sum(s for name, s in jobs.items() if name.startswith("label/"))
    reference_s = sum(s for name, s in jobs.items() if name.startswith("reference_energies/"))
    all_jobs_s = sum(jobs.values())
    other_jobs_s = all_jobs_s - label_jobs_s - reference_s
    out = {
        "n_labels": len(labels), "oracles": oracles, "oracle_s": oracle_s, "label_jobs_s": label_jobs_s,
        "n_label_jobs": sum(name.startswith("label/") for name in jobs),
        "label_overhead_share": 1 - oracle_s / label_jobs_s if label_jobs_s else float("nan"),
        "label_overhead_per_job_s": (label_jobs_s - oracle_s) / max(1, sum(n.startswith("label/") for n in jobs)),
        "reference_energies_s": reference_s, "other_jobs_s": other_jobs_s, "all_jobs_s": all_jobs_s,
        "n_iterations": len(list(run.glob("iter_*"))),
    }
    if wall_s:
        out["wall_s"] = wall_s
        out["outside_oracle_share_of_wall"] = 1 - (oracle_s + reference_s) / wall_s
    return out


def report(r: dict) -> str:
    lines = [
        f"labels: {r['n_labels']} by {', '.join(r['oracles'])} in {r['n_iterations']} iteration directories",
        f"oracle time in the label jobs (their records' oracle_s_now): {r['oracle_s']:.1f} s",
        f"label jobs (Snakemake benchmark, {r['n_label_jobs']} jobs): {r['label_jobs_s']:.1f} s",
        f"  -> share of label-job time outside the oracle: {100 * r['label_overhead_share']:.1f} % "
        f"({r['label_overhead_per_job_s']:.2f} s per job; goal <= 10 %)",
        f"isolated-atom reference job: {r['reference_energies_s']:.1f} s; other jobs (fit, MD, selection, "
        f"bookkeeping): {r['other_jobs_s']:.1f} s",
    ]
    if "wall_s" in r:
        lines.append(f"run wall clock: {r['wall_s']:.1f} s; share outside the oracle (everything but DFT, "
                     f"incl. ACE fits and MD): {100 * r['outside_oracle_share_of_wall']:.1f} %")
    return "\n".join(lines)


def run_example(config: Path, max_cycles: int, cores: int, workdir: Path, cutoff: float | None) -> float:
    import yaml

    raw = yaml.safe_load(config.read_text())
    raw["max_cycles"] = max_cycles
    if cutoff is not None:
        raw["oracle"]["cutoff_ev"] = cutoff
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    runner = Path(sys.executable).parent / "mlip-runner"
    t0 = time.perf_counter()
    proc = subprocess.run([str(runner), "run", "config.yaml", "--cores", str(cores), "--workdir", str(workdir)],
                          cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-5000:])
        raise SystemExit(f"mlip-runner failed with exit code {proc.returncode} in {workdir}")
    return wall


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(REPO / "examples" / "si_gpaw" / "config.yaml"))
    p.add_argument("--max-cycles", type=int, default=2)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--cutoff", type=float, default=None, help="override oracle.cutoff_ev (a costlier, "
                   "more realistic DFT label)")
    p.add_argument("--workdir", default=None, help="run here (default: a temporary directory, removed)")
    p.add_argument("--analyse", default=None, help="only analyse this existing run directory")
    ns = p.parse_args(argv)
    if ns.analyse:
        print(report(analyse(ns.analyse)))
        return 0
    workdir = Path(ns.workdir) if ns.workdir else Path(tempfile.mkdtemp(prefix="oracle-overhead-"))
    try:
        wall = run_example(Path(ns.config), ns.max_cycles, ns.cores, workdir, ns.cutoff)
        print(f"{ns.config} (max_cycles {ns.max_cycles}, --cores {ns.cores}"
              + (f", cutoff {ns.cutoff:g} eV" if ns.cutoff else "") + f") in {workdir}")
        print(report(analyse(workdir, wall)))
    finally:
        if not ns.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
