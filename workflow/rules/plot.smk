# One job draws every condition's figures: one process reads the aggregate tables once (the
# columns the figures need) and draws condition after condition, where a job per condition
# paid the imports and the reading each time. What re-runs it is unchanged: a job per
# condition depended on the whole aggregate output too, so a new aggregate re-plotted every
# condition either way. Its conditions are drawn by `threads` processes side by side
# (--set-threads plot=N).
rule plot:
    input:
        rules.aggregate.output,
        splits=rules.dataset_splits.output[0],
    output:
        [
            report(
                f"{PLOT_DIR}/{c.path}/{name}.png",
                category=c.dataset,
                subcategory=plot_subcategory(c),
                caption="../report/plots.rst",
                labels={"study": STUDY, "figure": name},
            )
            for c in CONDITIONS
            for name in PLOT_NAMES
        ],
    log:
        f"{DIRS.logs}/plot.log",
    benchmark:
        f"{DIRS.benchmarks}/plot.tsv"
    priority: 1
    conda:
        "../envs/study.yaml"
    # priority 1 starts it first after aggregate, the stage's longest job; its conditions are
    # drawn by `threads` processes (--set-threads plot=N), analyze and tune follow.
    threads: 2
    params:
        settings=settings_json("plots"),
        aggregate_dir=directory_of("input.0"),
        plot_dir=lambda wildcards, output: figures_root(output),
        conditions=plot_condition_args(),
    shell:
        "python -m batchstudy plot --aggregate-dir {params.aggregate_dir:q}"
        " --plot-dir {params.plot_dir:q} --settings {params.settings:q} {params.conditions}"
        " --threads {threads} --splits {input.splits:q}"
        " > {log:q} 2>&1"
