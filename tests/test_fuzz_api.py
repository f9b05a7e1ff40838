"""Zero tracebacks: every public function (tests/api_cases.py) given a bad argument returns a result or
raises ScalingLabError with one line, never another exception (RuntimeWarnings from scalinglab are
errors under pytest's configuration, so an overflow inside the library fails here too)."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api_cases import BAD_VALUES, NOT_FUZZED, cases
from scalinglab.errors import MAX_COUNT, ScalingLabError

#: A base call slower than this (seconds) is left to the sampled test; the others get every bad value.
FAST = 0.03


def _call(fn, kwargs: dict) -> None:
    try:
        fn(**kwargs)
    except ScalingLabError as exc:
        assert str(exc) and "\n" not in str(exc), repr(str(exc))


def _timed_cases() -> tuple[list[str], list[str]]:
    fast, slow = [], []
    for name, (fn, kwargs) in cases().items():
        start = time.perf_counter()
        _call(fn, kwargs)
        (fast if time.perf_counter() - start < FAST else slow).append(name)
    return fast, slow


def test_every_public_function_is_covered():
    import inspect

    import scalinglab as sl
    from scalinglab import inference

    spaces = {"": sl, "optimal.": sl.optimal, "flops.": sl.flops, "batch.": sl.batch, "hardware.": sl.hardware,
              "analysis.": sl.analysis, "laws.": sl.laws, "datasets.": sl.datasets,
              **{f"{m}.": getattr(inference, m) for m in inference.__all__}}
    public = set()
    for prefix, module in spaces.items():
        for name in getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]:
            obj = getattr(module, name)
            if not inspect.isfunction(obj) or not obj.__module__.startswith("scalinglab"):
                continue
            if hasattr(module, "__all__") or obj.__module__ != "scalinglab.errors":  # not a validator it imports
                public.add(prefix + name)
    covered = set(cases())
    # functions re-exported under a second name are covered once (e.g. quality.exact_match_curve = metrics')
    again = {"quality.exact_match_curve", "quality.token_edit_distance", "quality.per_token_loss_power_law",
             "quality.metric_comparison", "speed.experts_touched", "speed.model_bandwidth_utilization",
             "speed.model_flops_utilization", "metrics.get_device", "metrics.positive_count", "memory.plain_repr",
             "datasets.cache_dir", "datasets.data_dir", "datasets.sha256_of"}
    assert public - covered - again == set()


def test_every_fast_function_refuses_every_bad_value_cleanly():
    fast, _ = _timed_cases()
    assert len(fast) > 100
    for name in fast:
        fn, kwargs = cases()[name]
        for arg in kwargs:
            if arg in NOT_FUZZED:
                continue
            for bad in BAD_VALUES:
                try:
                    _call(fn, {**kwargs, arg: bad})
                except Exception as exc:  # pragma: no cover - the message names the call
                    raise AssertionError(f"{name}({arg}={bad!r:.40}) raised {type(exc).__name__}: {exc}") from exc


# values that are wrong for (almost) any argument: never a valid count of resamples that would run for long
bad_values = st.one_of(
    st.sampled_from(BAD_VALUES),
    st.integers(max_value=0),
    st.integers(min_value=MAX_COUNT + 1, max_value=10**30),
    st.floats(max_value=0.0),
    st.floats(min_value=1e300, allow_infinity=True),
    st.floats(min_value=0.0, max_value=1e-300),
    st.text(max_size=4),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=2),
    st.none(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(cases())), st.data())
def test_public_api_raises_only_scalinglab_errors(name, data):
    fn, kwargs = cases()[name]
    args = [a for a in kwargs if a not in NOT_FUZZED]
    if not args:
        _call(fn, kwargs)
        return
    changed = {data.draw(st.sampled_from(args)), data.draw(st.sampled_from(args))}  # one or two arguments
    _call(fn, {**kwargs, **{a: data.draw(bad_values, label=a) for a in sorted(changed)}})


@pytest.mark.parametrize("value", [10**400, "abc", [], None, float("inf"), float("nan"), -1],
                         ids=["400-digits", "abc", "empty", "None", "inf", "nan", "-1"])
def test_named_sites_of_the_fuzz_report(value):
    """The nine code sites of issue 11's fuzz report, each with the values that broke it."""
    import scalinglab as sl
    from scalinglab.inference import memory, quality, speed

    calls = [
        lambda: sl.published["hoffmann2022"].predict(params=value, tokens=2e10),  # laws/base.py
        lambda: sl.fit(cases()["fit"][1]["runs"], "chinchilla", refine=8).predict(params=1e9, tokens=value),
        lambda: sl.optimal.optimal_allocation("hoffmann2022", value),  # plan/allocation.py
        lambda: sl.hardware.training_time(value, "h100", 8, 0.4),  # plan/hardware.py
        lambda: sl.analysis.backtest(cases()["fit"][1]["runs"], holdout_above=value, bootstrap=0),
        lambda: quality.pass_at_k(value, 3, 5),  # inference/quality.py
        lambda: memory.bytes_per_weight("int4", group_size=value if value is not None else 0),  # memory.py
        lambda: memory.weights_bytes("llama3-8b", "int4", scale_bytes=value),
        lambda: memory.memory_report("llama3-8b", context_tokens=value),
        lambda: speed.serving_speed("llama3-8b", "h100", context_tokens=value),  # inference/speed.py
    ]
    for call in calls:
        with pytest.raises(ScalingLabError):
            call()
