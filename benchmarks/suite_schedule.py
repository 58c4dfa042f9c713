"""How long the test suite's two xdist workers take for a given order of work units, replayed from a
whole-suite JUnit report (each test's measured seconds): the old order (shared runs first, then the
modules alphabetically, LAMMPS last) against the longest-first order of tests/conftest.unit_rank.

    CI=1 JUNITXML=/tmp/suite.xml bash tests/run_suite.sh    # one whole-suite run
    .venv/bin/python benchmarks/suite_schedule.py /tmp/suite.xml

The replay follows pytest-xdist's LoadScopeScheduling (xdist/scheduler/loadscope.py): each worker
starts with one unit (and a second if that has two tests or fewer), and gets the next unit in the queue
when a test completes and two or fewer of its assigned tests are left. It is a replay of measured test
times, not a measurement of the new order: tests running beside each other slow each other down
differently in another order, and the longest-first order is computed from the same report it is replayed on.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import unit_rank, work_unit  # noqa: E402
from unit_durations import unit_seconds_from_junit  # noqa: E402


def tests_by_unit(xml_text: str) -> dict[str, list[float]]:
    """{work unit: [seconds of each of its tests, in report order]}."""
    out: dict[str, list[float]] = defaultdict(list)
    for case in ET.fromstring(xml_text).iter("testcase"):
        module = next(p for p in case.get("classname", "").split(".") if p.startswith("test_"))
        out[work_unit(f"{module}.py")].append(float(case.get("time") or 0.0))
    return dict(out)


def replay(order: list[str], tests: dict[str, list[float]], workers: int = 2) -> list[float]:
    """When each worker finishes under xdist's scheduling of `order` (a worker idles only at the end)."""
    queue = list(order)
    pending: list[list[float]] = [[] for _ in range(workers)]
    clock = [0.0] * workers

    def top_up(w: int) -> None:  # xdist's _reschedule: at most one unit per call
        if queue and len(pending[w]) <= 2:
            pending[w].extend(tests[queue.pop(0)])

    for w in range(workers):
        if queue:
            pending[w].extend(tests[queue.pop(0)])
    for w in range(workers):
        top_up(w)
    while any(pending):
        w = min((w for w in range(workers) if pending[w]), key=lambda w: clock[w])
        clock[w] += pending[w].pop(0)  # the running test counts as pending until it completes
        top_up(w)
    return clock


def old_order(units: list[str]) -> list[str]:
    """Before: shared runs first, the modules in collection (alphabetical) order, LAMMPS last."""
    def rank(u: str) -> tuple[int, str]:
        return (2 if u == "test_lammps.py" else 0 if u == "shared_runs" else 1), u
    return sorted(units, key=rank)


def main(xml_file: str) -> None:
    text = Path(xml_file).read_text()
    tests = tests_by_unit(text)
    seconds = unit_seconds_from_junit(text)
    total = sum(seconds.values())
    print(f"{len(tests)} units, {sum(map(len, tests.values()))} tests, {total:.0f} s of test time "
          f"(two workers: {total / 2:.0f} s at best)")
    for name, order in (("alphabetical (before)", old_order(list(tests))),
                        ("longest first (conftest.unit_rank)", sorted(tests, key=lambda u: unit_rank(u, seconds)))):
        ends = replay(order, tests)
        print(f"{name:36s} makespan {max(ends):6.0f} s   workers end at {' / '.join(f'{e:.0f}' for e in ends)} s")


if __name__ == "__main__":
    main(sys.argv[1])
