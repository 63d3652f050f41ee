rule analyze:
    input:
        runs="results/aggregate/runs.tsv",
        summary="results/aggregate/summary.tsv",
        timing_repeats="results/aggregate/timing_repeats.tsv",
    output:
        "results/analysis/findings.json",
    log:
        "logs/analyze.log",
    benchmark:
        "results/benchmarks/analyze.tsv"
    conda:
        "../envs/study.yaml"
    params:
        settings=settings_json("metrics"),
    shell:
        "python -m batchstudy analyze --runs {input.runs:q} --summary {input.summary:q}"
        " --timing-repeats {input.timing_repeats:q} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"
