# batch-size-study: how the training batch size changes neural-network training.
# Run: snakemake --cores 2   (see README.md)

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/timing.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/plot.smk"
include: "workflow/rules/report.smk"


localrules:
    all,
    config_snapshot,
    generate_data,
    dataset_splits,
    check_model,
    aggregate,
    analyze,
    tune,
    plot,
    report,
    catalogue,


rule all:
    default_target: True
    input:
        DIRS.report_html,
        CATALOGUE,
