"""scalinglab: fit, plan and check language-model scaling laws.

Typical use::

    import scalinglab as sl
    runs = sl.load_runs("runs.csv")                       # params, tokens, flops, loss (nats/token)
    result = sl.fit(runs, law="chinchilla", bootstrap=200, seed=0)
    print(result.summary())
    result.predict(params=70e9, tokens=1.4e12)            # loss with a 95% interval
    sl.published["hoffmann2022"].predict(params=70e9, tokens=1.4e12)
    sl.optimal.optimal_allocation("hoffmann2022", 5.76e23)   # N_opt, D_opt for a FLOP budget
    sl.flops.training_flops(sl.flops.get_architecture("llama3-8b"), tokens=15e12)
    sl.hardware.training_cost(1e24, "h100-sxm", n_devices=1024, mfu=0.4)

The names load on first use (PEP 562): ``import scalinglab`` costs milliseconds and imports neither
pandas, scipy, matplotlib nor torch; ``sl.fit`` imports the fitting engine the first time it is read.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from scalinglab._version import __version__

#: Public name -> (module, attribute in it; None for the module itself).
_LAZY: dict[str, tuple[str, str | None]] = {
    "FitError": ("scalinglab.errors", "FitError"),
    "ScalingLabError": ("scalinglab.errors", "ScalingLabError"),
    "FitResult": ("scalinglab.fitting.result", "FitResult"),
    "Prediction": ("scalinglab.fitting.result", "Prediction"),
    "Objective": ("scalinglab.fitting.objective", "Objective"),
    "fit": ("scalinglab.fitting.api", "fit"),
    "Runs": ("scalinglab.io", "Runs"),
    "load_runs": ("scalinglab.io", "load_runs"),
    "published": ("scalinglab.laws.published", "REGISTRY"),
    "get_published": ("scalinglab.laws.published", "get_published"),
    "predict_loss": ("scalinglab.resolve", "predict_loss"),
    "resolve_law": ("scalinglab.resolve", "resolve_law"),
    "simulate_isoflop": ("scalinglab.simulate", "simulate_isoflop"),
    "analysis": ("scalinglab.analysis", None),
    "datasets": ("scalinglab.datasets", None),
    "inference": ("scalinglab.inference", None),
    "laws": ("scalinglab.laws", None),
    "batch": ("scalinglab.plan.batch", None),
    "flops": ("scalinglab.plan.flops", None),
    "hardware": ("scalinglab.plan.hardware", None),
    "optimal": ("scalinglab.plan.optimal", None),
}

__all__ = [
    "FitError", "FitResult", "Objective", "Prediction", "Runs", "ScalingLabError", "__version__",
    "analysis", "batch", "datasets", "fit", "flops", "hardware", "inference", "optimal", "get_published", "laws",
    "load_runs", "predict_loss", "published", "resolve_law", "simulate_isoflop",
]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time the names load on first use
    from scalinglab import analysis, datasets, inference, laws
    from scalinglab.errors import FitError, ScalingLabError
    from scalinglab.fitting.api import fit
    from scalinglab.fitting.objective import Objective
    from scalinglab.fitting.result import FitResult, Prediction
    from scalinglab.io import Runs, load_runs
    from scalinglab.laws.published import REGISTRY as published
    from scalinglab.laws.published import get_published
    from scalinglab.plan import batch, flops, hardware, optimal
    from scalinglab.resolve import predict_loss, resolve_law
    from scalinglab.simulate import simulate_isoflop


def __getattr__(name: str) -> Any:
    """Load a public name on first use (and keep it), e.g. ``sl.fit`` imports the fitting engine."""
    if name not in _LAZY:
        raise AttributeError(f"module 'scalinglab' has no attribute '{name}'")
    module, attr = _LAZY[name]
    loaded = importlib.import_module(module)
    value = loaded if attr is None else getattr(loaded, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names only (``__all__``), not every submodule that happens to be imported."""
    return sorted(__all__)
