"""Simulated IsoFLOP experiments: check whether a planned sweep can identify a law before paying for it.

For each FLOP budget C, model sizes N are spaced evenly in log N around the law's compute-optimal
size N_opt(C) (found numerically by minimising L(N, C/(6N)) over N), tokens D = C/(6N) (C = 6ND,
Kaplan et al. 2020 sec. 2.1), and the observed loss is the law's loss times exp(noise * z),
z ~ N(0, 1) from a seeded generator: multiplicative (log-normal) noise of standard deviation
``noise`` in log-loss, i.e. roughly ``100*noise`` percent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scalinglab.counting import flops_from, params_from, tokens_from
from scalinglab.errors import (
    ScalingLabError,
    as_list,
    finite_array,
    finite_number,
    finite_result,
    seed_number,
    whole_number,
)
from scalinglab.resolve import AnyLaw, LawLike, resolve_law

DEFAULT_BUDGETS = (1e18, 3e18, 1e19, 3e19, 1e20, 3e20, 1e21, 3e21, 1e22)  # FLOPs


def optimal_params(law: AnyLaw, flops: float, n: int = 8001) -> float:
    """N (parameters) minimising the law's loss at training compute ``flops`` (FLOPs) with
    D = C/(6N), searched on a log grid over 1 <= N <= C/6 (so that D >= 1 token)."""
    family = law.family
    if set(family.variables) != {"params", "tokens"}:
        raise ScalingLabError(f"law {family.label} is not a law of params and tokens; cannot place an "
                              "IsoFLOP sweep around its optimum")
    if not flops > flops_from(1.0, 1.0):  # N >= 1 and D >= 1 need C > 6
        raise ScalingLabError(f"budget {flops:g} FLOPs is too small for any model (C = 6ND needs C > 6)")
    N = np.logspace(0.0, np.log10(params_from(1.0, flops)), n)  # 1 <= N <= C/6 (D >= 1 token)
    with np.errstate(over="ignore", invalid="ignore"):
        loss = family.predict_natural(law.params, params=N, tokens=tokens_from(N, flops))
    i = int(np.nanargmin(loss))
    if i in (0, n - 1):
        raise ScalingLabError(f"law has no interior compute-optimal size at {flops:g} FLOPs "
                              f"(the loss is lowest at N = {N[i]:.3g}, the edge of 1..C/6)")
    return float(N[i])


def simulate_isoflop(law: LawLike = "hoffmann2022", budgets: Sequence[float] = DEFAULT_BUDGETS,
                     per_budget: int = 9, span: float = 6.0, noise: float = 0.01,
                     seed: int = 0) -> pd.DataFrame:
    """A table of simulated runs: columns params, tokens, flops, loss (nats/token), budget.

    ``span``: sizes run from N_opt/span to N_opt*span at each budget. ``noise``: standard deviation
    of the log-loss noise (0 gives exact law values)."""
    law = resolve_law(law)
    budgets = finite_array("budgets (FLOPs)", as_list("budgets", budgets), low=6.0, low_open=True)
    per_budget = whole_number("per-budget", per_budget, minimum=2, maximum=1000)
    span = finite_number("span", span, low=1.0, low_open=True)
    noise = finite_number("noise", noise, low=0.0)
    if budgets.size > 1000:
        raise ScalingLabError("at most 1,000 budgets and 1,000 sizes per budget")
    rng = np.random.default_rng(seed_number(seed))
    rows = []
    for c in budgets:
        n_opt = optimal_params(law, c)
        if n_opt / span < 1.0 or n_opt * span > params_from(1.0, c):
            raise ScalingLabError(f"span {span:g} is too wide at {c:g} FLOPs: sizes N_opt/span..N_opt*span "
                                  f"around N_opt = {n_opt:.3g} must keep N >= 1 parameter and D >= 1 token")
        for n in np.geomspace(n_opt / span, n_opt * span, per_budget):
            rows.append((n, tokens_from(n, c), c))
    df = pd.DataFrame(rows, columns=["params", "tokens", "flops"])
    true = law.family.predict_natural(law.params, params=df["params"].to_numpy(), tokens=df["tokens"].to_numpy())
    with np.errstate(over="ignore"):
        df["loss"] = finite_result("simulated loss", true * np.exp(noise * rng.standard_normal(len(df))),
                                   f"noise {noise:g} (the sd of the log-loss) is far too large")
    df["budget"] = df["flops"]
    return df
