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
    output:
        history="results/aggregate/history.tsv",
        timing="results/aggregate/timing.tsv",
        jobs="results/aggregate/jobs.tsv",
        runs="results/aggregate/runs.tsv",
        summary="results/aggregate/summary.tsv",
    log:
        "logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    conda:
        "../envs/study.yaml"
    params:
        settings=settings_json("metrics"),
        out_dir=directory_of("output.history"),
    shell:
        "python -m batchstudy aggregate --out-dir {params.out_dir:q} --settings {params.settings:q}"
        " {input.histories:q} > {log:q} 2>&1"
