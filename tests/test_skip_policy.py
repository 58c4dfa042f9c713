"""The one skip policy of tests/conftest.py: a missing program fails in CI and skips elsewhere."""

import pytest

from conftest import in_ci, require_module, require_program


@pytest.mark.parametrize("value, ci", [("1", True), ("true", True), ("", False), ("0", False), ("false", False)])
def test_ci_is_read_from_ci_or_mlip_ci(monkeypatch, value, ci):
    monkeypatch.delenv("MLIP_CI", raising=False)
    monkeypatch.setenv("CI", value)
    assert in_ci() is ci
    monkeypatch.delenv("CI")
    monkeypatch.setenv("MLIP_CI", value)
    assert in_ci() is ci


def test_missing_program_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="program 'no-such-program-xyz' is not installed.*CI installs"):
        require_program("no-such-program-xyz", "install it")
    with pytest.raises(pytest.fail.Exception, match="no_such_module_xyz"):
        require_module("no_such_module_xyz", "install it")


def test_missing_program_skips_with_the_install_hint_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("MLIP_CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"program 'no-such-program-xyz' is not installed \(install it\)"):
        require_program("no-such-program-xyz", "install it")


def test_an_installed_program_is_returned():
    assert require_program("sh").endswith("/sh")
    assert require_module("json", "part of Python").dumps([1]) == "[1]"
