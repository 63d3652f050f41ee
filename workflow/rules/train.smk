rule train:
    input:
        data="results/data/{dataset}.npz",
        model_check=model_check_inputs,
    output:
        history=f"{TRAIN_DIR}/history.tsv",
        timing=f"{TRAIN_DIR}/timing.tsv",
        meta=f"{TRAIN_DIR}/run.json",
        evals=f"{TRAIN_DIR}/evals.tsv",
    log:
        "logs/train/{dataset}/{optimizer}/{budget}/bs{batch_size}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{optimizer}/{budget}/bs{batch_size}.tsv"
    conda:
        "../envs/study.yaml"
    threads: config["resources"]["train"]["threads"]
    resources:
        gpu=config["resources"]["train"]["gpu"],
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
    params:
        spec=train_spec_json,
        gpu_slots=config["resources"]["gpu_slots"],
        nondeterministic="" if config["deterministic"] else "--nondeterministic",
    shell:
        "python -m batchstudy train --data {input.data:q} --spec {params.spec:q}"
        " --history {output.history:q} --timing {output.timing:q} --meta {output.meta:q}"
        " --evals {output.evals:q}"
        " --threads {threads} --gpu {resources.gpu} --gpu-slots {params.gpu_slots}"
        " --lock-dir results/.gpu-locks {params.nondeterministic}"
        " > {log:q} 2>&1"
