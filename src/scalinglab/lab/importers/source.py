"""What every importer's reader returns: the runs of a source as raw, named metric series.

A reader (TensorBoard, MLflow, W&B) knows how to get runs out of its tool and nothing about
scaling laws: it returns :class:`SourceRun` objects holding every scalar series the run logged,
under the tool's own names, with values exactly as stored (numbers, or text from CSV cells and
MLflow params). Mapping those names onto val_loss/train_loss/tokens/params, converting units and
validating values is the common code's job (:mod:`scalinglab.lab.importers.mapping`), so every
tool gets the same rules and the same messages.
"""

from __future__ import annotations

import importlib
import math
import numbers
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from scalinglab.errors import ScalingLabError

__all__ = ["SourceRun", "as_step", "json_scalar", "optional_module"]

TRACKERS_HINT = "pip install 'scalinglab[trackers]'"


@dataclass
class SourceRun:
    """One run as a tracker stored it.

    ``name``: unique within the source (TensorBoard: the run folder relative to the log folder;
    MLflow: the run name; W&B: the run name in the export). ``hparams``: hyperparameters as
    JSON scalars (str, int, float, bool). ``series``: metric name -> {step [optimizer steps, int
    >= 0]: raw value}, a later value for the same step replacing an earlier one. ``where``:
    where it was read, for messages (a folder, a file, a run id).
    """

    name: str
    hparams: dict[str, Any] = field(default_factory=dict)
    series: dict[str, dict[int, Any]] = field(default_factory=dict)
    where: str = ""

    def add(self, metric: str, step: int, value: Any) -> None:
        """Record ``value`` of ``metric`` at ``step`` (replacing an earlier value at that step)."""
        self.series.setdefault(metric, {})[step] = value


def as_step(raw: Any, where: str) -> int:
    """A step from a tracker's cell: an integer >= 0 (``12`` and ``"12.0"`` both give 12)."""
    try:
        value = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        raise ScalingLabError(f"{where}: step {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise ScalingLabError(f"{where}: step {raw!r} is not a whole number >= 0")
    return int(value)


def json_scalar(value: Any) -> Any:
    """A hyperparameter value as a JSON scalar: numbers stay numbers (non-finite ones become
    text, which strict JSON needs), booleans and text stay, anything else becomes its text."""
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else str(float(value))
    return str(value)


def optional_module(name: str, what: str) -> ModuleType:
    """Import ``name`` (a tracker's package) or raise naming the extra that installs it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ScalingLabError(f"reading {what} needs the {name.split('.')[0]} package: "
                              f"{TRACKERS_HINT}") from None
