"""Where the study's files live: each path pattern and list of names written once.

A study is a named unit: everything it computes is under ``results/<study>/``, its logs under
``logs/<study>/`` and its report at ``report/<study>/index.html``; ``report/index.html`` is the
catalogue of every study present. The workflow (workflow/rules/common.smk), the CLI and the
tests read these; none of them retypes a path. Patterns use the workflow's wildcard names, so
`str.format` fills them from a job's keys and Snakemake reads them as wildcard patterns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Top-level directories, relative to the project directory the workflow runs in.
RESULTS_ROOT = "results"
LOGS_ROOT = "logs"
REPORT_ROOT = "report"

#: The catalogue of every study present, and each study's summary file in its report directory
#: (what the catalogue is built from).
CATALOGUE = f"{REPORT_ROOT}/index.html"
STUDY_SUMMARY = "study.json"
STUDY_REPORT = "index.html"

#: One training job's directory under the training results, by its wildcards.
JOB_DIR = "{dataset}/{optimizer}/{budget}/bs{batch_size}"

#: One timing-stage job's directory under the timing results (every batch size of a job key).
TIMING_KEY_DIR = "{dataset}/{optimizer}/{budget}"

#: The figures drawn for every analysis condition, as `<name>.png` in its plot directory.
PLOT_NAMES = ("curves", "accuracy", "timing", "scaling")

#: GPU slot lock files of one machine (`batchstudy.gpu.gpu_slot`), shared by every study run
#: from this project directory.
GPU_LOCK_DIR = f"{RESULTS_ROOT}/.gpu-locks"


@dataclass(frozen=True)
class StudyDirs:
    """The directories of one study, relative to the project directory. Every rule's path
    starts with one of these (`workflow/rules/common.smk` makes them its constants)."""

    study: str

    @property
    def results(self) -> str:
        return f"{RESULTS_ROOT}/{self.study}"

    @property
    def data(self) -> str:
        return f"{self.results}/data"

    @property
    def splits(self) -> str:
        """Split sizes and chance levels of every dataset (`batchstudy.data.SPLIT_COLUMNS`)."""
        return f"{self.data}/splits.tsv"

    @property
    def train(self) -> str:
        return f"{self.results}/train"

    @property
    def aggregate(self) -> str:
        return f"{self.results}/aggregate"

    @property
    def timing(self) -> str:
        """The timing stage's files (config ``timing_repeats`` > 0), one per `TIMING_KEY_DIR`."""
        return f"{self.results}/timing"

    @property
    def analysis(self) -> str:
        return f"{self.results}/analysis"

    @property
    def noise(self) -> str:
        """The noise-scale reference runs, one ``<dataset>/<optimizer>/noise_scale.tsv`` each."""
        return f"{self.results}/noise"

    @property
    def plots(self) -> str:
        return f"{self.results}/plots"

    @property
    def benchmarks(self) -> str:
        return f"{self.results}/benchmarks"

    @property
    def logs(self) -> str:
        return f"{LOGS_ROOT}/{self.study}"

    @property
    def report(self) -> str:
        return f"{REPORT_ROOT}/{self.study}"

    @property
    def findings(self) -> str:
        return f"{self.analysis}/findings.json"

    @property
    def report_html(self) -> str:
        return f"{self.report}/{STUDY_REPORT}"

    @property
    def summary(self) -> str:
        return f"{self.report}/{STUDY_SUMMARY}"


def study_summaries(root: str | Path = ".") -> list[Path]:
    """Every study's summary file present under `root`'s report directory, sorted by study."""
    return sorted(Path(root, REPORT_ROOT).glob(f"*/{STUDY_SUMMARY}"))
