# mlip-autopipec: on-the-fly active learning of ACE potentials.
# The loop: EXPLORE (checkpoint) -> REFINE -> LABEL -> TRAIN -> next iteration, until the
# exploration runs its whole budget (converged.flag) or max_cycles / patience stop it (stopped.flag).
# Logic lives in src/mlip_autopipec; rules only name files. Config: config/config.yaml.
from snakemake.utils import min_version

min_version("9.0")


# The demo config is the default only: a config the user names (`--configfile`, a profile's
# `configfile:`, `mlip-runner run my.yaml`) replaces it instead of being merged over it, so keys
# left out take the documented defaults. `--config key=value` still merges over either.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/initial.smk"
include: "rules/explore.smk"
include: "rules/refine.smk"
include: "rules/label.smk"
include: "rules/train.smk"
include: "rules/finalize.smk"
include: "rules/properties.smk"
include: "rules/ship.smk"
include: "rules/report.smk"
include: "rules/final.smk"


# The checkpoint's decision only reads a few small JSON files: on a cluster it runs in the Snakemake
# process itself instead of waiting in the queue as a job of its own once per iteration.
localrules:
    gate,


rule all:
    input:
        final_target,
        rules.report.output.html,
        rules.final.output.readme,
        properties_targets,
    default_target: True
