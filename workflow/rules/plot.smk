rule plot:
    input:
        rules.aggregate.output,
    output:
        report(
            expand(
                "results/plots/{{dataset}}/{{optimizer}}/{{lr_scaling}}/{{budget}}/{name}.png",
                name=PLOT_NAMES,
            ),
            category="{dataset}",
            subcategory="{optimizer} / lr {lr_scaling} / {budget}",
            caption="../report/plots.rst",
        ),
    log:
        "logs/plot/{dataset}/{optimizer}/{lr_scaling}/{budget}.log",
    conda:
        "../envs/study.yaml"
    params:
        settings=settings_json("plots"),
        outdir="results/plots/{dataset}/{optimizer}/{lr_scaling}/{budget}",
    shell:
        "python -m batchstudy plot --aggregate-dir results/aggregate --out-dir {params.outdir:q}"
        " --condition {wildcards.dataset:q} {wildcards.optimizer:q} {wildcards.lr_scaling:q}"
        " {wildcards.budget:q} --settings {params.settings:q} > {log:q} 2>&1"
