"""Writing imported runs into a run store: one sweep per import, all runs in one transaction.

Sweep: named ``import:<kind>:<source>`` (``:<experiment>`` appended for an MLflow experiment), its
design the options that decide the values (metric mapping, fixed params, tokens per step, loss
unit, how FLOPs were obtained). Run config: ``{"imported_from": kind, "source": source,
"run": name, "hparams": {...}}``; seed: the run's ``seed`` hyperparameter when whole, else 0.

Importing the same source again with the same options updates that sweep in place: a run of the
same name is overwritten with what the source holds now (so a run that trained on is brought up
to date), new runs are added, and nothing is duplicated; runs no longer in the source are kept.
The same source with other options is refused (its numbers would differ from the first import's):
import into another store.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.lab.importers.mapping import ImportedRun, ImportOptions
from scalinglab.stores.run_store import RunStore

__all__ = ["check_store", "import_design", "sweep_name", "write_runs"]


def sweep_name(kind: str, source: str, experiment: str | None = None) -> str:
    """The name of the sweep holding the runs imported from ``source``."""
    return f"import:{kind}:{source}" + (f":{experiment}" if experiment else "")


def import_design(kind: str, source: str, experiment: str | None, opts: ImportOptions) -> dict[str, Any]:
    """The sweep's design: where the runs came from and every option that shaped their numbers."""
    params: Any = dict(sorted(opts.params.items())) if isinstance(opts.params, Mapping) else opts.params
    return {"importer": kind, "source": source, "experiment": experiment,
            "metrics": dict(sorted(opts.metrics.items())), "params": params,
            "tokens_per_step": opts.tokens_per_step, "loss_unit": opts.loss_unit,
            "flops": "metric" if "flops" in opts.metrics else "6ND"}


def check_store(path: str | os.PathLike[str]) -> None:
    """Refuse, before anything is read or written, a store that cannot take the import: an existing
    file that is not a store, is from a newer schema or is not writable, or a new file in a folder
    that does not exist or is not writable. A new store is only created when the import writes."""
    p, name = Path(path), os.fspath(path)
    if p.is_dir():
        raise ScalingLabError(f"{name}: is a directory, not a run store file")
    if p.exists() and p.stat().st_size > 0:
        RunStore(p).close()  # checks the file; an existing store is only read here
        return
    if not p.parent.is_dir():
        raise ScalingLabError(f"{name}: cannot create the run store: folder {p.parent} does not exist")
    if not os.access(p.parent, os.W_OK):
        raise ScalingLabError(f"{name}: cannot create the run store: folder {p.parent} is not writable")


def write_runs(path: str | os.PathLike[str], kind: str, source: str, experiment: str | None,
               opts: ImportOptions, runs: list[ImportedRun]) -> tuple[int, list[int]]:
    """Write the runs (already validated) into the store at ``path``; (sweep id, run ids)."""
    name, design = sweep_name(kind, source, experiment), import_design(kind, source, experiment, opts)
    records = [{"config": {"imported_from": kind, "source": source, "run": r.name, "hparams": r.hparams},
                "seed": r.seed, "params": r.params, "tokens": r.tokens, "flops": r.flops,
                "final_val_loss": r.final_val_loss, "metrics": r.metrics} for r in runs]
    try:
        with RunStore(path) as store:
            _refuse_other_options(store, name, design)
            return store.import_runs(name, design, records)
    except sqlite3.Error as exc:
        raise ScalingLabError(f"{os.fspath(path)}: cannot write the imported runs ({exc})") from None


def _refuse_other_options(store: RunStore, name: str, design: dict[str, Any]) -> None:
    old_id = store.find_sweep(name)
    if old_id is None or store.find_sweep(name, design) is not None:
        return
    old = json.loads(store.sweeps_frame().set_index("id").loc[old_id, "design"])
    changed = [f"{k} {old.get(k)!r} -> {design.get(k)!r}" for k in design if old.get(k) != design.get(k)]
    raise ScalingLabError(f"{store.name}: already holds an import of {design['source']} with other options "
                          f"(sweep {old_id}; {', '.join(changed)}); import into another store")
