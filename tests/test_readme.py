"""The README's commands are checked against what they call: `make` targets against the Makefile,
`mlip-runner` command lines against the CLI's own argument parser, `snakemake` options against
`snakemake --help`, and every linked file exists. The default run itself is what `make run` runs
(`default_cu_run` in tests/conftest.py runs that config through the same CLI), so a renamed option,
subcommand or page breaks this test instead of a user's first minute."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mlip_autopipec.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def readme_commands() -> list[list[str]]:
    """Each command line of the README's ```bash blocks, split like a shell, comments dropped."""
    text = README.read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(shlex.split(line))
    return out


COMMANDS = readme_commands()


def test_the_readme_is_short():
    """Issue 27: the README is a front page (≤ 250 lines); the rest lives in docs/."""
    assert len(README.read_text().splitlines()) <= 250


def test_the_readme_has_the_two_commands():
    assert ["make", "run"] in COMMANDS and ["make", "test"] in COMMANDS


def test_make_targets_exist():
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M))
    used = {cmd[1] for cmd in COMMANDS if cmd[0] == "make"}
    assert used and used <= targets


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c[0].endswith("mlip-runner")], ids=" ".join)
def test_mlip_runner_lines_parse(cmd):
    argv = cmd[1:]
    if "--" in argv:
        argv = argv[:argv.index("--")]
    ns = build_parser().parse_args(argv)  # exits (SystemExit) on an unknown subcommand or option
    assert callable(ns.func)


def test_snakemake_options_exist():
    lines = [c for c in COMMANDS if c[0].endswith("snakemake")]
    assert lines
    help_text = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--help"],
                               capture_output=True, text=True, check=True).stdout
    for cmd in lines:
        for opt in (a for a in cmd[1:] if a.startswith("--")):
            assert re.search(rf"(^|\s){re.escape(opt)}[\s,=]", help_text, re.M), opt


def test_every_linked_file_exists():
    links = re.findall(r"\]\(([^)#]+)\)", README.read_text())
    missing = [link for link in links if not link.startswith("http") and not (REPO / link).exists()]
    assert links and missing == []


def test_paths_in_commands_exist():
    """Config files and profiles a README command names are in the repository."""
    for cmd in COMMANDS:
        for arg in cmd[1:]:
            if arg.startswith(("config/", "profiles/", "examples/")):
                assert (REPO / arg).exists(), arg
