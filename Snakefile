# mlip-autopipec: on-the-fly active learning of ACE potentials.
# The loop: EXPLORE (checkpoint) -> REFINE -> LABEL -> TRAIN -> next iteration, until the
# exploration runs its whole budget (converged.flag) or max_cycles / patience stop it (stopped.flag).
# Logic lives in src/mlip_autopipec; rules only name files. Config: config/config.yaml.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/initial.smk"
include: "rules/explore.smk"
include: "rules/refine.smk"
include: "rules/label.smk"
include: "rules/train.smk"
include: "rules/finalize.smk"
include: "rules/properties.smk"
include: "rules/report.smk"


# The checkpoint's decision only reads a few small JSON files: on a cluster it runs in the Snakemake
# process itself instead of waiting in the queue as a job of its own once per iteration.
localrules:
    gate,


rule all:
    input:
        final_target,
        rules.report.output.html,
        properties_targets,
    default_target: True
