# The timing stage (config timing_repeats > 0): every batch size's training re-timed
# timing_repeats times, interleaved across batch sizes, one job per (dataset, optimizer, budget).


rule time_training:
    input:
        data="results/data/{dataset}.npz",
    output:
        f"{TIMING_DIR}/timing_repeats.tsv",
    log:
        "logs/timing/{dataset}/{optimizer}/{budget}.log",
    benchmark:
        "results/benchmarks/timing/{dataset}/{optimizer}/{budget}.tsv"
    conda:
        "../envs/study.yaml"
    threads: config["resources"]["train"]["threads"]
    resources:
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
    params:
        specs=timing_specs_json,
        repeats=config["timing_repeats"],
        epochs=config["timing_epochs"],
        nondeterministic="" if config["deterministic"] else "--nondeterministic",
    shell:
        "python -m batchstudy time --data {input.data:q} --specs {params.specs:q}"
        " --repeats {params.repeats} --epochs {params.epochs} --out {output:q}"
        " --threads {threads} {params.nondeterministic} > {log:q} 2>&1"
