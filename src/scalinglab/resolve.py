"""One way to name a law wherever a law is needed: a fit JSON file, a FitResult, or a published law."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

import numpy as np

from scalinglab.errors import ScalingLabError
from scalinglab.fit.result import FitResult, Prediction
from scalinglab.laws.published import PublishedLaw, get_published

AnyLaw = Union[FitResult, PublishedLaw]


def resolve_law(spec: Any) -> AnyLaw:
    """A FitResult or PublishedLaw from itself, a path to a fit JSON, or a published key."""
    if isinstance(spec, (FitResult, PublishedLaw)):
        return spec
    text = os.fspath(spec) if isinstance(spec, (str, os.PathLike)) else None
    if text is None:
        raise ScalingLabError(f"cannot use {type(spec).__name__} as a law: give a fit JSON or a published name")
    if text.lower().endswith(".json") or Path(text).is_file():
        return FitResult.load(text)
    return get_published(text)


def predict_loss(law: AnyLaw, **X: Any) -> Prediction:
    """Loss (nats/token) predicted by a fitted or published law, with an interval when available."""
    if isinstance(law, FitResult):
        return law.predict(**X)
    return Prediction(loss=np.asarray(law.family.predict_natural(law.params, **X)))
