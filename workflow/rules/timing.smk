# The timing stage (config timing_repeats > 0): every batch size's training re-timed
# timing_repeats times, interleaved across batch sizes, one job per (dataset, optimizer, budget).


rule time_training:
    input:
        data=rules.generate_data.output[0],
    output:
        f"{TIMING_DIR}/timing_repeats.tsv",
    log:
        f"{DIRS.logs}/timing/{TIMING_KEY_DIR}.log",
    benchmark:
        f"{DIRS.benchmarks}/timing/{TIMING_KEY_DIR}.tsv"
    # priority 1, like noise_scale: the training side's longest jobs start first, so that the
    # short training jobs keep both cores busy to its end instead of one long job running alone.
    priority: 1
    conda:
        "../envs/study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        specs=timing_specs_json,
        repeats=config["timing_repeats"],
        epochs=config["timing_epochs"],
        nondeterministic="" if config["deterministic"] else "--nondeterministic",
    shell:
        "python -m batchstudy time --data {input.data:q} --specs {params.specs:q}"
        " --repeats {params.repeats} --epochs {params.epochs} --out {output:q}"
        " --threads {threads} {params.nondeterministic} > {log:q} 2>&1"
