"""Bad inputs: one line naming the file, the field and the fix; exit code 2; no traceback; no
existing output changed.

Every case goes through the CLI's own entry point (`cli.main`) in this process, with Snakemake
replaced by a tripwire (a refused start never reaches it); a few representative cases also run as
the real `mlip-runner` program in a process of their own, as a user starts it."""

from pathlib import Path

import pytest
import yaml

from conftest import CONFIGS, run, runner_cmd

BASE = yaml.safe_load((CONFIGS / "mock_crash.yaml").read_text())

XYZ_NO_CELL = "2\nno cell\nCu 0 0 0\nCu 0 0 2.5\n"
XYZ_PERIODIC_NO_CELL = '2\nProperties=species:S:1:pos:R:3 pbc="T T T"\nCu 0 0 0\nCu 0 0 2.5\n'


def _slab_text(vacuum: float) -> str:
    """A Cu(111) slab as ASE writes it (extxyz, pbc T T F)."""
    import io

    from ase.build import fcc111
    from ase.io import write

    buf = io.StringIO()
    write(buf, fcc111("Cu", (2, 2, 3), vacuum=vacuum), format="extxyz")
    return buf.getvalue()


def _slab_cfg(**changes) -> dict:
    return {**cfg(**changes), "structures": [{"kind": "file", "path": "slab.extxyz"}]}
XYZ_OVERLAP = '2\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3 pbc="T T T"\nCu 0 0 0\nCu 0 0 0.2\n'
XYZ_UNLABELLED = '1\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3 pbc="T T T"\nCu 0 0 0\n'


def cfg(**changes) -> dict:
    out = yaml.safe_load(yaml.safe_dump(BASE))
    for dotted, value in changes.items():
        node = out
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def file_structure(name: str) -> dict:
    return cfg(structures=[{"kind": "file", "path": name}])


# (id, config dict or raw text, extra files {name: text}, extra CLI args, words the message must hold)
CASES = [
    ("unknown key", {**BASE, "max_cyles": 3}, {}, [], ["max_cyles", "unknown key", "spelling"]),
    ("wrong type", cfg(max_cycles="many"), {}, [], ["max_cycles", "integer"]),
    ("negative steps", cfg(initial_exploration_steps=-10), {}, [], ["initial_exploration_steps", "greater than or equal to 1"]),
    ("max_cycles 0", cfg(max_cycles=0), {}, [], ["max_cycles", "greater than or equal to 1"]),
    ("gamma_halt below gamma_select", cfg(**{"exploration.gamma_select": 8.0, "exploration.gamma_halt": 5.0}),
     {}, [], ["exploration", "gamma_halt", "greater than gamma_select"]),
    ("candidates fewer than selected", cfg(**{"candidates.n_candidates": 2, "selection.n_select": 5}), {}, [],
     ["n_select", "n_candidates", "generate at least as many"]),
    ("unknown oracle kind", cfg(oracle={"kind": "vasp9"}), {}, [], ["oracle", "kind"]),
    ("key of another kind", cfg(trainer={"kind": "mock", "basis": {"cutoff": 5}}), {}, [], ["trainer", "basis", "unknown key"]),
    ("bad condition name", cfg(**{"exploration.conditions": [{"name": "hot run"}]}), {}, [], ["conditions.0.name", "pattern"]),
    ("condition without structure", cfg(**{"exploration.conditions": [{"name": "a", "structure": 2}]}), {}, [],
     ["structure 2", "indices start at 0"]),
    ("duplicate condition names", cfg(**{"exploration.conditions": [{"name": "a"}, {"name": "a"}]}), {}, [],
     ["condition names must be unique"]),
    ("all candidate generators off", cfg(**{"candidates.mix": {"rattle": 0, "md_burst": 0, "normal_modes": 0}}),
     {}, [], ["candidates.mix", "positive weight"]),
    ("yaml syntax", "max_cycles: [1,\n", {}, [], ["not valid YAML"]),
    ("top level not a mapping", "- 1\n- 2\n", {}, [], ["must be a mapping"]),
    ("unknown element", cfg(structures=[{"kind": "bulk", "element": "Xx"}]), {}, [], ["structures[0]", "Xx"]),
    ("element the oracle cannot do", cfg(structures=[{"kind": "bulk", "element": "Si", "crystal": "diamond", "a": 5.43}],
                                         oracle={"kind": "emt"}), {}, [], ["oracle.kind=emt", "Si", "choose another oracle"]),
    ("missing structure file", file_structure("nope.xyz"), {}, [], ["structures[0].path", "nope.xyz", "not found"]),
    ("empty structure file", file_structure("empty.xyz"), {"empty.xyz": ""}, [], ["structures[0].path", "empty"]),
    ("corrupt structure file", file_structure("bad.xyz"), {"bad.xyz": "3\nfoo\nCu 0 0\n"}, [],
     ["structures[0].path", "bad.xyz"]),
    ("periodic structure without a cell", file_structure("nocell.xyz"), {"nocell.xyz": XYZ_PERIODIC_NO_CELL}, [],
     ["structures[0]", "no cell", "pbc=F F F"]),
    ("pressure on a slab", _slab_cfg(**{"exploration.conditions": [{"name": "npt", "pressure": 0.0}]}),
     {"slab.extxyz": _slab_text(8.0)}, [], ["conditions[0]", "pressure", "slab", "3D-periodic", "NVT"]),
    ("pressure on a cluster", {**cfg(**{"exploration.conditions": [{"name": "npt", "pressure": 1.0}]}),
                               "structures": [{"kind": "file", "path": "cl.xyz"}]},
     {"cl.xyz": XYZ_NO_CELL}, [], ["conditions[0]", "pressure", "cluster", "remove `pressure`"]),
    ("slab vacuum narrower than cutoff + margin", _slab_cfg(), {"slab.extxyz": _slab_text(2.0)}, [],
     ["structures[0]", "vacuum", "4.00 Å", "at least 7.00 Å", "lengthen cell vector c"]),
    ("min_distance above the shortest pair", cfg(**{"candidates.min_distance": 3.0}), {}, [],
     ["candidates.min_distance", "Cu-Cu", "2.553 Å", "structures[0]", "lower it"]),
    ("min_distance pair not an element pair", cfg(**{"candidates.min_distance": {"CuCu": 2.0}}), {}, [],
     ["candidates.min_distance", "CuCu", "like 'O-H'"]),
    ("overlapping atoms", file_structure("overlap.xyz"), {"overlap.xyz": XYZ_OVERLAP}, [],
     ["structures[0]", "apart", "remove duplicated atoms"]),
    ("too many vacancies", cfg(structures=[{"kind": "bulk", "element": "Cu", "supercell": [1, 1, 1], "vacancies": 4}]),
     {}, [], ["structures[0]", "vacancies", "larger supercell"]),
    ("substitution fraction above 1", cfg(structures=[{"kind": "bulk", "element": "Cu", "substitutions": {"Ni": 1.5}}]),
     {}, [], ["structures[0]", "Ni", "[0, 1]"]),
    ("missing validation file", cfg(validation={"file": "val.extxyz"}), {}, [], ["validation.file", "val.extxyz"]),
    ("unlabelled validation file", cfg(validation={"file": "val.extxyz"}), {"val.extxyz": XYZ_UNLABELLED}, [],
     ["validation.file", "energies and forces"]),
    ("profile directory missing", BASE, {}, ["--profile", "profiles/nowhere"], ["profiles/nowhere", "profile directory"]),
    ("strain collapsing the cell", cfg(**{"initial_data.strains": [-1.2]}), {}, [], ["initial_data.strains", "greater than -1"]),
]


# Cases also run through the installed `mlip-runner` program (a process each).
REAL_CLI = ["unknown key", "element the oracle cannot do", "profile directory missing"]


def prepare(tmp_path: Path, config, files) -> tuple[Path, dict]:
    config_path = tmp_path / "config.yaml"
    config_path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    for fname, text in files.items():
        (tmp_path / fname).write_text(text)
    # an earlier run's output that a failed start must not touch
    existing = tmp_path / "iter_000" / "halt.xyz"
    existing.parent.mkdir()
    existing.write_text("earlier output\n")
    return config_path, {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}


def check_refusal(tmp_path, config_path, before, name, words, returncode, stdout, stderr):
    assert returncode == 2, stdout + stderr
    err = stderr.strip()
    assert "Traceback" not in stdout + stderr
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert lines[0].startswith("mlip-runner: error: ")
    if name != "profile directory missing":
        assert str(config_path) in lines[0], "the message must name the config file"
    for word in words:
        assert word in lines[0], f"{word!r} missing from: {lines[0]}"
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before, "a refused start changed files"


@pytest.mark.parametrize("name, config, files, args, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line(tmp_path, monkeypatch, capsys, name, config, files, args, words):
    from mlip_autopipec import cli

    def snakemake_must_not_start(argv):
        raise AssertionError(f"Snakemake started despite the bad input {name!r}")

    monkeypatch.setattr(cli, "_run_snakemake", snakemake_must_not_start)
    monkeypatch.setattr(cli.log, "handlers", [])  # main() adds its stderr handler per call
    config_path, before = prepare(tmp_path, config, files)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["run", "config.yaml", *args])
    out = capsys.readouterr()
    check_refusal(tmp_path, config_path, before, name, words, code, out.out, out.err)


@pytest.mark.parametrize("name", REAL_CLI)
def test_bad_input_through_the_installed_program(tmp_path, name):
    _, config, files, args, words = next(c for c in CASES if c[0] == name)
    config_path, before = prepare(tmp_path, config, files)
    proc = run(runner_cmd("run", "config.yaml", *args), cwd=tmp_path, check=False)
    check_refusal(tmp_path, config_path, before, name, words, proc.returncode, proc.stdout, proc.stderr)


def test_bad_input_through_plain_snakemake_is_one_clear_message(tmp_path):
    from conftest import REPO, snakemake_cmd

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg(structures=[{"kind": "bulk", "element": "Xx"}])))
    proc = run(snakemake_cmd("--snakefile", REPO / "Snakefile", "--configfile", "config.yaml", "-n"),
               cwd=tmp_path, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "invalid configuration" in out and "structures[0]" in out and "Xx" in out
    assert "Traceback" not in out
