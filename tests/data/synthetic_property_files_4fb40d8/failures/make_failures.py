"""With the code of the running PYTHONPATH: a property oracle job, an oracle equilibrium and the
properties job where the (mock) oracle fails, and the state of a stage whose properties.json is
not yet written. Run in an empty directory."""
import shutil
from pathlib import Path

import yaml

from mlip_autopipec.domain_models.config import config_from_dict
from mlip_autopipec.loop.property_state import property_counts
from mlip_autopipec.properties.system import build_tasks, property_system
from mlip_autopipec.properties import TASK
from mlip_autopipec.core.io import write_json, read_structures, write_structures
from mlip_autopipec.steps import properties as S

raw = {"seed": 5, "structures": [{"kind": "bulk", "element": "Cu", "crystal": "fcc", "a": 3.61}],
       "oracle": {"kind": "mock", "fail_fraction": 0.4}, "labeling": {"structures_per_job": 9},
       "properties": {"enabled": True, "include": ["eos", "vacancy"], "cheap": False}}
Path("config.yaml").write_text(yaml.safe_dump(raw))
rcfg = config_from_dict(raw, Path("config.yaml").resolve())
d = Path("iter_000/properties")
(d / "oracle_jobs").mkdir(parents=True, exist_ok=True)
eq = S.run_property_equilibrium(rcfg, str(d / "oracle_equilibrium.extxyz"), str(d / "oracle_equilibrium.json"), "cache")
print("equilibrium", eq)
rec = S.run_property_label_chunk(rcfg, None, 0, str(d / "oracle_jobs/0.extxyz"), str(d / "oracle_jobs/0.json"), "cache",
                                 equilibrium_file=str(d / "oracle_equilibrium.extxyz"))
print("chunk", rec)
# the potential's side: the same mock oracle without failures, as a stand-in potential
from mlip_autopipec.components.registry import make_oracle
from mlip_autopipec.properties.evaluate import evaluate
from ase.calculators.emt import EMT
calc = EMT()
tasks = build_tasks(rcfg.cfg.properties, property_system(rcfg))
write_structures(d / "tasks.extxyz", tasks)
counts = {k: dict(v) if isinstance(v, dict) else v.model_dump() for k, v in property_counts(".").items()}
write_json("state_properties_before_records.json", counts)  # WorkflowState.properties of this moment
print("state before properties.json", counts)

# the potential's side: the mock oracle without failures stands in for the potential
class _Trainer:
    def calculator(self, files, with_gamma=False):
        if with_gamma:
            raise RuntimeError("no active set")
        return calc
S.make_trainer = lambda cfg: _Trainer()
S.run_property_tasks(rcfg, "iter_000", str(d / "tasks.extxyz"), str(d / "potential.extxyz"))
S.run_md_stability_step(rcfg, "iter_000", str(d / "md_stability.json"))
S.run_properties(rcfg, "iter_000", str(d / "potential.extxyz"), [str(d / "oracle_jobs/0.extxyz")],
                 [str(d / "oracle_jobs/0.json")], str(d / "md_stability.json"), str(d / "properties.json"),
                 str(d / "details.json"), (str(d / "oracle_equilibrium.extxyz"), str(d / "oracle_equilibrium.json")))
counts = {k: dict(v) if isinstance(v, dict) else v.model_dump() for k, v in property_counts(".").items()}
write_json("state_properties_after_records.json", counts)
print("state after", counts)
# an oracle equilibrium that fails (another stage, every call fails)
raw_fail = {**raw, "oracle": {"kind": "mock", "fail_fraction": 0.99}}
rfail = config_from_dict(raw_fail, Path("config.yaml").resolve())
f = Path("iter_001/properties")
f.mkdir(parents=True, exist_ok=True)
print("failed equilibrium", S.run_property_equilibrium(rfail, str(f / "oracle_equilibrium.extxyz"),
                                                       str(f / "oracle_equilibrium.json"), "cache_fail"))
