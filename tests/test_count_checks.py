"""Counts that cannot be counts (issue 11 item 5): a derived token or parameter count below 1 is an error
naming the column and the likely slip (FLOPs in PF-days); values that look like a unit slip get a note."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from conftest import run_cli
from scalinglab.errors import ScalingLabError
from scalinglab.io import load_runs

#: model_size in parameters, flops in PF-days by mistake (1 PF-day = 8.64e19 FLOPs): tokens ~1e-12.
PF_DAYS = pd.DataFrame({"model_size": [1.25e8, 3.5e8, 7.6e8, 1.3e9],
                        "flops": [1.7e-3, 4.9e-3, 1.1e-2, 2.1e-2],
                        "val_loss": [3.3, 3.0, 2.8, 2.7]})


def _error(df: pd.DataFrame, **kw) -> str:
    with pytest.raises(ScalingLabError) as info:
        load_runs(df, **kw)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_flops_in_pf_days_derive_tokens_below_one_and_fail():
    msg = _error(PF_DAYS)
    assert "row 1" in msg and "derived tokens = flops / (6 * params)" in msg and "below one token" in msg
    assert "'flops'" in msg and "PF-days" in msg and "8.64e19" in msg and "'model_size' (params)" in msg


def test_derived_params_below_one_fail_and_name_an_aliased_column():
    df = pd.DataFrame({"tokens": [1e9, 2e9, 4e9], "compute": [1e-3, 2e-3, 4e-3], "loss": [3.0, 2.9, 2.8]})
    msg = _error(df)
    assert "derived params = flops / (6 * tokens)" in msg and "below one parameter" in msg
    assert "'compute' (flops)" in msg and "PF-days" in msg and "3 of 3 rows" in msg


def test_pf_days_table_through_the_cli_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    path = tmp_path / "runs.csv"
    PF_DAYS.to_csv(path, index=False)
    code, stdout, err = run_cli(["fit", path], monkeypatch, capsys)
    assert code == 2 and stdout == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "'flops'" in lines[0] and "PF-days" in lines[0]


def test_counts_that_look_like_millions_or_billions_are_noted():
    df = pd.DataFrame({"params": [125, 350, 760, 1300], "tokens": [2.5e9, 7e9, 1.5e10, 2.6e10],
                       "loss": [3.3, 3.0, 2.8, 2.7]})
    runs = load_runs(df)
    note = next(n for n in runs.notes if "every parameter count" in n)
    assert "below 1e5" in note and "max 1300" in note and "millions or billions" in note
    assert not any("every token count" in n for n in runs.notes)
    small_tokens = load_runs(df.assign(params=[1.25e8, 3.5e8, 7.6e8, 1.3e9], tokens=[2.5, 7, 15, 26]))
    assert any("every token count" in n for n in small_tokens.notes)
    # one real count at or above 1e5 is enough: no note (tiny lab models next to larger ones)
    assert not any("every parameter count" in n for n in load_runs(df.assign(params=[1e4, 3e4, 1e5, 3e5])).notes)


def test_derived_counts_get_no_size_note():
    runs = load_runs(pd.DataFrame({"params": [1e8, 2e8], "flops": [6e8 * 50, 1.2e9 * 50], "loss": [3.0, 2.9]}))
    assert runs.column("tokens").max() < 1e5 and not any("every token count" in n for n in runs.notes)


def test_loss_notes_perplexity_bits_and_too_small():
    base = pd.DataFrame({"params": [1e8, 2e8, 4e8], "tokens": [2e9, 4e9, 8e9]})
    ppl = load_runs(base.assign(loss=[30.0, 25.0, 21.0]))
    assert any("losses above 20" in n and "perplexity" in n for n in ppl.notes)
    bits = load_runs(base.assign(bits_per_token=[4.3, 4.1, 3.9]), columns={"loss": "bits_per_token"})
    assert any("'bits_per_token' (loss)" in n and "bits" in n and "0.6931" in n for n in bits.notes)
    tiny = load_runs(base.assign(loss=[5e-4, 4e-4, 3e-4]))
    assert any("losses below 0.001 nats/token" in n for n in tiny.notes)
    fine = load_runs(base.assign(loss=[3.0, 2.9, 2.8]))
    assert not any("loss" in n for n in fine.notes)


def test_fit_summary_prints_the_notes():
    df = pd.DataFrame({"params": [125, 350, 760, 1300, 2700, 6700],
                       "tokens": [2.5e9, 7e9, 1.5e10, 2.6e10, 5e10, 1e11],
                       "loss": [3.3, 3.0, 2.8, 2.7, 2.6, 2.5]})
    res = sl.fit(df, law="power_floor:params")
    assert any("every parameter count" in n for n in res.notes)
    assert "every parameter count" in res.summary()


def test_run_stores_count_their_own_parameters(tmp_path):
    """A lab run store's tiny models are real counts: no millions-or-billions note."""
    from scalinglab.run_checks import unit_notes as _check_units

    notes: list[str] = []
    df = pd.DataFrame({"params": np.array([1e3, 2e3]), "tokens": [1e4, 2e4], "loss": [3.0, 2.9]})
    _check_units(df, {"params": "params", "tokens": "tokens", "loss": "loss"}, notes, counts=False)
    assert notes == []


def test_runs_warnings_repeat_the_unit_notes_and_the_report_warns(tmp_path):
    from scalinglab.report.html import make_report

    df = sl.simulate_isoflop("hoffmann2022", per_budget=5, noise=0.01, seed=0).drop(columns="budget")
    df["loss"] = np.exp(df["loss"])  # perplexities by mistake
    runs = load_runs(df)
    assert runs.warnings and all(w in runs.notes for w in runs.warnings)
    assert not load_runs(df.assign(loss=np.log(df["loss"]))).warnings
    path = tmp_path / "ppl.csv"
    df.to_csv(path, index=False)
    r = make_report(path, law="power_floor:flops", bootstrap=0, budgets=(1e22,))
    assert any(w.startswith("losses above 20") for w in r.warnings)
