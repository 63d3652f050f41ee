rule report:
    input:
        findings=rules.analyze.output[0],
        tuning=rules.tune.output.doc,
        tuning_figures=rules.tune.output.figures,
        jobs=rules.aggregate.output.jobs,
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
        "python -m batchstudy report --findings {input.findings:q}"
        " --jobs {input.jobs:q} --plot-dir results/plots"
        " --config {input.config:q} --template {input.template:q} --out {output:q}"
        " --tuning {input.tuning:q}"
        " > {log:q} 2>&1"
