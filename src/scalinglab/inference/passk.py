"""Unbiased pass@k (Chen et al. 2021, Codex paper, sec. 2.1; references.md E1): the per-problem estimator
that :mod:`scalinglab.inference.quality` and :class:`~scalinglab.inference.results.ProblemResults` share.

Units: n and k are counts of samples drawn per problem, c a count of samples that passed; pass@k is a
fraction in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln

from scalinglab.errors import MAX_COUNT, ScalingLabError, plain_repr, positive_count

__all__ = ["EXACT_TERMS", "pass_at_k"]

def _int_array(values: object, what: str, problems: Sequence[str] | None, minimum: int) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError, OverflowError):
        raise ScalingLabError(f"{what} must be whole numbers, got {plain_repr(values)}") from None
    bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (arr < minimum) | (arr > MAX_COUNT)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = f"problem {problems[i]!r}: " if problems is not None else ""
        raise ScalingLabError(f"{where}{what} must be a whole number >= {minimum}, got {arr[i]:g}")
    return arr.astype(np.int64)


def _check_k(k: object) -> int:
    return positive_count("k", k)


#: Problems whose product has at most this many terms are summed term by term (exact); larger ones use
#: differences of log-gamma (Stirling series), stable to ~m log(n) x 1e-16 in the log.
EXACT_TERMS = 4096


def _log_rising(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """log Gamma(a + m) - log Gamma(a) for a >= 1, m >= 0, without the cancellation of two lgamma values of
    size a log a: the Stirling series' difference for a >= 10 (error < 1e-10), lgamma for small a."""
    a, m = np.asarray(a, dtype=float), np.asarray(m, dtype=float)
    out = np.empty_like(a)
    small = a < 10
    if small.any():
        out[small] = gammaln(a[small] + m[small]) - gammaln(a[small])
    big = ~small
    if big.any():
        x, mm = a[big], m[big]
        y = x + mm

        def series(z: np.ndarray) -> np.ndarray:
            return 1 / (12 * z) - 1 / (360 * z**3) + 1 / (1260 * z**5)

        out[big] = (x - 0.5) * np.log1p(mm / x) + mm * np.log(y) - mm + series(y) - series(x)
    return out


def _log_ratio(n: np.ndarray, c: np.ndarray, k: int) -> np.ndarray:
    """log(C(n-c, k) / C(n, k)) for n - c >= k, from m = min(c, k) terms: sum_{i=n-m+1..n} log1p(-L/i) with
    L = max(c, k) (the c-term product of Chen et al., or its k-term mirror), never a range up to n."""
    m, big_l = np.minimum(c, k), np.maximum(c, k)
    out = np.zeros(n.shape, dtype=float)
    exact = (m > 0) & (m <= EXACT_TERMS)
    idx = np.flatnonzero(exact)
    start = 0
    while start < idx.size:  # chunks of about 2**20 terms
        counts = m[idx[start:]]
        stop = start + max(1, int(np.searchsorted(np.cumsum(counts), 2**20, side="right")))
        chunk = idx[start:stop]
        reps = m[chunk]
        offsets = np.concatenate(([0], np.cumsum(reps)[:-1]))
        step = np.arange(int(reps.sum())) - np.repeat(offsets, reps)
        i = np.repeat((n[chunk] - reps + 1).astype(float), reps) + step
        out[chunk] = np.add.reduceat(np.log1p(-np.repeat(big_l[chunk].astype(float), reps) / i), offsets)
        start = stop
    rest = m > EXACT_TERMS
    if rest.any():
        nn, mr = n[rest].astype(float), m[rest].astype(float)
        out[rest] = _log_rising(nn - c[rest] - k + 1, mr) - _log_rising(nn - mr + 1, mr)
    return out


def pass_at_k(n: object, c: object, k: int, problems: Sequence[str] | None = None) -> float | np.ndarray:
    """Unbiased pass@k of Chen et al. 2021 (Codex paper, sec. 2.1; references.md E1), per problem.

    pass@k = 1 - C(n-c, k) / C(n, k) for n samples of which c passed, computed in the numerically
    stable product form 1 - prod_{i=n-c+1..n} (1 - k/i) (1.0 when n - c < k), summed as logs over
    min(c, k) terms (the mirror form prod_{j<k} (1 - c/(n-j)) when k < c); beyond :data:`EXACT_TERMS`
    terms, log-gamma differences. Cost grows with min(c, k), not n (n = 1e11 is fine).
    Vectorised: ``n`` and ``c`` may be arrays over problems (then an array is returned); ``problems``
    names them in errors. Needs 0 <= c <= n and k <= n (Chen et al. report only k <= n).
    Checks: (n=10, c=2, k=5) -> 0.777778; (200, 10, 10) -> 0.408548.
    """
    n_arr = _int_array(n, "n (samples)", problems, 1)
    c_arr = _int_array(c, "c (correct samples)", problems, 0)
    scalar = np.ndim(n) == 0 and np.ndim(c) == 0
    if n_arr.shape != c_arr.shape:
        raise ScalingLabError(f"n and c must have the same length, got {n_arr.size} and {c_arr.size}")
    kk = _check_k(k)
    for bad, why in ((c_arr > n_arr, "c={c} correct exceeds n={n} samples (c > n)"),
                     (n_arr < kk, "k={k} exceeds its n={n} samples (pass@k needs n >= k)")):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            where = f"problem {problems[i]!r}: " if problems is not None else ""
            raise ScalingLabError(where + why.format(c=c_arr[i], n=n_arr[i], k=kk))
    out = np.ones(n_arr.shape, dtype=float)
    todo = (n_arr - c_arr) >= kk
    if todo.any():
        out[todo] = 0.0 - np.expm1(_log_ratio(n_arr[todo], c_arr[todo], kk))  # 0.0 - : no -0.0 when c = 0
    return float(out[0]) if scalar else out
