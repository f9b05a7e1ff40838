"""Runs from Weights & Biases history exports (CSV, JSON lines, JSON). wandb itself is not needed.

``source`` is one export file or a folder searched recursively for them (``.csv``, ``.jsonl``,
``.json``; ``wandb-summary.json``, ``wandb-metadata.json`` and other ``wandb-*`` files except
``wandb-history.jsonl`` are skipped). Runs of the same name in several files are merged (a later
file's value at a step wins), so several panel exports of one project can be imported together.
Formats, as the W&B app and client (0.x, up to the 0.19 series) write them:

- Wide CSV, the UI's "Export panel data -> CSV" of a line plot: an x column (``Step`` by default),
  then per run and metric a column ``<run name> - <metric>`` with companions ``...__MIN`` and
  ``...__MAX`` (the bounds of a sampled bucket, ignored here) and, when the x-axis is not Step,
  ``<run name> - _step``, which then gives the steps. The run name is what precedes the last
  " - " of the column name. An empty cell means the run logged nothing at that step.
- Long CSV, ``run.history()`` / ``run.scan_history()`` written with pandas: a ``_step`` column,
  one column per metric, ``_runtime`` [s] and ``_timestamp`` [Unix s] (ignored), optionally the
  pandas index (an unnamed column, ignored) and a run column (``run``, ``run_name``, ``name`` or
  ``run_id``) when several runs share the file.
- JSON lines, ``wandb-history.jsonl`` (the history file in a run's ``files/`` folder, one object
  per ``wandb.log`` call with ``_step``, ``_runtime``, ``_timestamp`` and the logged keys; nested
  dicts are flattened with "." as the W&B UI shows them, media objects with a ``_type`` skipped),
  and the same rows as one JSON array (``history.to_json(orient="records")``). ``null`` is "not
  logged"; ``NaN``/``Infinity`` are kept and refused if they are a mapped metric.

Run names: the run column, else for ``wandb-history.jsonl`` the run folder (``run-<time>-<id>``),
else the file's path relative to the folder without its suffix. A ``config.yaml`` beside a
``wandb-history.jsonl`` (W&B's ``{key: {value: ...}}`` layout) gives its hyperparameters when
PyYAML is installed. ``step_column`` names another column as the step (``--metric step=COL``).

Refused as malformed, naming the file: a CSV whose header names a column twice (which of the two
holds the values is ambiguous; in a wide export, two runs of one display name), and JSON or a
config nested more than :data:`MAX_DEPTH` levels deep.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.lab.importers.source import SourceRun, as_step, json_scalar

__all__ = ["read_runs"]

SUFFIXES = (".csv", ".jsonl", ".json")
RUN_COLUMNS = ("run", "run_name", "name", "run_id")
INTERNAL = frozenset({"_step", "_runtime", "_timestamp", "_wandb"})
HISTORY_FILE = "wandb-history.jsonl"
MAX_DEPTH = 64  # nesting levels of objects and arrays allowed in a row or config (W&B's rows use a few)


def read_runs(source: str, step_column: str | None = None) -> tuple[str, list[SourceRun], list[str]]:
    """(source id = the export's absolute path, runs, notes) of a W&B export file or folder."""
    root = Path(source)
    if not root.exists():
        raise ScalingLabError(f"{source}: no such W&B export file or folder")
    files = [root] if root.is_file() else sorted(
        f for f in root.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES
        and (f.name == HISTORY_FILE or not f.name.startswith("wandb-")))
    if not files:
        raise ScalingLabError(f"{source}: no W&B history exports (.csv, .jsonl, .json) in this folder or below")
    notes: list[str] = []
    runs: dict[str, SourceRun] = {}
    for f in files:
        for run in _read_file(f, root, step_column, notes):
            merged = runs.setdefault(run.name, SourceRun(run.name, where=str(f)))
            merged.hparams.update(run.hparams)
            for metric, points in run.series.items():
                merged.series.setdefault(metric, {}).update(points)
    runs = {name: run for name, run in runs.items() if run.series}
    if not runs:
        raise ScalingLabError(f"{source}: no runs found: the export holds no logged values")
    return str(root.resolve()), list(runs.values()), notes


def _read_file(path: Path, root: Path, step_column: str | None, notes: list[str]) -> list[SourceRun]:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ScalingLabError(f"{path}: not a W&B history export; expected .csv, .jsonl or .json")
    default = _default_name(path, root)
    if suffix == ".csv":
        header, rows = _read_csv(path)
        step = step_column or ("_step" if "_step" in header else None)
        if step is None and any(" - " in c for c in header):
            return _wide(path, header, rows, step_column, notes)
        if step is None:
            raise ScalingLabError(f"{path}: neither a long history CSV (no _step column) nor a wide UI export "
                                  f"(no '<run> - <metric>' columns); columns are: {_names(header)}")
        records = ((i, dict(zip(header, row))) for i, row in enumerate(rows, start=2))
        return _long(path, records, step, default, "line", header)
    records = list(_json_records(path))
    keys = sorted({k for _, r in records for k in r})
    return _long(path, records, step_column or "_step", default, "line" if suffix == ".jsonl" else "item", keys,
                 config=_config(path, notes))


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            table = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ScalingLabError(f"{path}: cannot read the CSV file ({exc})") from None
    if not table or not any(table[0]):
        raise ScalingLabError(f"{path}: the file is empty")
    header, rows = [c.strip() for c in table[0]], table[1:]
    first: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if name and name in first:
            raise ScalingLabError(f"{path}: column {name!r} appears twice in the header (columns {first[name]} and "
                                  f"{i}), so which holds its values is ambiguous; rename one (two runs of one name "
                                  "in a panel export: rename a run in W&B or export them separately)")
        first.setdefault(name, i)
    for i, row in enumerate(rows, start=2):
        if row and len(row) != len(header):
            raise ScalingLabError(f"{path}, line {i}: {len(row)} cells, the header has {len(header)}")
    return header, [r for r in rows if r]


def _wide(path: Path, header: list[str], rows: list[list[str]], step_column: str | None,
          notes: list[str]) -> list[SourceRun]:
    """The UI's wide export: x column, ``<run> - <metric>`` columns (+ __MIN/__MAX, <run> - _step)."""
    x = step_column or header[0]
    if x not in header:
        raise ScalingLabError(f"--metric step={x}: {path} has no such column; columns are: {_names(header)}")
    col = {c: i for i, c in enumerate(header)}
    pairs = [(c, *c.rsplit(" - ", 1)) for c in header
             if " - " in c and c != x and not c.endswith(("__MIN", "__MAX")) and not c.endswith(" - _step")]
    own_steps = {run: col[f"{run} - _step"] for _, run, _ in pairs if f"{run} - _step" in col}
    if x not in ("Step", "_step") and step_column is None and len(own_steps) < len({r for _, r, _ in pairs}):
        raise ScalingLabError(f"{path}: the x column is {x!r}, not Step, and not every run has a '<run> - _step' "
                              f"column; export the panel with the x-axis Step or name the step column with "
                              f"--metric step=COLUMN")
    runs: dict[str, SourceRun] = {}
    for line, row in enumerate(rows, start=2):
        for c, run_name, metric in pairs:
            cell = row[col[c]].strip()
            if not cell:
                continue
            raw = row[own_steps[run_name]] if run_name in own_steps and step_column is None else row[col[x]]
            step = as_step(raw.strip(), f"{path}, line {line}, run {run_name!r}")
            runs.setdefault(run_name, SourceRun(run_name, where=str(path))).add(metric, step, cell)
    other = [c for c in header if " - " not in c and c != x]
    if other:
        notes.append(f"{path.name}: columns without a run name not read: {_names(other)}")
    return list(runs.values())


def _long(path: Path, records: Iterable[tuple[int, Mapping[str, Any]]], step: str, default: str, unit: str,
          keys: list[str], config: dict[str, Any] | None = None) -> list[SourceRun]:
    """History rows (one per logged step): ``step`` column, metric columns, optional run column."""
    if not keys:
        return []
    if step not in keys:
        raise ScalingLabError(f"{path}: no {step!r} column; columns are: {_names(keys)}")
    run_col = next((c for c in RUN_COLUMNS if c in keys), None)
    skip = INTERNAL | {step, run_col}
    runs: dict[str, SourceRun] = {}
    for i, record in records:
        where = f"{path}, {unit} {i}"
        if record.get(step) in (None, ""):
            raise ScalingLabError(f"{where}: no {step!r} value (every W&B history row has one)")
        name = str(record[run_col]) if run_col is not None and record.get(run_col) not in (None, "") else default
        run = runs.setdefault(name, SourceRun(name, hparams=dict(config or {}), where=str(path)))
        at = as_step(record[step], where)
        for key, value in _flatten(record):
            if key not in skip and key.strip() and not key.startswith("Unnamed:") and value not in (None, ""):
                run.add(key, at, value)
    return list(runs.values())


def _json_records(path: Path) -> Iterable[tuple[int, Mapping[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScalingLabError(f"{path}: cannot read the file ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScalingLabError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        except RecursionError:
            raise _too_deep(str(path)) from None
        if not isinstance(data, list):
            raise ScalingLabError(f"{path}: expected a JSON array of W&B history rows, got a "
                                  f"{type(data).__name__}")
        items = list(enumerate(data, start=1))
    else:
        items = []
        for i, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append((i, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise ScalingLabError(f"{path}, line {i}: not valid JSON ({exc.msg})") from None
                except RecursionError:
                    raise _too_deep(f"{path}, line {i}") from None
    unit = "item" if path.suffix.lower() == ".json" else "line"
    for i, item in items:
        if not isinstance(item, dict):
            raise ScalingLabError(f"{path}, {unit} {i}: expected an object of logged values, got "
                                  f"{type(item).__name__}")
        if _deeper(item, MAX_DEPTH):
            raise _too_deep(f"{path}, {unit} {i}")
    return items


def _deeper(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels in ``value`` (a flat row is 1 level);
    walked without recursion."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def _too_deep(where: str) -> ScalingLabError:
    return ScalingLabError(f"{where}: values nested more than {MAX_DEPTH} levels deep; W&B history rows and "
                           "configs nest a few levels (refused as malformed)")


def _flatten(record: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(key, value) pairs with nested dicts flattened as ``a.b``; media objects (``_type``) dropped."""
    for key, value in record.items():
        if isinstance(value, dict):
            if "_type" not in value:
                yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _default_name(path: Path, root: Path) -> str:
    if path.name == HISTORY_FILE:
        return (path.parent.parent if path.parent.name == "files" else path.parent).resolve().name
    return path.stem if root.is_file() else path.relative_to(root).with_suffix("").as_posix()


def _config(path: Path, notes: list[str]) -> dict[str, Any]:
    """Hyperparameters from the ``config.yaml`` beside a ``wandb-history.jsonl`` ({} when none)."""
    file = path.with_name("config.yaml")
    if path.name != HISTORY_FILE or not file.is_file():
        return {}
    try:
        import yaml
    except ImportError:
        notes.append(f"{file}: not read (PyYAML is not installed)")
        return {}
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ScalingLabError(f"{file}: cannot read the W&B config ({exc})") from None
    except RecursionError:
        raise _too_deep(str(file)) from None
    if not isinstance(data, dict):
        raise ScalingLabError(f"{file}: expected W&B's layout {{key: {{value: ...}}}}")
    if _deeper(data, MAX_DEPTH + 1):  # {key: {value: ...}} adds one level
        raise _too_deep(str(file))
    plain = {k: v["value"] for k, v in data.items()
             if isinstance(v, dict) and "value" in v and not str(k).startswith("_") and k != "wandb_version"}
    return {k: json_scalar(v) for k, v in _flatten(plain)}


def _names(names: Iterable[str]) -> str:
    shown = list(names)
    return ", ".join(repr(n) for n in shown[:20]) + (f", ... ({len(shown)} in all)" if len(shown) > 20 else "")
