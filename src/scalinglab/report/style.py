"""One look for every figure: colour-blind-safe colours, sizes, axis labels with units, saving.

* Palette: Okabe & Ito (2008), "Color Universal Design" -- eight colours distinguishable under the
  common colour-vision deficiencies; continuous quantities use ``viridis`` (perceptually uniform and
  colour-blind safe; its pale yellow end is cut off so that every colour reads on white).
* Figures are built with matplotlib's object-oriented :class:`~matplotlib.figure.Figure` (no pyplot, no
  global state, no display needed: the Agg canvas renders PNG, the SVG canvas SVG), sized
  ``FIG_SIZE`` inches at ``DPI`` dots per inch (768 x 528 pixels), with fonts readable at that size.
* Log axes (:func:`log_scale`, :func:`colorbar`) label their minor ticks only where the decade labels
  are too few (fewer than two decades in view) and only as many as fit without overlapping
  (:class:`SparseLogMinorFormatter`).
* :func:`save` writes ``.png`` or ``.svg`` by the path's suffix; anything else is a ScalingLabError.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import Colormap, ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter

from scalinglab.atomic import atomic_write
from scalinglab.errors import ScalingLabError

#: Okabe-Ito colours (black first left out: it is kept for fitted laws and references)
OKABE_ITO: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
                              "#000000")
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW, BLACK = OKABE_ITO
GREY = "#6E6E6E"
FIG_SIZE: tuple[float, float] = (6.4, 4.4)  # inches
WIDE_SIZE: tuple[float, float] = (10.0, 4.2)  # inches, two or three panels side by side
DPI = 120  # dots per inch of a saved PNG
REPORT_DPI = 110  # dots per inch of a PNG embedded in the HTML report
FONT_SIZE = 10.0  # points: tick labels; axis labels one point larger, titles two
FORMATS = (".png", ".svg")

#: Axis labels with units, one per quantity a plot may show.
LABELS: dict[str, str] = {
    "params": "model size N (parameters)",
    "tokens": "training tokens D (tokens)",
    "flops": "training compute C (FLOPs)",
    "loss": "loss (nats/token)",
    "step": "optimiser step S (steps)",
    "residual": "residual ln(predicted / observed loss)",
    "tokens_per_s": "throughput (tokens/s)",
    "batch": "batch size B (sequences)",
    "memory_gb": "memory (GB = 1e9 bytes)",
}


def viridis() -> Colormap:
    """``viridis`` without its palest tenth (colour-blind safe, every colour visible on white)."""
    base = matplotlib.colormaps["viridis"]
    return ListedColormap(base(np.linspace(0.0, 0.88, 256)), name="viridis_cut")


def log_norm(values: Sequence[float] | np.ndarray) -> Normalize:
    """A log colour scale spanning ``values`` (positive); a linear one when they are all equal."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0 or v.min() == v.max():
        centre = float(v[0]) if v.size else 1.0
        return Normalize(vmin=centre * 0.9, vmax=centre * 1.1)
    return LogNorm(vmin=float(v.min()), vmax=float(v.max()))


def new_figure(ncols: int = 1, size: tuple[float, float] | None = None, sharey: bool = False, ax=None):
    """A styled Figure and its axes (one Axes, or an array of ``ncols`` side by side). With ``ax`` (an
    Axes, or a sequence of ``ncols`` Axes for a figure of several panels) the figure is drawn there:
    those axes are styled and returned with their figure (``size`` and ``sharey`` are then the caller's)."""
    if ax is not None:
        return _given_axes(ax, ncols)
    fig = Figure(figsize=size or (FIG_SIZE if ncols == 1 else WIDE_SIZE), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, ncols, sharey=sharey, squeeze=False)[0]
    for ax in axes:
        style_axes(ax)
    return fig, (axes[0] if ncols == 1 else axes)


def _given_axes(ax, ncols: int):
    """The figure and axes of :func:`new_figure` when its caller gave the axes to draw on."""
    axes = np.asarray(ax, dtype=object).ravel()
    if axes.size != ncols or not all(hasattr(a, "plot") and hasattr(a, "figure") for a in axes):
        got = f"{axes.size} Axes" if all(hasattr(a, "plot") for a in axes) else type(ax).__name__
        raise ScalingLabError(f"this figure has {ncols} panel{'s' * (ncols != 1)}: give ax= "
                              f"{'one matplotlib Axes' if ncols == 1 else f'{ncols} matplotlib Axes'}, got {got}")
    for a in axes:
        style_axes(a)
    return axes[0].figure, (axes[0] if ncols == 1 else axes)


def style_axes(ax) -> None:
    """Light grid, no top/right frame, readable tick labels, the Okabe-Ito colour cycle."""
    ax.set_prop_cycle(color=list(OKABE_ITO))
    ax.grid(True, which="major", color="#D9D9D9", linewidth=0.7)
    ax.grid(True, which="minor", color="#EFEFEF", linewidth=0.5)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=FONT_SIZE)


def label(ax, x: str | None = None, y: str | None = None, title: str | None = None) -> None:
    """Axis labels (a key of :data:`LABELS` or the text itself) and a title, in the house sizes."""
    if x is not None:
        ax.set_xlabel(LABELS.get(x, x), fontsize=FONT_SIZE + 1)
    if y is not None:
        ax.set_ylabel(LABELS.get(y, y), fontsize=FONT_SIZE + 1)
    if title is not None:
        ax.set_title(title, fontsize=FONT_SIZE + 2, loc="left")


def legend(ax, **kw) -> None:
    """A legend in the house style, only when something is labelled."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=FONT_SIZE - 1, frameon=False, **kw)


def note(ax, text: str) -> None:
    """A small grey remark in the axes' lower-left corner (assumptions, what is missing)."""
    ax.text(0.01, 0.01, text, transform=ax.transAxes, fontsize=FONT_SIZE - 2, color=GREY, va="bottom",
            ha="left", wrap=True)


class SparseLogMinorFormatter(Formatter):
    """Labels for the minor ticks of a base-10 log axis, only where needed and only where they fit.

    With two or more decade ticks (10^k) in view the decade labels suffice: no minor label. Otherwise
    the minor ticks whose mantissa is in the densest of {2..9}, {2, 5}, {3} whose labels (with the decade
    labels in view) lie at least ``gap_em`` font sizes apart along the axis; none if even {3} would
    crowd. Labels read like matplotlib's own, e.g. 2×10^5."""

    SUBSETS: tuple[tuple[int, ...], ...] = (tuple(range(2, 10)), (2, 5), (3,))

    def __init__(self, fontsize: float = FONT_SIZE, gap_em: float | None = None):
        self.fontsize = fontsize
        self.gap_em = gap_em  # None: 4 em along an x axis (labels side by side), 1.8 em along a y axis
        self._keep: tuple[int, ...] | None = None

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        self._keep = self.mantissas()

    def mantissas(self) -> tuple[int, ...]:
        """The mantissas (2..9) whose minor ticks get a label at the axis' current view and size."""
        if self.axis is None:
            return ()
        lo, hi = sorted(float(v) for v in self.axis.get_view_interval())
        if not (lo > 0 and math.isfinite(hi) and hi > lo):
            return ()
        llo, lhi = math.log10(lo), math.log10(hi)
        if math.floor(lhi + 1e-9) - math.ceil(llo - 1e-9) + 1 >= 2:
            return ()  # two or more decade labels
        ax = self.axis.axes
        along_x = getattr(self.axis, "axis_name", "x") == "x"
        length_px = ax.bbox.width if along_x else ax.bbox.height
        em_px = self.fontsize * ax.figure.dpi / 72.0
        need = (self.gap_em or (4.0 if along_x else 1.8)) * em_px * (lhi - llo) / max(length_px, 1.0)  # decades
        for subset in self.SUBSETS:
            marks = sorted(e + math.log10(m) for e in range(math.floor(llo), math.ceil(lhi) + 1)
                           for m in (1, *subset) if llo - 1e-9 <= e + math.log10(m) <= lhi + 1e-9)
            if len(marks) < 2 or min(np.diff(marks)) >= need:
                return subset
        return ()

    def __call__(self, x: float, pos: int | None = None) -> str:
        if not (x > 0 and math.isfinite(x)):
            return ""
        keep = self._keep if self._keep is not None else self.mantissas()
        exponent = math.floor(math.log10(x) + 1e-9)
        mantissa = round(x / 10.0**exponent)
        if mantissa not in keep:
            return ""
        return rf"$\mathdefault{{{mantissa}\times10^{{{exponent}}}}}$"


def log_scale(ax, which: str = "x", base: float = 10.0) -> None:
    """A log scale on ``ax``'s ``which`` axis ("x", "y" or "both") whose minor ticks are labelled only
    where the decade labels are too few, and never so densely that labels overlap."""
    for name in ("x", "y") if which == "both" else (which,):
        (ax.set_xscale if name == "x" else ax.set_yscale)("log", base=base)
        if base == 10.0:
            getattr(ax, f"{name}axis").set_minor_formatter(SparseLogMinorFormatter())


def colorbar(fig: Figure, mappable, ax, text: str, pad: float = 0.01):
    """A colour bar beside ``ax`` labelled ``text``; on a log colour scale its minor ticks are labelled
    as :func:`log_scale`'s (only as many as fit)."""
    bar = fig.colorbar(mappable, ax=ax, pad=pad)
    bar.set_label(text, fontsize=FONT_SIZE)
    if isinstance(mappable.norm, LogNorm):
        bar.ax.yaxis.set_minor_formatter(SparseLogMinorFormatter())
    return bar


def check_format(path: str | os.PathLike) -> str:
    """The lower-case suffix (``.png`` or ``.svg``) of an output path; ScalingLabError otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ScalingLabError(f"{path}: unknown figure format '{suffix or '(none)'}'; use .png or .svg")
    return suffix


def save(fig: Figure, path: str | os.PathLike, dpi: int = DPI) -> Path:
    """Write ``fig`` as PNG or SVG, chosen by the suffix of ``path``; returns the path.

    Fonts in an SVG are kept as text (searchable, smaller); the file has a white background."""
    out = Path(path)
    suffix = check_format(out)
    if not out.parent.is_dir():
        raise ScalingLabError(f"{out}: folder '{out.parent}' does not exist")
    try:  # atomically: a fresh temporary file, then renamed over ``out`` (a symlink there is replaced)
        with atomic_write(out, "wb") as fh:
            fig.savefig(fh, format=suffix[1:], dpi=dpi, facecolor="white", metadata=_metadata(suffix))
    except OSError as exc:
        raise ScalingLabError(f"{out}: cannot write figure ({exc.strerror or exc})") from None
    return out


def _metadata(suffix: str) -> dict[str, str | None]:
    # no creation date in SVG metadata: the same figure gives the same file
    return {"Date": None} if suffix == ".svg" else {}


def png_bytes(fig: Figure, dpi: int = REPORT_DPI) -> bytes:
    """``fig`` rendered as PNG bytes (for embedding)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def pixel_size(fig: Figure, dpi: int = DPI) -> tuple[int, int]:
    """(width, height) in pixels of ``fig`` saved as PNG at ``dpi``."""
    w, h = fig.get_size_inches()
    return round(w * dpi), round(h * dpi)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) in pixels of a written figure: a PNG's from its header, an SVG's from its
    root ``width``/``height`` (matplotlib writes points; 1 pt = 96/72 CSS pixels)."""
    p = Path(path)
    data = p.read_bytes()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    import re

    head = data[:2000].decode("utf-8", "replace")
    sizes = []
    for attr in ("width", "height"):
        m = re.search(rf'<svg[^>]*\s{attr}="([0-9.]+)(pt|px)?"', head)
        if m is None:
            raise ScalingLabError(f"{p}: neither a PNG nor an SVG with a {attr}")
        value = float(m.group(1)) * (96.0 / 72.0 if m.group(2) == "pt" else 1.0)
        sizes.append(round(value))
    return sizes[0], sizes[1]
