rule analyze:
    input:
        runs="results/aggregate/runs.tsv",
        summary="results/aggregate/summary.tsv",
    output:
        "results/analysis/findings.json",
    log:
        "logs/analyze.log",
    benchmark:
        "results/benchmarks/analyze.tsv"
    conda:
        "../envs/study.yaml"
    params:
        settings=settings_json("metrics"),
    shell:
        "python -m batchstudy analyze --runs {input.runs:q} --summary {input.summary:q}"
        " --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


# evals.tsv (an evaluation every k optimizer steps) when the aggregate stage writes it;
# otherwise steps to target come from the per-epoch history.
EVALS = (
    [rules.aggregate.output.evals] if "evals" in rules.aggregate.output.keys() else []
)


rule tune:
    input:
        runs="results/aggregate/runs.tsv",
        summary="results/aggregate/summary.tsv",
        history="results/aggregate/history.tsv",
        evals=EVALS,
        noise=noise_files(),
    output:
        grid="results/analysis/lr_grid.tsv",
        frontier="results/analysis/frontier.tsv",
        bcrit="results/analysis/tuned_bcrit.tsv",
        doc="results/analysis/tuning.json",
        figures=directory("results/analysis/figures"),
    log:
        "logs/tune.log",
    benchmark:
        "results/benchmarks/tune.tsv"
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
        dpi=config["plots"]["dpi"],
        shared=shared_validation(),
    shell:
        "python -m batchstudy tune --runs {input.runs:q} --summary {input.summary:q}"
        " --history {input.history:q} {params.evals} --noise {input.noise:q}"
        " --settings {params.settings:q} --targets {params.targets:q} --dpi {params.dpi}"
        " --references {params.references:q} --shared-validation {params.shared:q}"
        " --out-dir results/analysis > {log:q} 2>&1"


rule noise_scale:
    input:
        data="results/data/{dataset}.npz",
    output:
        "results/noise/{dataset}/{optimizer}/noise_scale.tsv",
    log:
        "logs/noise/{dataset}/{optimizer}.log",
    benchmark:
        "results/benchmarks/noise/{dataset}/{optimizer}.tsv"
    conda:
        "../envs/study.yaml"
    threads: config["resources"]["train"]["threads"]
    resources:
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
    params:
        spec=noise_spec_json,
        every=config["noise_scale"]["every"],
    shell:
        "python -m batchstudy noise-scale --data {input.data:q} --spec {params.spec:q}"
        " --every {params.every} --out {output:q} --threads {threads} > {log:q} 2>&1"
