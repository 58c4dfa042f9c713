"""Refit a finished run's labels with other trainer settings and score each fit on the run's own
held-out set (validation/validation.extxyz): a development-draw tool for choosing a fit setting
without re-running the loop (the loop's exploration used the run's own fits, so a setting chosen here
is then confirmed by real runs on other seeds).

    PYTHONPATH=src .venv/bin/python benchmarks/refit_heldout.py <config> <run dir> ridge_alpha=1e-7,1e-5,1e-3

Each `field=v1,v2,...` is a trainer field (dotted for nested: basis.max_order=3,4) tried one value at a
time against the run's trainer (`--final`: against its final fit's trainer, the ladder with every rung);
prints the chosen rung (ladder), held-out F and E RMSE per setting and per held-out group.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mlip_autopipec.components.base import PotentialFiles  # noqa: E402
from mlip_autopipec.components.registry import make_trainer  # noqa: E402
from mlip_autopipec.core.io import read_structures  # noqa: E402
from mlip_autopipec.domain_models.config import load_config  # noqa: E402
from mlip_autopipec.domain_models.records import read_reference_energies_file  # noqa: E402
from mlip_autopipec.scoring.fit_weights import of_calculator  # noqa: E402


def with_field(trainer, dotted: str, value):
    """The trainer config with one (possibly nested) field replaced."""
    head, _, rest = dotted.partition(".")
    if not rest:
        return trainer.model_copy(update={head: value})
    return trainer.model_copy(update={head: with_field(getattr(trainer, head), rest, value)})


def parse_value(text: str):
    """A sweep value: a number where it reads as one (YAML reads '1e-5' as a string), else YAML."""
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return yaml.safe_load(text)


def run_labels(run: Path) -> list:
    """Every label the loop trained on: the initial stage's and each iteration's."""
    return [a for f in sorted(run.glob("*/labels.extxyz")) if f.parent.name.startswith(("initial", "iter_"))
            for a in read_structures(f)]


def held_out_scores(calc, frames) -> dict[str, tuple[float, float]]:
    """(F meV/Å, E meV/atom) over all held-out frames and per group (info['condition'] or 'all')."""
    groups: dict[str, list] = {"all": list(frames)}
    for a in frames:
        groups.setdefault(str(a.info.get("condition", a.info.get("source", "?"))), []).append(a)
    out = {}
    for name, fr in groups.items():
        e = of_calculator(calc, fr, 1.0).errors()
        out[name] = (1e3 * e["force_rmse"], 1e3 * (e["energy_rmse_per_atom"] or float("nan")))
    return out


def main(config: Path, run: Path, sweeps: list[str], final: bool = False) -> None:
    cfg = load_config(config).cfg
    labels = run_labels(run)
    held = read_structures(run / "validation" / "validation.extxyz")
    reference = read_reference_energies_file(run / "initial" / "reference_energies.json")
    print(f"{run}: {len(labels)} labels, {len(held)} held-out frames")
    base = cfg.final_fit_trainer() if final else cfg.trainer
    settings = [("final fit" if final else "run config", base)]
    for sweep in sweeps:
        field, _, values = sweep.partition("=")
        for v in values.split(","):
            settings.append((f"{field}={v}", with_field(base, field, parse_value(v))))
    for name, trainer_cfg in settings:
        out = run / "refits" / name.replace("=", "_").replace(" ", "_")
        out.mkdir(parents=True, exist_ok=True)
        trainer = make_trainer(trainer_cfg)
        fit = trainer.fit(labels, out, reference, None, cfg.seed)
        ladder = (fit or {}).get("ladder") or {}
        rung = f" rung {ladder['functions_per_element']}" if "functions_per_element" in ladder else ""
        scores = held_out_scores(trainer.calculator(PotentialFiles.in_dir(out)), held)
        f, e = scores.pop("all")
        groups = "  ".join(f"{k} {v[0]:.1f}" for k, v in sorted(scores.items()))
        print(f"{name:28s}{rung} F {f:6.2f} meV/Å  E {e:6.2f} meV/atom   {groups}", flush=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--final"]
    main(Path(args[0]), Path(args[1]), args[2:], final="--final" in sys.argv)
