"""Runs from a TensorBoard log folder (event files ``events.out.tfevents.*``).

The folder is searched recursively; every folder holding event files is one run, named by its
path relative to the log folder (the log folder's own name when it holds them itself); its event
files are read in order by TensorBoard's ``EventAccumulator`` with no sampling (every point kept).
Scalars are read in both encodings TensorBoard has: ``simple_value`` summaries
(``torch.utils.tensorboard.SummaryWriter.add_scalar``, TF1 ``tf.summary.scalar``) and one-element
tensor summaries of the scalars plugin (TF2 ``tf.summary.scalar``). A value logged twice at one
step keeps the last. Note that ``simple_value`` is a float32: values are what TensorBoard holds
(e.g. 2.9 reads back as 2.9000000954), and counts above 2**24 logged that way (tokens) are
rounded to float32's 24-bit precision (relative error < 6e-8).

Hyperparameters come from the hparams plugin's session start info (``SummaryWriter.add_hparams``,
TF2 ``hparams.hp.hparams``). ``add_hparams`` writes them into a new sub-folder of the run (named
by a timestamp unless ``run_name`` is given) together with its ``metric_dict`` scalars: a folder
holding hparams inside another run's folder is read as that run's hyperparameters, and its scalars
(the metric_dict summary values) are not imported. Folders with no scalars (images, graphs only)
are skipped with a note. Needs the ``tensorboard`` package (``pip install 'scalinglab[trackers]'``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.lab.importers.source import SourceRun, json_scalar, optional_module

__all__ = ["read_runs"]

WHAT = "TensorBoard logs"


def read_runs(source: str) -> tuple[str, list[SourceRun], list[str]]:
    """(source id = the log folder's absolute path, runs, notes) of the log folder ``source``."""
    root = Path(source)
    if not root.exists():
        raise ScalingLabError(f"{source}: no such TensorBoard log folder")
    if root.is_file():
        raise ScalingLabError(f"{source}: is a file; give the TensorBoard log folder (the folder holding "
                              "events.out.tfevents.* files, or a folder above it)")
    folders = sorted({Path(d) for d, _, files in os.walk(root) for f in files if "tfevents" in f})
    if not folders:
        raise ScalingLabError(f"{source}: no TensorBoard event files (events.out.tfevents.*) in this folder "
                              "or below")
    loaded = {d: _read_folder(d) for d in folders}
    notes: list[str] = []
    runs: dict[Path, SourceRun] = {}
    for d in folders:
        series, hparams, has_session = loaded[d]
        parent = next((p for p in d.parents if p in loaded and p.is_relative_to(root)), None)
        name = d.relative_to(root).as_posix() if d != root else root.resolve().name
        if has_session and parent is not None:  # SummaryWriter.add_hparams' sub-folder
            target = runs.get(parent)
            if target is not None:
                target.hparams = {**hparams, **target.hparams}
                notes.append(f"hyperparameters of {name!r} read as those of run {target.name!r} "
                             f"(SummaryWriter.add_hparams layout); its scalar tags ({len(series)}) not imported")
                continue
        if not series:
            notes.append(f"folder {name!r} has no scalars; skipped")
            continue
        runs[d] = SourceRun(name=name, hparams=hparams, where=str(d))
        for tag, points in series.items():
            for step, value in points:
                runs[d].add(tag, step, value)
    if not runs:
        raise ScalingLabError(f"{source}: no runs found: the event files hold no scalars")
    return str(root.resolve()), list(runs.values()), notes


def _read_folder(folder: Path) -> tuple[dict[str, list[tuple[int, Any]]], dict[str, Any], bool]:
    """(tag -> [(step, value)] in file order, hparams, whether an hparams session start was found)."""
    ea = optional_module("tensorboard.backend.event_processing.event_accumulator", WHAT)
    guidance = {ea.SCALARS: 0, ea.TENSORS: 0, ea.IMAGES: 1, ea.AUDIO: 1, ea.HISTOGRAMS: 1,
                ea.COMPRESSED_HISTOGRAMS: 1}
    try:
        acc = ea.EventAccumulator(str(folder), size_guidance=guidance)
        acc.Reload()
        series = {tag: [(int(e.step), float(e.value)) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
        series.update(_tensor_scalars(acc))
        hparams, has_session = _hparams(acc)
    except ScalingLabError:
        raise
    except Exception as exc:  # corrupt or truncated files raise the reader's own errors
        raise ScalingLabError(f"{folder}: cannot read the TensorBoard event files ({type(exc).__name__}: "
                              f"{exc})") from None
    return series, hparams, has_session


def _tensor_scalars(acc: Any) -> dict[str, list[tuple[int, Any]]]:
    """Scalars written as one-element tensors of the scalars plugin (TF2 style)."""
    tensor_util = optional_module("tensorboard.util.tensor_util", WHAT)
    out: dict[str, list[tuple[int, Any]]] = {}
    for tag in acc.Tags()["tensors"]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
            continue
        points = []
        for event in acc.Tensors(tag):
            array = tensor_util.make_ndarray(event.tensor_proto)
            if array.size == 1:
                value = array.reshape(()).item()
                points.append((int(event.step), value.decode() if isinstance(value, bytes) else value))
        out[tag] = points
    return out


def _hparams(acc: Any) -> tuple[dict[str, Any], bool]:
    """Hyperparameters of the hparams plugin's session start info, and whether there was one."""
    try:
        content = acc.PluginTagToContent("hparams")
    except KeyError:
        return {}, False
    plugin_data = optional_module("tensorboard.plugins.hparams.plugin_data_pb2", WHAT)
    found, hparams = False, {}
    for blob in content.values():
        data = plugin_data.HParamsPluginData.FromString(blob)
        if data.WhichOneof("data") != "session_start_info":
            continue
        found = True
        for key, value in data.session_start_info.hparams.items():
            kind = value.WhichOneof("kind")
            if kind in ("number_value", "string_value", "bool_value"):
                raw = getattr(value, kind)  # numbers are doubles: whole ones (counts, seeds) become int
                hparams[key] = json_scalar(int(raw) if _whole(raw) else raw)
    return hparams, found


def _whole(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value == int(value) and abs(value) < 2**53
