rule config_snapshot:
    input:
        model_check_inputs,
    output:
        f"{DIRS.results}/config.json",
    log:
        f"{DIRS.logs}/config_snapshot.log",
    params:
        config=lambda wildcards: json.dumps(config, sort_keys=True, indent=2),
    run:
        Path(output[0]).write_text(f"{params.config}\n")


rule aggregate:
    input:
        histories=all_train_files("history.tsv"),
        timings=all_train_files("timing.tsv"),
        metas=all_train_files("run.json"),
        evals=all_train_files("evals.tsv"),
        timing_repeats=all_timing_repeats(),
        splits=rules.dataset_splits.output[0],
    output:
        history=f"{DIRS.aggregate}/history.tsv",
        timing=f"{DIRS.aggregate}/timing.tsv",
        jobs=f"{DIRS.aggregate}/jobs.tsv",
        runs=f"{DIRS.aggregate}/runs.tsv",
        summary=f"{DIRS.aggregate}/summary.tsv",
        evals=f"{DIRS.aggregate}/evals.tsv",
        timing_repeats=f"{DIRS.aggregate}/timing_repeats.tsv",
    log:
        f"{DIRS.logs}/aggregate.log",
    benchmark:
        f"{DIRS.benchmarks}/aggregate.tsv"
    conda:
        "../envs/study.yaml"
    # a second process writes the tables while the first computes the run metrics
    # (--set-threads aggregate=1: one after the other)
    threads: 2
    params:
        settings=settings_json("metrics"),
        out_dir=directory_of("output.history"),
    shell:
        "python -m batchstudy aggregate --out-dir {params.out_dir:q} --settings {params.settings:q}"
        " --threads {threads} --splits {input.splits:q} {input.histories:q}"
        " --timing-repeats {input.timing_repeats:q} > {log:q} 2>&1"
