rule plot:
    input:
        rules.aggregate.output,
    output:
        [
            report(
                f"{PLOT_DIR}/{CONDITION_DIR}/{name}.png",
                category="{dataset}",
                subcategory="{optimizer} / lr {lr_scaling} / base lr {base_lr} / {budget}",
                caption="../report/plots.rst",
                labels={"study": STUDY, "figure": name},
            )
            for name in PLOT_NAMES
        ],
    log:
        f"{DIRS.logs}/plot/{CONDITION_DIR}.log",
    conda:
        "../envs/study.yaml"
    params:
        settings=settings_json("plots"),
        aggregate_dir=directory_of("input.0"),
        out_dir=directory_of("output.0"),
    shell:
        "python -m batchstudy plot --aggregate-dir {params.aggregate_dir:q} --out-dir {params.out_dir:q}"
        " --condition {wildcards.dataset:q} {wildcards.optimizer:q} {wildcards.lr_scaling:q}"
        " {wildcards.base_lr:q} {wildcards.budget:q} --settings {params.settings:q}"
        " > {log:q} 2>&1"
