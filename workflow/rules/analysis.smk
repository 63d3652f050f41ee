# Every path the analysis rules read or write.
AGGREGATE = rules.aggregate.output
NOISE_SCALE = f"{DIRS.noise}/{{dataset}}/{{optimizer}}/noise_scale.tsv"
# Steps to target: from the aggregate evals.tsv when evaluations run every eval_every_steps
# optimizer steps; otherwise (one evaluation per epoch) from the per-epoch history.
EVALS = [AGGREGATE.evals] if config["eval_every_steps"] else []


rule analyze:
    input:
        runs=AGGREGATE.runs,
        summary=AGGREGATE.summary,
        timing_repeats=AGGREGATE.timing_repeats,
        splits=rules.dataset_splits.output[0],
    output:
        f"{DIRS.analysis}/findings.json",
    log:
        f"{DIRS.logs}/analyze.log",
    benchmark:
        f"{DIRS.benchmarks}/analyze.tsv"
    conda:
        "../envs/study.yaml"
    params:
        settings=settings_json("metrics"),
        draws=json.dumps(study_config.dataset_draws(config), sort_keys=True),
        own_validation=own_validation(),
    shell:
        "python -m batchstudy analyze --runs {input.runs:q} --summary {input.summary:q}"
        " --timing-repeats {input.timing_repeats:q} --settings {params.settings:q}"
        " --draws {params.draws:q} --own-validation {params.own_validation:q}"
        " --splits {input.splits:q}"
        " --out {output:q} > {log:q} 2>&1"


rule tune:
    input:
        runs=AGGREGATE.runs,
        summary=AGGREGATE.summary,
        history=AGGREGATE.history,
        evals=EVALS,
        noise=noise_files(NOISE_SCALE),
        timing_repeats=AGGREGATE.timing_repeats,
        splits=rules.dataset_splits.output[0],
    output:
        grid=f"{DIRS.analysis}/lr_grid.tsv",
        frontier=f"{DIRS.analysis}/frontier.tsv",
        bcrit=f"{DIRS.analysis}/tuned_bcrit.tsv",
        doc=f"{DIRS.analysis}/tuning.json",
        figures=directory(f"{DIRS.analysis}/figures"),
    log:
        f"{DIRS.logs}/tune.log",
    benchmark:
        f"{DIRS.benchmarks}/tune.tsv"
    conda:
        "../envs/study.yaml"
    params:
        evals=lambda wildcards, input: f"--evals {input.evals}" if input.evals else "",
        settings=settings_json("metrics"),
        targets=dataset_targets_json(),
        references=json.dumps(
            {
                o: study_config.optimizer_reference(config, o)
                for o in config["optimizers"]
            }
        ),
        kinds=json.dumps({o: opt["name"] for o, opt in config["optimizers"].items()}),
        momenta=json.dumps(
            {o: opt.get("momentum", 0.0) for o, opt in config["optimizers"].items()}
        ),
        dpi=config["plots"]["dpi"],
        shared=shared_validation(),
        out_dir=lambda wildcards, output: os.path.dirname(output.doc),
    shell:
        "python -m batchstudy tune --runs {input.runs:q} --summary {input.summary:q}"
        " --history {input.history:q} {params.evals} --noise {input.noise:q}"
        " --settings {params.settings:q} --targets {params.targets:q} --dpi {params.dpi}"
        " --references {params.references:q} --optimizer-kinds {params.kinds:q}"
        " --optimizer-momentum {params.momenta:q}"
        " --shared-validation {params.shared:q}"
        " --timing-repeats {input.timing_repeats:q} --splits {input.splits:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule noise_scale:
    input:
        data=f"{DIRS.data}/{{dataset}}.npz",
    output:
        NOISE_SCALE,
    log:
        f"{DIRS.logs}/noise/{{dataset}}/{{optimizer}}.log",
    benchmark:
        f"{DIRS.benchmarks}/noise/{{dataset}}/{{optimizer}}.tsv"
    # priority 1: one of the training side's longest jobs, started first (see time_training)
    priority: 1
    conda:
        "../envs/study.yaml"
    # Runtime settings like the train rule's (--set-threads noise_scale=N, --set-resources).
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        spec=noise_spec_json,
        every=config["noise_scale"]["every"],
    shell:
        "python -m batchstudy noise-scale --data {input.data:q} --spec {params.spec:q}"
        " --every {params.every} --out {output:q} --threads {threads} > {log:q} 2>&1"
