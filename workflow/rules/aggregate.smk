rule config_snapshot:
    input:
        model_check_inputs,
    output:
        "results/config.json",
    log:
        "logs/config_snapshot.log",
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
    output:
        history="results/aggregate/history.tsv",
        timing="results/aggregate/timing.tsv",
        jobs="results/aggregate/jobs.tsv",
        runs="results/aggregate/runs.tsv",
        summary="results/aggregate/summary.tsv",
        evals="results/aggregate/evals.tsv",
        timing_repeats="results/aggregate/timing_repeats.tsv",
    log:
        "logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    conda:
        "../envs/study.yaml"
    params:
        settings=settings_json("metrics"),
    shell:
        "python -m batchstudy aggregate --out-dir results/aggregate --settings {params.settings:q}"
        " {input.histories:q} --timing-repeats {input.timing_repeats:q} > {log:q} 2>&1"
