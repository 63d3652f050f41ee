rule report:
    input:
        findings=rules.analyze.output[0],
        tuning=rules.tune.output.doc,
        tuning_figures=rules.tune.output.figures,
        jobs=rules.aggregate.output.jobs,
        plots=all_plots(),
        config=rules.config_snapshot.output[0],
        model_check=model_check_inputs,
        template=workflow.source_path("../report/index.html.j2"),
    output:
        html=report(
            DIRS.report_html,
            category="Study report",
            caption="../report/report.rst",
            labels={"study": STUDY, "file": "report"},
        ),
        summary=DIRS.summary,
    log:
        f"{DIRS.logs}/report.log",
    benchmark:
        f"{DIRS.benchmarks}/report.tsv"
    conda:
        "../envs/study.yaml"
    params:
        plot_dir=plot_dir_of,
        # read only where the config has a custom model (then it is an input above)
        model_check=rules.check_model.output[0],
    shell:
        "python -m batchstudy report --findings {input.findings:q}"
        " --jobs {input.jobs:q} --plot-dir {params.plot_dir:q}"
        " --config {input.config:q} --template {input.template:q} --out {output.html:q}"
        " --summary {output.summary:q} --tuning {input.tuning:q}"
        " --model-check {params.model_check:q} > {log:q} 2>&1"


# The catalogue of every study present (report/index.html), from each study's summary; it
# reads the other studies' summaries and never rebuilds anything of theirs.
rule catalogue:
    input:
        summaries=catalogue_inputs,
        template=workflow.source_path("../report/catalogue.html.j2"),
    output:
        report(
            CATALOGUE,
            category="Study catalogue",
            caption="../report/catalogue.rst",
            labels={"study": "all", "file": "catalogue"},
        ),
    log:
        f"{DIRS.logs}/catalogue.log",
    conda:
        "../envs/study.yaml"
    shell:
        "python -m batchstudy catalogue --template {input.template:q} --out {output:q}"
        " {input.summaries:q} > {log:q} 2>&1"
