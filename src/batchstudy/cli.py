"""Command line of the study's stages; every workflow rule is one call of it.

`python -m batchstudy <stage> ...`. Each stage imports only what it needs: `train` and
`check-model` import Keras and the spec's backend only (a JAX or PyTorch job never imports
TensorFlow); `time` and `noise-scale` import TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .layout import GPU_LOCK_DIR


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def cmd_check(args: argparse.Namespace) -> None:
    from . import config

    cfg = config.load(args.config)
    n = config.study_size(cfg)
    print(
        f"config OK: {n['jobs']} training job(s) = {n['jobs'] // n['batch_sizes']} "
        f"(dataset, optimizer, budget) x {n['batch_sizes']} batch size(s); "
        f"{n['runs']} run(s) = {n['conditions']} condition(s) (every lr arm x base learning "
        f"rate) x {n['batch_sizes']} batch size(s) x {n['seeds']} seed(s)"
    )
    by_base: dict[str, list[str]] = {}
    for name, draw in config.dataset_draws(cfg).items():
        by_base.setdefault(draw[config.DRAW_OF], []).append(name)
    for base, names in by_base.items():
        print(f"dataset {base}: {len(names)} draws, each counted as a dataset: {', '.join(names)}")


def cmd_data(args: argparse.Namespace) -> None:
    from .data import build_dataset, save_dataset

    spec = json.loads(args.spec)
    ds = build_dataset(spec, base=args.base)
    save_dataset(ds, args.out)
    val = f"{len(ds.x_val)} validation / " if ds.x_val is not None else ""
    _log(
        f"dataset {spec['kind']}: {ds.n_train} train / {val}{len(ds.x_test)} test rows, "
        f"{ds.x_train.shape[1]} features, {ds.n_classes} classes -> {args.out}"
    )


def cmd_splits(args: argparse.Namespace) -> None:
    """Split sizes and chance levels of every dataset file (named by its file's stem)."""
    import pandas as pd

    from .data import SPLIT_COLUMNS, load_dataset, split_facts
    from .io import write_table

    rows = [split_facts(Path(p).stem, load_dataset(p)) for p in args.data]
    write_table(args.out, pd.DataFrame(rows, columns=list(SPLIT_COLUMNS)))
    _log(f"split facts of {len(rows)} dataset(s) -> {args.out}")


def cmd_train(args: argparse.Namespace) -> None:
    from .data import load_dataset
    from .gpu import check_gpu_used, describe_devices, gpu_slot
    from .spec import TrainSpec

    data = load_dataset(args.data)  # fail on a bad input before paying for TensorFlow
    spec = TrainSpec.from_json(args.spec).resolved(data.n_train)  # step budget -> epochs
    with gpu_slot(args.gpu_slots if args.gpu else 0, args.lock_dir) as slot:
        if slot is None and args.gpu:
            _log(
                "NOTICE: this job asked for a GPU but no GPU slots are configured (run "
                "snakemake with --resources gpu=N); training on the CPU"
            )
        _log(f"device: {describe_devices()}")
        from .training import (
            choose_engine,
            configure_backend,
            select_backend,
            train,
            write_result,
        )

        select_backend(spec.backend)  # after the slot pinned the device, before any import
        t0 = time.perf_counter()
        keras = choose_engine(spec)[0] != "fused"  # the fused engine runs on TensorFlow alone
        info = configure_backend(spec.backend, args.threads, not args.nondeterministic, keras)
        if notice := check_gpu_used(
            slot, info["gpus_visible_to_backend"], bool(args.allow_cpu_fallback), spec.backend
        ):
            _log(notice)
        _log(
            f"backend {info['backend']} {info['backend_version']} ready in "
            f"{time.perf_counter() - t0:.1f} s on {info['device']} (GPUs it sees: "
            f"{info['gpus_visible_to_backend'] or 'none'}), {args.threads} thread(s), "
            f"deterministic ops {'on' if info['op_determinism'] else 'off'}"
            + (f", oneDNN kernels {'on' if info['onednn'] else 'off'}" if "onednn" in info else "")
        )
        _log(
            f"training batch size {spec.batch_size}: {len(spec.variants)} learning rate(s) "
            f"{[v.learning_rate for v in spec.variants]} x seeds {list(spec.seeds)}, "
            f"engine {spec.engine}"
        )
        result = train(data, spec, _log, base=args.base)
        extra: dict[str, Any] = {
            **info,
            "gpu_slot": slot,
            "device_env": describe_devices(),
            "n_train": data.n_train,
        }
        paths = (Path(args.history), Path(args.timing), Path(args.meta))
        write_result(result, spec, *paths, extra, evals=Path(args.evals))
    _log(f"done: {args.history}")


def cmd_time(args: argparse.Namespace) -> None:
    """The timing stage: every batch size's training re-timed, repeats interleaved."""
    from .data import load_dataset
    from .io import write_table
    from .spec import TrainSpec

    data = load_dataset(args.data)  # fail on a bad input before paying for TensorFlow
    specs = [TrainSpec(**s) for s in json.loads(args.specs)]
    from .engines.timing import time_batch_sizes
    from .training import configure_tensorflow

    info = configure_tensorflow(args.threads, not args.nondeterministic, keras=False)  # fused
    _log(
        f"timing {len(specs)} batch size(s) x {args.repeats} repeat(s) x {args.epochs} "
        f"epoch(s) on {info['device']}, {args.threads} thread(s)"
    )
    table = time_batch_sizes(data, specs, args.repeats, args.epochs, _log)
    write_table(args.out, table)
    _log(f"done: {args.out}")


def _chance(splits: str | None) -> dict[str, dict[str, float] | None]:
    """Dataset -> chance accuracy (``chance``) and chance loss (``chance_loss``) from a
    splits.tsv (`batchstudy.data.split_facts`); both None without one."""
    if not splits:
        return {"chance": None, "chance_loss": None}
    from .data import SPLIT_COLUMNS, chance_accuracies, chance_losses
    from .io import read_table

    table = read_table(splits, SPLIT_COLUMNS, what="splits")
    return {"chance": chance_accuracies(table), "chance_loss": chance_losses(table)}


def cmd_aggregate(args: argparse.Namespace) -> None:
    from .aggregate import aggregate, beside, extra_tables

    chance = _chance(args.splits)
    settings = json.loads(args.settings)
    extra = extra_tables(args.histories, args.timing_repeats, log=_log)  # read before writing
    with beside(args.threads) as submit:  # 2 threads: the writing beside the metrics
        out = Path(args.out_dir)
        aggregate(args.histories, out, settings, log=_log, submit=submit, extra=extra, **chance)


def cmd_analyze(args: argparse.Namespace) -> None:
    from .aggregate import TIMING_REPEATS_TABLE_COLUMNS
    from .data import SPLIT_COLUMNS
    from .findings import analyze
    from .io import read_table, write_json
    from .metrics import CONDITION_KEYS, LOSS_SUMMARY_COLUMNS
    from .stats import IntervalSettings

    runs = read_table(args.runs, CONDITION_KEYS, what="runs")
    # A summary written before the loss rule lacks its columns: rerun the aggregate stage.
    summary = read_table(args.summary, (*CONDITION_KEYS, *LOSS_SUMMARY_COLUMNS), what="summary")
    repeats = (
        read_table(args.timing_repeats, TIMING_REPEATS_TABLE_COLUMNS, what="timing-repeats")
        if args.timing_repeats
        else None
    )
    settings = IntervalSettings.from_metrics(json.loads(args.settings))
    splits = read_table(args.splits, SPLIT_COLUMNS, what="splits") if args.splits else None
    found = analyze(
        runs,
        summary,
        settings,
        repeats,
        json.loads(args.draws),
        args.own_validation,
        splits=splits,
    )
    write_json(args.out, found)
    _log(f"findings of {len(found['conditions'])} condition(s) -> {args.out}")


def cmd_plot(args: argparse.Namespace) -> None:
    from .data import SPLIT_COLUMNS
    from .findings import chance_levels
    from .io import read_table
    from .plots import PLOT_PATH_KEYS, plot_conditions

    conds = [dict(zip(PLOT_PATH_KEYS, c, strict=True)) for c in args.condition]
    splits = read_table(args.splits, SPLIT_COLUMNS, what="splits") if args.splits else None
    paths = plot_conditions(
        Path(args.aggregate_dir),
        Path(args.plot_dir),
        conds,
        json.loads(args.settings),
        workers=args.threads,
        chance=chance_levels(splits),
    )
    _log(f"wrote {len(paths)} figure(s) of {len(conds)} condition(s) under {args.plot_dir}")


def cmd_check_model(args: argparse.Namespace) -> None:
    """Build the user's model once, before any training job, so a broken one fails early: on
    the config's backend, on the CPU (CUDA_VISIBLE_DEVICES="" before the backend loads)."""
    from .data import load_dataset
    from .engines.models import build_custom, describe_layers
    from .gpu import gpu_slot
    from .io import write_json
    from .spec import TrainSpec
    from .training import select_backend

    spec = TrainSpec(
        batch_size=1, epochs=1, seeds=(0,), custom_model=args.custom, backend=args.backend
    )
    checked, layers = {}, {}
    with gpu_slot(0, "."):  # no slot: CUDA_VISIBLE_DEVICES="" while the model is built
        select_backend(spec.backend)
        for path in args.data:
            ds = load_dataset(path)
            model = build_custom(spec, ds.x_train.shape[1], ds.n_classes, base=args.base)
            checked[str(path)] = int(model.count_params())
            layers[str(path)] = describe_layers(model)
            _log(
                f"custom model {args.custom} builds a keras.Model with {checked[str(path)]} "
                f"parameters for {path} (backend {spec.backend})"
            )
    write_json(
        args.out,
        {
            "custom_model": args.custom,
            "backend": args.backend,
            "parameters": checked,
            "layers": layers,
        },
    )


def cmd_report(args: argparse.Namespace) -> None:
    from .report import render_report

    render_report(
        findings=Path(args.findings),
        jobs=Path(args.jobs),
        plot_dir=Path(args.plot_dir),
        config_path=Path(args.config),
        template=Path(args.template),
        out=Path(args.out),
        tuning=Path(args.tuning) if args.tuning else None,
        summary=Path(args.summary) if args.summary else None,
        model_check=Path(args.model_check) if args.model_check else None,
    )
    _log(f"report written to {args.out}")


def cmd_catalogue(args: argparse.Namespace) -> None:
    from .report import render_catalogue

    render_catalogue([Path(p) for p in args.summaries], Path(args.template), Path(args.out))
    _log(f"catalogue of {len(args.summaries)} study(ies) written to {args.out}")


def cmd_compare(args: argparse.Namespace) -> None:
    from .catalogue import compare_table

    print(compare_table(args.a, args.b, args.root))


def cmd_noise_scale(args: argparse.Namespace) -> None:
    """Train the spec's reference run and write B_simple at its checkpoints."""
    from .data import load_dataset
    from .spec import TrainSpec

    data = load_dataset(args.data)  # fail on a bad input before paying for TensorFlow
    spec = TrainSpec.from_json(args.spec)
    from .engines.noise import run_noise_scale, write_noise_scale
    from .training import configure_tensorflow

    configure_tensorflow(args.threads)
    table = run_noise_scale(data, spec, args.every, _log)
    write_noise_scale(table, args.out)
    _log(f"noise scale at {len(table)} checkpoints -> {args.out}")


def _noise_tables(paths: list[str]) -> dict[tuple[str, str], Any]:
    """noise_scale.tsv files keyed by (dataset, optimizer), read off results/noise/<d>/<o>/."""
    import pandas as pd

    keyed = {(Path(p).parent.parent.name, Path(p).parent.name): p for p in paths}
    return {k: pd.read_csv(p, sep="\t") for k, p in keyed.items()}


def cmd_tune(args: argparse.Namespace) -> None:
    """The tuned-learning-rate analysis: tables, figures and the report's document."""
    import pandas as pd

    from . import tuning_findings as tf
    from . import tuning_study as ts
    from .aggregate import TIMING_REPEATS_TABLE_COLUMNS
    from .data import SPLIT_COLUMNS
    from .findings import chance_levels
    from .io import read_table, write_json, write_table
    from .stats import IntervalSettings

    metrics = json.loads(args.settings)
    runs = pd.read_csv(args.runs, sep="\t")
    if args.evals:
        curves = ts.curves_from_evals(pd.read_csv(args.evals, sep="\t"), runs)
        resolution = ts.RESOLUTION_STEPS
    else:
        curves = ts.curves_from_history(pd.read_csv(args.history, sep="\t"), runs)
        resolution = ts.RESOLUTION_EPOCHS
    noise = _noise_tables(args.noise)
    splits = read_table(args.splits, SPLIT_COLUMNS, what="splits") if args.splits else None
    repeats = (
        read_table(args.timing_repeats, TIMING_REPEATS_TABLE_COLUMNS, what="timing-repeats")
        if args.timing_repeats
        else None
    )
    result = tf.analyze_tuning(
        runs,
        pd.read_csv(args.summary, sep="\t"),
        curves,
        resolution,
        absolute=json.loads(args.targets),
        fraction=float(metrics["target_fractions"][0]),
        noise=noise,
        settings=IntervalSettings.from_metrics(metrics),
        references=json.loads(args.references),
        shared_validation=tuple(args.shared_validation),
        chance=chance_levels(splits),
        repeats=repeats,
        kinds=json.loads(args.optimizer_kinds),
        momenta=json.loads(args.optimizer_momentum),
    )
    out = Path(args.out_dir)
    tf.draw(result, noise, out / tf.TUNING_PLOT_DIR, args.dpi)
    write_table(out / tf.GRID_FILE, result["grid"])
    write_table(out / tf.FRONTIER_FILE, result["frontier"])
    write_table(out / tf.BCRIT_FILE, result["bcrit"])
    write_json(out / tf.DOC_FILE, result["doc"])
    _log(f"tuned {len(result['doc']['groups'])} group(s) -> {out}")


def _add_setup_stages(sub: Any) -> None:
    """Subcommands check, data, check-model and noise-scale: inputs and checks."""
    from .spec import BACKENDS

    s = sub.add_parser("check", help="validate a config file and count its jobs")
    s.add_argument("config")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("data", help="build one dataset file")
    s.add_argument("--spec", required=True, help="the dataset's config entry as JSON")
    s.add_argument("--out", required=True)
    s.add_argument("--base", default=".", help="directory that relative data paths start from")
    s.set_defaults(func=cmd_data)

    s = sub.add_parser("splits", help="split sizes and chance levels of the dataset files")
    s.add_argument("--out", required=True, help="splits.tsv to write (data.SPLIT_COLUMNS)")
    s.add_argument("data", nargs="+", help="dataset .npz files, each named by its stem")
    s.set_defaults(func=cmd_splits)

    s = sub.add_parser("check-model", help="build a custom model once to check it")
    s.add_argument("--custom", required=True)
    s.add_argument("--data", nargs="+", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--base", default=".")
    s.add_argument("--backend", choices=BACKENDS, default=BACKENDS[0], help="Keras backend")
    s.set_defaults(func=cmd_check_model)

    s = sub.add_parser("noise-scale", help="gradient noise scale along a reference run")
    s.add_argument("--data", required=True)
    s.add_argument("--spec", required=True, help="TrainSpec JSON (first variant, first seed)")
    s.add_argument(
        "--every", type=_positive_int, required=True, help="optimizer steps between checkpoints"
    )
    s.add_argument("--out", required=True, help="noise_scale.tsv to write")
    s.add_argument("--threads", type=int, default=1)
    s.set_defaults(func=cmd_noise_scale)


def _add_training_stages(sub: Any) -> None:
    """Subcommands train and time: the stages that train models."""
    s = sub.add_parser("train", help="train every learning-rate variant and seed of one batch size")
    s.add_argument("--data", required=True)
    s.add_argument("--spec", required=True, help="TrainSpec JSON")
    s.add_argument("--history", required=True)
    s.add_argument("--timing", required=True)
    s.add_argument("--meta", required=True)
    s.add_argument("--evals", required=True, help="evals.tsv to write (see io.EVAL_COLUMNS)")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--gpu", type=int, default=0, help="GPUs this job asked for (0 or 1)")
    s.add_argument("--gpu-slots", type=int, default=0, help="GPUs on this machine")
    s.add_argument("--lock-dir", default=GPU_LOCK_DIR)
    s.add_argument("--base", default=".")
    s.add_argument("--nondeterministic", action="store_true")
    s.add_argument(
        "--allow-cpu-fallback",
        type=int,
        choices=(0, 1),
        default=0,
        help="1: a job given a GPU its backend cannot see trains on the CPU instead of failing",
    )
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("time", help="re-time every batch size's training, repeats interleaved")
    s.add_argument("--data", required=True)
    s.add_argument("--specs", required=True, help="JSON list of TrainSpecs, one per batch size")
    s.add_argument("--repeats", type=_positive_int, required=True)
    s.add_argument("--epochs", type=_positive_int, required=True, help="epochs timed per visit")
    s.add_argument("--out", required=True, help="timing_repeats.tsv to write")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--nondeterministic", action="store_true")
    s.set_defaults(func=cmd_time)


def _add_table_stages(sub: Any) -> None:
    """Subcommands aggregate, analyze and plot: tables, findings and figures."""
    s = sub.add_parser("aggregate", help="collect all histories into tables")
    s.add_argument("--out-dir", required=True)
    s.add_argument("--settings", required=True, help="metrics settings as JSON")
    s.add_argument(
        "--timing-repeats",
        nargs="*",
        default=[],
        help="timing_repeats.tsv files of the timing stage (none when it is off)",
    )
    s.add_argument("--splits", help="splits.tsv of the datasets (chance levels)")
    s.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="2 or more: the tables are written by a second process beside the metrics",
    )
    s.add_argument("histories", nargs="+")
    s.set_defaults(func=cmd_aggregate)

    s = sub.add_parser("analyze", help="compute findings and verdicts from the aggregate tables")
    s.add_argument("--runs", required=True, help="runs.tsv of the aggregate stage")
    s.add_argument("--summary", required=True, help="summary.tsv of the aggregate stage")
    s.add_argument("--settings", required=True, help="metrics settings as JSON")
    s.add_argument(
        "--timing-repeats",
        help="timing_repeats.tsv of the aggregate stage (no rows: no timing stage)",
    )
    s.add_argument(
        "--draws",
        default="{}",
        help="dataset draws as JSON: name -> {draw_of, draw} (config.dataset_draws)",
    )
    s.add_argument(
        "--own-validation",
        nargs="*",
        default=[],
        help="datasets with a validation split of their own: their best batch size is chosen "
        "on validation accuracy (the others' test split serves as validation)",
    )
    s.add_argument("--splits", help="splits.tsv of the datasets (split sizes for the report)")
    s.add_argument("--out", required=True, help="findings JSON file")
    s.set_defaults(func=cmd_analyze)

    s = sub.add_parser("plot", help="draw the figures of one or more conditions")
    s.add_argument("--aggregate-dir", required=True)
    s.add_argument(
        "--plot-dir", required=True, help="a condition's figures go to <plot-dir>/<condition path>"
    )
    s.add_argument("--settings", required=True)
    s.add_argument(
        "--condition",
        nargs=5,
        action="append",
        required=True,
        metavar=("DATASET", "OPTIMIZER", "LR_SCALING", "BASE_LR", "BUDGET"),
        help="a condition to draw; repeat it for more (the tables are read once)",
    )
    s.add_argument(
        "--threads", type=int, default=1, help="processes drawing conditions side by side"
    )
    s.add_argument("--splits", help="splits.tsv of the datasets (chance levels of the targets)")
    s.set_defaults(func=cmd_plot)


def _add_report_stages(sub: Any) -> None:
    """Subcommands report, catalogue, compare and tune: pages and comparisons."""
    s = sub.add_parser("report", help="render the HTML report from the findings")
    s.add_argument("--findings", required=True, help="findings JSON of the analyze stage")
    s.add_argument("--jobs", required=True, help="jobs.tsv of the aggregate stage (provenance)")
    s.add_argument("--plot-dir", required=True)
    s.add_argument("--config", required=True, help="the validated config as JSON file")
    s.add_argument("--template", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--tuning", default="", help="tuning.json of the tune stage")
    s.add_argument("--summary", help="the study's catalogue entry (study.json) to write")
    s.add_argument(
        "--model-check",
        default="",
        help="model_check.json of the check_model stage (read where the config has a custom model)",
    )
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("catalogue", help="render the catalogue page of every study's summary")
    s.add_argument("--template", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("summaries", nargs="+", help="report/<study>/study.json files")
    s.set_defaults(func=cmd_catalogue)

    s = sub.add_parser("compare", help="two studies' headline numbers side by side")
    s.add_argument("a", help="a study name (results/<study>/analysis/findings.json)")
    s.add_argument("b", help="the other study's name")
    s.add_argument("--root", default=".", help="the project directory the studies ran in")
    s.set_defaults(func=cmd_compare)

    s = sub.add_parser("tune", help="the learning rate tuned per batch size: frontier, B_crit")
    s.add_argument("--runs", required=True)
    s.add_argument("--summary", required=True)
    s.add_argument("--history", required=True, help="per-epoch evaluations (history.tsv)")
    s.add_argument("--evals", default="", help="evals.tsv (every k steps); replaces history")
    s.add_argument("--noise", nargs="*", default=[], help="results/noise/<d>/<o>/noise_scale.tsv")
    s.add_argument(
        "--timing-repeats",
        default="",
        help="timing_repeats.tsv of the aggregate stage (no rows: no timing stage); judges "
        "claims 1 and 4 at every rate",
    )
    s.add_argument("--settings", required=True, help="metrics settings as JSON")
    s.add_argument(
        "--targets", default="{}", help='JSON {dataset: {"val_accuracy": a, "val_loss": l}}'
    )
    s.add_argument("--references", default="{}", help="JSON {optimizer: reference rate}")
    s.add_argument(
        "--optimizer-kinds",
        default="{}",
        help='JSON {optimizer: kind ("sgd", "adam", ...)}; the name itself where missing',
    )
    s.add_argument(
        "--optimizer-momentum",
        default="{}",
        help="JSON {optimizer: momentum}; 0 where missing (Adam, plain SGD)",
    )
    s.add_argument(
        "--shared-validation", nargs="*", default=[], help="datasets validated on the test split"
    )
    s.add_argument("--splits", help="splits.tsv of the datasets (chance levels of the targets)")
    s.add_argument("--dpi", type=int, required=True, help="resolution of the figures")
    s.add_argument("--out-dir", required=True, help="tables, tuning.json and figures/ go here")
    s.set_defaults(func=cmd_tune)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="batchstudy", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_setup_stages, _add_training_stages, _add_table_stages, _add_report_stages):
        add(sub)
    return p


#: The errors a stage reports as a bad input (exit status 2, no traceback), by module.
INPUT_ERRORS = (
    ("config", "ConfigError"),
    ("data", "DataError"),
    ("io", "FormatError"),
    ("engines.models", "ModelError"),
    ("gpu", "GpuUnavailableError"),
)


def input_error_types() -> tuple[type[BaseException], ...]:
    """The classes of `INPUT_ERRORS` whose modules this process has imported: an error of a
    module never imported cannot have been raised, so a stage does not import modules (the
    config's jsonschema, the tables' pandas) only to catch their errors."""
    modules = ((sys.modules.get(f"{__package__}.{m}"), name) for m, name in INPUT_ERRORS)
    return tuple(getattr(module, name) for module, name in modules if module is not None)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except Exception as exc:
        if not isinstance(exc, input_error_types()):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
