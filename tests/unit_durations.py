"""Write tests/unit_durations.json from a whole-suite run's JUnit XML: the seconds each xdist work
unit (conftest.work_unit: a module, or the shared runs) took, so conftest hands the longest units out
first. Refresh it when a module's cost changes much:

    bash tests/run_suite.sh --junitxml=/tmp/suite.xml && .venv/bin/python tests/unit_durations.py /tmp/suite.xml

A unit's seconds are the sum of its tests' times (setup, call, teardown: pytest's JUnit `time`), the
load it puts on one worker. Units missing from the file count as the median unit.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import work_unit  # noqa: E402

OUT = Path(__file__).resolve().parent / "unit_durations.json"


def unit_seconds_from_junit(xml_text: str) -> dict[str, float]:
    """{work unit: summed test seconds} of a pytest JUnit XML report."""
    seconds: dict[str, float] = defaultdict(float)
    for case in ET.fromstring(xml_text).iter("testcase"):
        # pytest's classname: the module's dotted path, then any test class ("tests.test_x.TestY")
        module = next(part for part in case.get("classname", "").split(".") if part.startswith("test_"))
        seconds[work_unit(f"{module}.py")] += float(case.get("time") or 0.0)
    return dict(seconds)


def main(xml_file: str) -> None:
    seconds = unit_seconds_from_junit(Path(xml_file).read_text())
    ordered = dict(sorted(((k, round(v, 1)) for k, v in seconds.items()), key=lambda kv: -kv[1]))
    OUT.write_text(json.dumps({"source": "tests/unit_durations.py from a whole-suite JUnit XML",
                               "seconds": ordered}, indent=1) + "\n")
    print(f"{OUT}: {len(ordered)} units, {sum(ordered.values()):.0f} s in all")


if __name__ == "__main__":
    main(sys.argv[1])
