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
"""


from scalinglab import analysis, datasets, inference, laws
from scalinglab.errors import FitError, ScalingLabError
from scalinglab.fitting import FitResult, Objective, Prediction, fit
from scalinglab.io import Runs, load_runs
from scalinglab.laws.published import REGISTRY as published
from scalinglab.laws.published import get_published
from scalinglab.plan import batch, flops, hardware, optimal
from scalinglab.resolve import predict_loss, resolve_law
from scalinglab.simulate import simulate_isoflop

__version__ = "0.1.0"

__all__ = [
    "FitError", "FitResult", "Objective", "Prediction", "Runs", "ScalingLabError", "__version__",
    "analysis", "batch", "datasets", "fit", "flops", "hardware", "inference", "optimal", "get_published", "laws", "load_runs", "predict_loss", "published", "resolve_law",
    "simulate_isoflop",
]


def __dir__() -> list[str]:
    """The public names only (``__all__``), not every submodule that happens to be imported."""
    return sorted(__all__)
