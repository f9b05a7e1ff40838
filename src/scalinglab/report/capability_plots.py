"""Figure of an observational scaling law (Ruan et al. 2024, arXiv:2405.10938; references.md E6): a target
score against equivalent compute, with the law's sigmoid, the training and the held-out models, one
marker per family.

Equivalent compute, as in the paper's figures of predictions ("Llama-2-equivalent FLOPs"): the law's
capability combination z = w0 + w . PC-1..k (:class:`~scalinglab.analysis.parametric_sigmoid.ParametricSigmoid`)
is a line in log10 C within the reference family, z = a log10(C / FLOPs) + b
(:func:`~scalinglab.analysis.capabilities.family_lines`); a model's equivalent compute is the C at which
that line reaches its z, C_eq = 10^((z - b) / a). On this axis the law is one curve,
y = h + (1 - h) sigmoid(a log10 C_eq + b), and every model's prediction lies on it. With one component
(k = 1) C_eq is the result's own ``equivalent_flops`` (PC-1's line).

Units: C_eq in FLOPs (log axis); the score a fraction in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

import scalinglab.report.style as style
from scalinglab.analysis.capabilities import equivalent_flops, family_lines
from scalinglab.analysis.observational import DEFAULT_CUTOFF_FLOPS, ObservationalResult, observational
from scalinglab.errors import ScalingLabError

CURVE_POINTS = 200
#: 6 colours (Okabe-Ito without yellow, faint on white, and black, the law's) and 11 markers: 66 families
#: before a pair repeats.
COLOURS = style.OKABE_ITO[:6]
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">", "h", "p")


def capability_data(result: ObservationalResult) -> dict[str, Any]:
    """What :func:`plot_capability` draws (module docstring): ``models`` (the predictions table of the
    models with a target score plus ``capability`` z and ``equivalent`` C_eq in FLOPs), the reference
    line's ``slope`` a and ``intercept`` b, and the sigmoid ``curve`` (``flops``, ``score``) over the
    models' equivalent compute, half a decade beyond either end."""
    k = result.n_pcs
    pcs = result.pca.scores.to_numpy()[:, :k]
    z = result.pc_fit.weights[0] + pcs @ result.pc_fit.weights[1:]
    table = result.predictions
    lines = family_lines(z, table["flops"].to_numpy(float), table["family"].to_numpy())
    ref = next((line for line in lines if line.family == result.reference_family), None)
    if ref is None or not ref.slope > 0:
        raise ScalingLabError(f"the reference family {result.reference_family!r}'s capability combination does not "
                              "grow with compute; no equivalent compute to draw against")
    models = table.assign(capability=z, equivalent=equivalent_flops(z, ref))
    models = models[models["split"] != "none"].reset_index(drop=True)
    lo, hi = np.log10(models["equivalent"].min()) - 0.5, np.log10(models["equivalent"].max()) + 0.5
    grid = np.linspace(lo, hi, CURVE_POINTS)
    h = result.pc_fit.floor
    score = h + (1.0 - h) / (1.0 + np.exp(-np.clip(ref.slope * grid + ref.intercept, -500, 500)))
    return {"models": models, "slope": ref.slope, "intercept": ref.intercept,
            "curve": {"flops": 10.0 ** grid, "score": score}}


def plot_capability(result: ObservationalResult) -> Figure:
    """The target score of every model with one against its equivalent compute (module docstring):
    the law's sigmoid (black), training models filled, held-out models open, one marker and colour per
    family; the legend lists the families."""
    data = capability_data(result)
    models = data["models"]
    fig, ax = style.new_figure(size=(9.0, 5.0))
    ax.plot(data["curve"]["flops"], data["curve"]["score"], color=style.BLACK, linewidth=1.6,
            label=f"law (PC-1..{result.n_pcs})")
    for i, (family, rows) in enumerate(models.groupby("family", sort=True)):
        colour, marker = COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)]
        for split, filled in (("train", True), ("test", False)):
            part = rows[rows["split"] == split]
            if len(part):
                ax.scatter(part["equivalent"], part["observed"], s=30, marker=marker, linewidths=1.2,
                           facecolors=colour if filled else "none", edgecolors=colour, zorder=3,
                           label=family if split == "train" or not (rows["split"] == "train").any() else None)
    for split, filled in (("train", True), ("test", False)):  # what filled and open mean
        ax.scatter([], [], s=30, marker="o", facecolors=style.GREY if filled else "none", edgecolors=style.GREY,
                   label="training model" if filled else "held-out model")
    style.log_scale(ax, "x")
    held = int((models["split"] == "test").sum())
    style.label(ax, f"{result.reference_family}-equivalent compute C (FLOPs)", f"{result.target} (fraction)",
                f"{len(models) - held} models with C <= {result.cutoff_flops:.3g} FLOPs fit the law; {held} held out")
    ax.set_ylim(-0.02, 1.02)
    fig.legend(loc="outside right upper", fontsize=style.FONT_SIZE - 2, frameon=False,
               ncols=1 if models["family"].nunique() <= 24 else 2)
    return fig


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    """Comma-separated text (as the CLI gives it) or a list of names; None stays None."""
    if value is None or not isinstance(value, str):
        return None if value is None else list(value)
    return [v.strip() for v in value.split(",") if v.strip()]


def capability_figure(data: Any, target: str | None, targets: Any = None, benchmarks: str | Sequence[str] | None = None,
                      families: str | Sequence[str] | None = None, n_pcs: int = 3,
                      cutoff_flops: float = DEFAULT_CUTOFF_FLOPS, reference_family: str = "Llama-2") -> Figure:
    """The ``capability`` plot kind: :func:`~scalinglab.analysis.observational.observational` of the
    benchmark table ``data`` (and ``targets``, a second table holding the target) drawn by
    :func:`plot_capability`; ``benchmarks`` and ``families`` as lists or comma-separated text."""
    if target is None:
        raise ScalingLabError("plot kind 'capability' needs the score to predict (target=..., CLI --target)")
    result = observational(data, target, targets=targets, benchmarks=_names(benchmarks), families=_names(families),
                           n_pcs=n_pcs, cutoff_flops=cutoff_flops, reference_family=reference_family)
    return plot_capability(result)
