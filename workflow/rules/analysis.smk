rule analyze:
    input:
        runs=rules.aggregate.output.runs,
        summary=rules.aggregate.output.summary,
        timing_repeats=rules.aggregate.output.timing_repeats,
    output:
        f"{DIRS.analysis}/findings.json",
    log:
        f"{DIRS.logs}/analyze.log",
    benchmark:
        f"{DIRS.benchmarks}/analyze.tsv"
    conda:
        "../envs/study.yaml"
    params:
        settings=settings_json("metrics"),
    shell:
        "python -m batchstudy analyze --runs {input.runs:q} --summary {input.summary:q}"
        " --timing-repeats {input.timing_repeats:q} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"
