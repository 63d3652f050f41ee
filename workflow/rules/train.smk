# Threads, memory, runtime and GPUs are runtime settings, not study settings: the defaults
# below are changed with profiles or on the command line (--set-threads train=N,
# --set-resources train:gpu=1, train:cpu_fallback=1, ...). gpu_slots is not to be set: it
# carries the machine's GPU count, Snakemake's global --resources gpu=N (GPU_SLOTS), to the
# job. None of them is a param, so changing them re-runs nothing.


rule train:
    input:
        data=rules.generate_data.output[0],
        model_check=model_check_inputs,
    output:
        history=f"{TRAIN_DIR}/history.tsv",
        timing=f"{TRAIN_DIR}/timing.tsv",
        meta=f"{TRAIN_DIR}/run.json",
        evals=f"{TRAIN_DIR}/evals.tsv",
    log:
        f"{DIRS.logs}/train/{JOB_DIR}.log",
    benchmark:
        f"{DIRS.benchmarks}/train/{JOB_DIR}.tsv"
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        gpu=0,
        mem_mb=2000,
        runtime=60,
        cpu_fallback=0,
        gpu_slots=GPU_SLOTS,
    params:
        spec=train_spec_json,
        nondeterministic="" if config["deterministic"] else "--nondeterministic",
    shell:
        "python -m batchstudy train --data {input.data:q} --spec {params.spec:q}"
        " --history {output.history:q} --timing {output.timing:q} --meta {output.meta:q}"
        " --evals {output.evals:q}"
        " --threads {threads} --gpu {resources.gpu} --gpu-slots {resources.gpu_slots}"
        " --allow-cpu-fallback {resources.cpu_fallback} {params.nondeterministic}"
        " > {log:q} 2>&1"
