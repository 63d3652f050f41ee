"""Where the study's files live: each path pattern and list of names written once.

The workflow (workflow/rules/common.smk), the CLI and the analysis read these; none of them
retypes a path. Patterns use the workflow's wildcard names, so `str.format` fills them from
a job's keys and Snakemake reads them as wildcard patterns.
"""

from __future__ import annotations

#: One training job's directory under the training results, by its wildcards.
JOB_DIR = "{dataset}/{optimizer}/{budget}/bs{batch_size}"

#: The figures drawn for every analysis condition, as `<name>.png` in its plot directory.
PLOT_NAMES = ("curves", "accuracy", "timing", "scaling")

#: GPU slot lock files of one machine (`batchstudy.gpu.gpu_slot`), shared by every study run
#: from this project directory.
GPU_LOCK_DIR = "results/.gpu-locks"
