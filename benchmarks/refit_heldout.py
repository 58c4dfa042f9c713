"""Refit a finished run's labels with other trainer settings and score each fit on the run's own
held-out set (validation/validation.extxyz): a development-draw tool for choosing a fit setting
without re-running the loop (the loop's exploration used the run's own fits, so a setting chosen here
is then confirmed by real runs on other seeds).

    PYTHONPATH=src .venv/bin/python benchmarks/refit_heldout.py <config> <run dir> ridge_alpha=1e-7,1e-5,1e-3

Each `field=v1,v2,...` is a trainer field (dotted for nested: basis.max_order=3,4) tried one value at a
time against the run's trainer (`--final`: against its final fit's trainer, the ladder with every rung);
prints the chosen rung (ladder), held-out F and E RMSE per setting and per held-out group (info 'source').
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mlip_autopipec.components.base import PotentialFiles  # noqa: E402
from mlip_autopipec.components.registry import make_trainer  # noqa: E402
from mlip_autopipec.config_overrides import deep_merge, parse_sets  # noqa: E402
from mlip_autopipec.core.io import read_structures  # noqa: E402
from mlip_autopipec.core.metrics import rmse_metrics  # noqa: E402
from mlip_autopipec.domain_models.config import load_config  # noqa: E402
from mlip_autopipec.domain_models.records import read_reference_energies_file  # noqa: E402
from mlip_autopipec.steps.train import load_dataset  # noqa: E402


def with_setting(trainer, setting: str):
    """The trainer config with one `key.sub=value` set (the syntax and YAML values of `mlip-runner run
    --set`), validated as the config file's trainer is."""
    return type(trainer).model_validate(deep_merge(trainer.model_dump(), parse_sets([setting])))


def run_label_files(run: Path) -> list[Path]:
    """Every label file the loop trained on: the initial stage's and each iteration's."""
    return [f for f in sorted(run.glob("*/labels.extxyz")) if f.parent.name.startswith(("initial", "iter_"))]


def main(config: Path, run: Path, sweeps: list[str], final: bool = False) -> None:
    cfg = load_config(config).cfg
    labels = load_dataset(run_label_files(run))
    held = read_structures(run / "validation" / "validation.extxyz")
    reference = read_reference_energies_file(run / "initial" / "reference_energies.json")
    print(f"{run}: {len(labels)} labels, {len(held)} held-out frames")
    base = cfg.final_fit_trainer() if final else cfg.trainer
    settings = [("final fit" if final else "run config", base)]
    for sweep in sweeps:
        field, _, values = sweep.partition("=")
        for v in values.split(","):
            settings.append((f"{field}={v}", with_setting(base, f"{field}={v}")))
    for name, trainer_cfg in settings:
        out = run / "refits" / name.replace("=", "_").replace(" ", "_")
        out.mkdir(parents=True, exist_ok=True)
        trainer = make_trainer(trainer_cfg)
        fit = trainer.fit(labels, out, reference, None, cfg.seed)
        ladder = (fit or {}).get("ladder") or {}
        rung = f" rung {ladder['functions_per_element']}" if "functions_per_element" in ladder else ""
        m = rmse_metrics(trainer.calculator(PotentialFiles.in_dir(out)), held, group_by="source")
        groups = "  ".join(f"{k} {1e3 * g['force_rmse']:.1f}" for k, g in sorted(m.get("by_source", {}).items()))
        print(f"{name:28s}{rung} F {1e3 * m['force_rmse']:6.2f} meV/Å  E {1e3 * m['energy_rmse_per_atom']:6.2f} "
              f"meV/atom   {groups}", flush=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--final"]
    main(Path(args[0]), Path(args[1]), args[2:], final="--final" in sys.argv)
