"""Property tests: random tables never produce a traceback, only a result or a ScalingLabError."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scalinglab as sl
from scalinglab.errors import ScalingLabError

cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=1e-3, max_value=1e13),
    st.integers(min_value=-10, max_value=10**12),
    st.sampled_from(["", "abc", "1e9", "NaN", "-", " 3.5 ", "1,000"]),
)
column_names = st.sampled_from(["params", "tokens", "flops", "loss", "N", "D", "C", "val_loss", "other"])


@st.composite
def tables(draw):
    cols = draw(st.lists(column_names, min_size=0, max_size=4, unique=True))
    n = draw(st.integers(min_value=0, max_value=12))
    return pd.DataFrame({c: draw(st.lists(cell, min_size=n, max_size=n)) for c in cols})


@st.composite
def plausible_tables(draw):
    n = draw(st.integers(min_value=5, max_value=25))
    logs = st.floats(min_value=6, max_value=12)
    N = 10 ** np.array(draw(st.lists(logs, min_size=n, max_size=n)))
    D = 10 ** np.array(draw(st.lists(st.floats(min_value=8, max_value=13), min_size=n, max_size=n)))
    loss = np.array(draw(st.lists(st.floats(min_value=0.5, max_value=8), min_size=n, max_size=n)))
    return pd.DataFrame({"params": N, "tokens": D, "loss": loss})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.sampled_from(["chinchilla", "power:params", "power_floor:params"]))
def test_random_tables_give_result_or_clear_error(tmp_path_factory, df, law):
    path = tmp_path_factory.mktemp("prop") / "t.csv"
    df.to_csv(path, index=False)
    try:
        res = sl.fit(path, law)
    except ScalingLabError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert np.isfinite(res.objective)
    assert all(np.isfinite(v) for v in res.params.values())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plausible_tables())
def test_random_valid_tables_fit_finite(df):
    res = sl.fit(df, "chinchilla")
    assert np.isfinite(res.objective) and res.objective >= 0
    assert np.isfinite(res.rmse_log)
    assert set(res.params) == {"E", "A", "B", "alpha", "beta"}
    # the best of the grid is never worse than the best grid start itself
    pred = res.predict(params=df["params"].to_numpy(), tokens=df["tokens"].to_numpy())
    assert np.all(np.isfinite(pred.loss)) and np.all(pred.loss > 0)


option_words = st.sampled_from(["--law", "--bootstrap", "--seed", "--level", "--delta", "--loss", "--col",
                                "--drop-highest-loss", "--refine", "--json", "--out"])
option_values = st.sampled_from(["chinchilla", "bnsl:flops:x", "power:", "chinchilla:params", "bnsl:params:99",
                                 "0", "-1", "1", "2.5", "abc", "1e400", "nan", "params=zzz", "=", "huber", ""])


# capsys is read (and so cleared) and argv is set on every example, so sharing them is safe
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.one_of(tables(), plausible_tables()), st.lists(st.tuples(option_words, option_values), max_size=3))
def test_cli_never_shows_a_traceback(tmp_path_factory, capsys, monkeypatch, df, options):
    import sys

    from scalinglab.cli import main

    folder = tmp_path_factory.mktemp("cli")
    path = folder / "t.csv"
    df.to_csv(path, index=False)
    args = ["fit", str(path)]
    for word, value in options:
        args += [word] if word == "--json" else [word, str(folder / "o.json") if word == "--out" else value]
    monkeypatch.setattr(sys, "argv", ["scalinglab", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code in (0, 2), (args, code, err)
    assert "Traceback" not in err
