"""The suite's scheduling aid: unit seconds from a JUnit report, and the order conftest gives units."""

from conftest import unit_rank, work_unit
from unit_durations import unit_seconds_from_junit

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_cu_void" name="test_a" time="150.5"/>
<testcase classname="tests.test_mock_loop" name="test_b" time="80.0"/>
<testcase classname="tests.test_plan" name="test_c" time="20.0"/>
<testcase classname="tests.test_ladder.TestRungs" name="test_d" time="1.5"/>
<testcase classname="tests.test_ladder" name="test_e" time="2.0"/>
</testsuite></testsuites>"""


def test_unit_seconds_sum_a_units_tests_classes_and_shared_runs_included():
    assert unit_seconds_from_junit(JUNIT) == {"test_cu_void.py": 150.5, "shared_runs": 100.0, "test_ladder.py": 3.5}


def test_modules_sharing_a_session_run_are_one_unit():
    assert work_unit("tests/test_plan.py::test_x") == work_unit("tests/test_mock_loop.py::test_y") == "shared_runs"
    assert work_unit("tests/test_cu_void.py::test_z") == "test_cu_void.py"


def test_units_are_handed_out_shared_runs_first_then_longest_first_lammps_last():
    seconds = {"shared_runs": 10.0, "test_a.py": 5.0, "test_b.py": 300.0, "test_c.py": 40.0, "test_lammps.py": 900.0}
    units = ["test_lammps.py", "test_a.py", "test_new.py", "test_c.py", "shared_runs", "test_b.py"]
    # test_new.py is not measured: it counts as the median unit (40 s), tied with test_c.py (a stable sort)
    assert sorted(units, key=lambda u: unit_rank(u, seconds)) == [
        "shared_runs", "test_b.py", "test_new.py", "test_c.py", "test_a.py", "test_lammps.py"]
