rule report:
    input:
        aggregate=rules.aggregate.output,
        plots=all_plots(),
        config="results/config.json",
        template=workflow.source_path("../report/index.html.j2"),
    output:
        report(
            "report/index.html",
            category="Study report",
            caption="../report/report.rst",
        ),
    log:
        "logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        "../envs/study.yaml"
    shell:
        "python -m batchstudy report --aggregate-dir results/aggregate --plot-dir results/plots"
        " --config {input.config:q} --template {input.template:q} --out {output:q}"
        " > {log:q} 2>&1"
