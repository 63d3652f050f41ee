rule generate_data:
    input:
        dataset_inputs,
    output:
        f"{DIRS.data}/{{dataset}}.npz",
    log:
        f"{DIRS.logs}/data/{{dataset}}.log",
    conda:
        "../envs/study.yaml"
    params:
        spec=dataset_json,
        checksum=dataset_checksum,
    shell:
        "python -m batchstudy data --spec {params.spec:q} --out {output:q} > {log:q} 2>&1"


# Split sizes and chance levels of every dataset (batchstudy.data.SPLIT_COLUMNS), read from
# the dataset files: the aggregate stage marks runs at chance with them.
rule dataset_splits:
    input:
        expand(rules.generate_data.output[0], dataset=config["datasets"]),
    output:
        DIRS.splits,
    log:
        f"{DIRS.logs}/data/splits.log",
    conda:
        "../envs/study.yaml"
    shell:
        "python -m batchstudy splits --out {output:q} {input:q} > {log:q} 2>&1"


rule check_model:
    input:
        model=lambda wildcards: config["model"]["custom"].rsplit(":", 1)[0],
        data=expand(rules.generate_data.output[0], dataset=config["datasets"]),
    output:
        f"{DIRS.results}/model_check.json",
    log:
        f"{DIRS.logs}/model_check.log",
    conda:
        "../envs/study.yaml"
    params:
        custom=config["model"]["custom"],
        backend=config["backend"],
    shell:
        "python -m batchstudy check-model --custom {params.custom:q} --data {input.data:q}"
        " --backend {params.backend} --out {output:q} > {log:q} 2>&1"
