"""The lab check of the schedule law (docs/analysis.md, "Lab check"): three 600-step runs of one
115k-parameter model on byte-level Shakespeare (constant, cosine, WSD with cooldown 0.2), both forms
fitted on the constant and cosine runs and scored on the WSD run. Slow: about 20 s a run on an idle
core, several minutes on a loaded machine, and the multi-power fit takes a minute or more."""

from __future__ import annotations

import pandas as pd
import pytest

from scalinglab.analysis.schedule_check import holdout_check
from scalinglab.lab.corpus import load_corpus
from scalinglab.lab.train import RunConfig, train_run
from scalinglab.plan.architecture import Architecture

ARCH = Architecture(name="d64", n_layer=2, d_model=64, n_heads=4, d_ff=256, vocab_size=256, seq_len=64,
                    position="rotary", norm="layernorm")


@pytest.mark.slow
def test_lab_check_of_both_forms_gives_the_documented_errors() -> None:
    data, rows = load_corpus("shakespeare"), []
    for schedule in ("constant", "cosine", "wsd"):
        cfg = RunConfig(arch=ARCH, tokens=600 * 16 * 64, batch_size=16, schedule=schedule, cooldown_fraction=0.2,
                        eval_every_tokens=20 * 16 * 64)
        rows += [{"run": schedule, "step": p.step, "loss": p.val_loss, "lr": p.lr} for p in train_run(cfg, data).points]
    table = pd.DataFrame(rows)
    final = table.groupby("run")["loss"].last().to_dict()
    # measured: 2.024, 1.989, 1.965 (2026-12-05) and 2.058, 2.017, 2.005 (2026-12-06, another CPU: 600 steps
    # amplify the kernels' rounding); what holds on both: annealing lowers the loss, the cooldown the most
    assert final["wsd"] < final["cosine"] < final["constant"] and 1.9 < final["wsd"] < 2.15
    errors = {}
    for key, kw in {"tissue": {}, "tissue 0.99": {"decay": 0.99}, "multi-power": {"form": "multi-power"}}.items():
        (row,) = holdout_check(table, ["constant", "cosine"], bootstrap=200, **kw)["runs"]
        errors[key] = row["error"]
        if key != "tissue":
            assert row["low"] <= row["observed_final"] <= row["high"], key
    # docs/analysis.md: tissue +2.37% / +2.85%, lambda 0.99 +0.77% / +1.14%, multi-power -1.61% / +1.64%
    # (the two machines): the published lambda under-predicts the short cooldown's gain by 1-4%, a lambda
    # that forgets faster halves the error, and the multi-power form stays within 3%
    assert 0.01 < errors["tissue"] < 0.04
    assert abs(errors["tissue 0.99"]) < 0.6 * errors["tissue"]
    assert abs(errors["multi-power"]) < 0.03
