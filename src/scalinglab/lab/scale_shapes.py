"""Scale-aware model shapes for 10M-1B non-embedding parameters (GPU sweeps).

:func:`scale_shape_for_params` picks depth ``n_layer``, width ``d_model``, heads, head dimension and
``d_ff`` for a target non-embedding count N. :func:`scalinglab.lab.design.shape_for_params` uses it for
every target above :data:`SCALE_MIN_PARAMS` = 1e7 parameters; targets up to 1e7 keep the tiny CPU rule
of :mod:`scalinglab.lab.design` unchanged (its shapes, and the sweeps designed with them, stay as they were).
Tested from 1e7 to 1e9; larger targets get shapes by the same rules.

The count is the project's own, :meth:`Architecture.params_non_embedding` (Kaplan et al. 2020's N, no
token embedding, no untied output matrix): for the lab's pre-norm, rotary, LayerNorm, tied, bias-free
shapes with ``d_ff = 4 d_model``, N = 12 L d^2 + 4 L d + 2 d parameters (attention 4 d^2 and MLP 8 d^2 per
layer, Kaplan et al. 2020 Table 1's 12 n_layer d_model^2, plus two LayerNorms of 2 d per layer and a
final one). Units: parameters (counts); widths and depths are counts.

The rules, each from a primary source:

* ``d_ff = 4 d_model`` in every shape: Hoffmann et al. 2022 (Chinchilla) Table A9 keeps ffw_size =
  4 d_model in all of its rows, as GPT-3 does (Brown et al. 2020 sec. 2.1, d_ff = 4 d_model).
* Head dimension 64 for d_model <= 1024 and 128 above, with ``n_heads = d_model / head_dim`` (so
  d_model is a multiple of the head dimension): Hoffmann et al. 2022 Table A9 uses kv_size 64 for its
  rows up to d_model 1024 (the 44M-306M models: 512/8 heads ... 1024/16) and 128 from d_model 1280 on
  (425M: 1280/10 heads; 1,018M: 1792/14). GPT-3 Table 2.1 (Brown et al. 2020) uses d_head 64 for
  Small (768) and Medium (1024) and 128 for XL and up (its 2.7B uses 80 and Large 96).
* Aspect ratio ``d_model / n_layer`` within [:data:`MIN_SCALE_ASPECT`, :data:`MAX_SCALE_ASPECT`] =
  [20, 200]: Kaplan et al. 2020 sec. 3.1 and Fig. 5 find that at fixed N the loss "varies only a few
  percent over a wide range of shapes" and that the aspect ratio "can vary by a factor of 40 while only
  slightly impacting performance"; [20, 200] is a factor-10 band inside the flat part of Fig. 5's
  middle panel (bounds read off the figure, not printed in the text). Chinchilla's Table A9 rows of
  44M-1.1B lie between 40 (640/16) and 90 (1792/20).
* Depth at least ``ceil(log_3 d_model)``: Levine et al. 2020 ("Limits to depth efficiencies of
  self-attention", NeurIPS 2020, arXiv:2006.12467) put the depth threshold at L_th = log_3(d_x) for width
  d_x: below it depth is double-exponentially more efficient than width, so no shape is made shallower
  (it binds only at the small end: d_model 384 needs 6 layers).
* Among the shapes obeying these rules whose N is within ``tolerance`` (default 3%) of the target, the
  aspect ratio nearest ``aspect_ratio`` in log wins (default 64, GPT-3 Small's 768/12 and Chinchilla's
  44M 512/8; its 74M-306M rows lie at 40-64); ties go to the smaller count error. With no shape that
  close the nearest count wins (more than 10% off is an error): this happens only for targets between
  1e7 and 2.1e7, where widths step by 64 and a few targets end up to 4.7% off (tested: within 5% above
  1e7 to 1e9, within 3% from 2.1e7).
"""

from __future__ import annotations

import math
from dataclasses import replace

from scalinglab.errors import ScalingLabError, finite_number, positive_count
from scalinglab.plan.architecture import Architecture

__all__ = ["MAX_SCALE_ASPECT", "MIN_SCALE_ASPECT", "SCALE_MIN_PARAMS", "min_depth", "scale_head_dim",
           "scale_shape_for_params"]

#: Targets above this many non-embedding parameters get the scale-aware rule (the tiny CPU rule up to it).
SCALE_MIN_PARAMS = 1e7
#: Aspect-ratio band d_model / n_layer (Kaplan et al. 2020 sec. 3.1, Fig. 5).
MIN_SCALE_ASPECT = 20.0
MAX_SCALE_ASPECT = 200.0
#: Widths above this use 128-wide heads (Hoffmann et al. 2022 Table A9).
WIDE_HEAD_FROM = 1024
#: A target no allowed shape comes within this relative count error of is refused.
MAX_COUNT_ERROR = 0.10
MAX_LAYERS = 256


def scale_head_dim(d_model: int) -> int:
    """Head dimension of the scale rule: 64 for d_model <= 1024, 128 above (Hoffmann et al. 2022 Table A9)."""
    return 64 if d_model <= WIDE_HEAD_FROM else 128


def min_depth(d_model: int) -> int:
    """Fewest layers for a width: ``ceil(log_3 d_model)`` (Levine et al. 2020's depth threshold)."""
    return math.ceil(math.log(d_model, 3) - 1e-12)


def _scale_shape(n_layer: int, d_model: int, vocab_size: int, seq_len: int) -> Architecture:
    hd = scale_head_dim(d_model)
    return Architecture(name=f"lab-L{n_layer}-d{d_model}", n_layer=n_layer, d_model=d_model, n_heads=d_model // hd,
                        d_ff=4 * d_model, vocab_size=vocab_size, seq_len=seq_len, position="rotary",
                        norm="layernorm", tied_embeddings=True, bias=False)


def _allowed(n_layer: int, width: int) -> bool:
    """Whether (n_layer, d_model) obeys the head-dimension, aspect and depth rules (module docstring)."""
    aspect = width / n_layer
    return (width % scale_head_dim(width) == 0 and MIN_SCALE_ASPECT <= aspect <= MAX_SCALE_ASPECT
            and n_layer >= min_depth(width))


def _widths(n_layer: int, target: float) -> set[int]:
    """The allowed multiples of the head dimension just below and above the root d of
    12 L d^2 + (4 L + 2) d = target."""
    b = 4 * n_layer + 2
    d = (-b + math.sqrt(b * b + 48 * n_layer * target)) / (24 * n_layer)
    out = set()
    for g in (64, 128):
        for width in (g * math.floor(d / g), g * math.ceil(d / g)):
            if width >= g and _allowed(n_layer, width):
                out.add(width)
    return out


def scale_shape_for_params(target_non_embedding_params: float, *, vocab_size: int = 256, seq_len: int = 1024,
                           aspect_ratio: float = 64.0, tolerance: float = 0.03) -> Architecture:
    """The scale-aware shape (module docstring) for a target non-embedding count N (parameters).

    Candidates: every depth L = 1..256 with the allowed widths next to the root of N(L, d) = target.
    Within ``tolerance`` (relative count error) the aspect ratio nearest ``aspect_ratio`` (in log) wins;
    an ``aspect_ratio`` outside [20, 200] picks shapes at the nearer bound. The achieved count,
    ``arch.params_non_embedding()``, is written into ``arch.source`` with its error."""
    target = finite_number("target_non_embedding_params", target_non_embedding_params, low=0.0, low_open=True)
    vocab_size, seq_len = positive_count("vocab_size", vocab_size), positive_count("seq_len", seq_len)
    aspect = finite_number("aspect_ratio", aspect_ratio, low=0.0, low_open=True)
    tolerance = finite_number("tolerance", tolerance, low=0.0)
    shapes = [_scale_shape(n_layer, width, vocab_size, seq_len)
              for n_layer in range(1, MAX_LAYERS + 1) for width in _widths(n_layer, target)]

    def error(a: Architecture) -> float:
        return abs(a.params_non_embedding() / target - 1.0)

    close = [a for a in shapes if error(a) <= tolerance]
    if close:
        best = min(close, key=lambda a: (abs(math.log(a.d_model / (a.n_layer * aspect))), error(a)))
    else:
        best = min(shapes, key=error, default=None)
    if best is None or error(best) > MAX_COUNT_ERROR:
        raise ScalingLabError(f"target_non_embedding_params={target:g}: no shape obeys the scale rule (aspect ratio "
                              f"{MIN_SCALE_ASPECT:g}-{MAX_SCALE_ASPECT:g}, head dimensions 64/128, depth >= log3 "
                              f"d_model) within {MAX_COUNT_ERROR:.0%} of it; the rule is meant for targets above "
                              f"{SCALE_MIN_PARAMS:g} parameters")
    n = best.params_non_embedding()
    note = (f"lab scale shape rule (aspect {aspect:g}, within {MIN_SCALE_ASPECT:g}-{MAX_SCALE_ASPECT:g}; head dim "
            f"{best.head_dim}; d_ff 4 d_model): target N={target:.4g}, achieved N={n:,} non-embedding parameters "
            f"({100 * (n / target - 1):+.1f}%)")
    return replace(best, source=note)
