"""Tests for scalinglab.io: reading, aliasing, validating and completing tables of runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.io import Runs, load_runs


def _table(n: int = 5) -> pd.DataFrame:
    """n valid runs with all canonical columns plus two extra columns."""
    params = np.array([1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9, 6.4e9, 1.28e10])[:n]
    tokens = 20.0 * params
    return pd.DataFrame({
        "params": params, "tokens": tokens, "flops": 6.0 * params * tokens,
        "loss": np.linspace(4.0, 2.5, n), "note": [f"run-{i}" for i in range(n)],
        "lr": np.linspace(1e-3, 5e-4, n),
    })


def _csv(tmp_path: Path, text: str, name: str = "runs.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(source: object, **kwargs: object) -> str:
    """The one-line ScalingLabError message load_runs raises for source."""
    with pytest.raises(ScalingLabError) as info:
        load_runs(source, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- aliases


@pytest.mark.parametrize(("spelling", "canon"), [
    ("N", "params"), ("n", "params"), ("model_size", "params"), ("Model Size", "params"),
    ("n_params", "params"), ("NUM-PARAMS", "params"), ("Parameters", "params"),
    ("nparams", "params"), ("model_params", "params"),
    ("D", "tokens"), ("num_tokens", "tokens"), ("n_tokens", "tokens"),
    ("Training Tokens", "tokens"), ("train_tokens", "tokens"), ("data_size", "tokens"),
    ("Dataset Size", "tokens"),
    ("C", "flops"), ("Training FLOP", "flops"), ("training_flops", "flops"),
    ("compute", "flops"), ("train-flops", "flops"), ("FLOP", "flops"), ("FLOPs", "flops"),
    ("val_loss", "loss"), ("Validation Loss", "loss"), ("eval_loss", "loss"),
    ("final_loss", "loss"), ("test_loss", "loss"), ("TRAIN_LOSS", "loss"),
    ("steps", "step"), ("Iteration", "step"), ("iter", "step"), ("S", "step"),
])
def test_alias_is_read_as_canonical_and_noted(spelling: str, canon: str) -> None:
    df = _table(3).rename(columns={canon: spelling}) if canon != "step" else _table(3)
    if canon == "step":
        df[spelling] = [10, 20, 30]
    runs = load_runs(df)
    assert runs.has(canon) and spelling not in runs.data.columns
    expected = df[spelling].to_numpy(dtype=float)
    np.testing.assert_array_equal(runs.column(canon), expected)
    assert f"column '{spelling}' read as {canon}" in runs.notes


def test_exact_names_give_no_alias_notes() -> None:
    runs = load_runs(_table())
    assert runs.notes == []
    assert list(runs.data.columns) == ["params", "tokens", "flops", "loss", "note", "lr"]


def test_loss_priority_among_several_aliases() -> None:
    df = _table(3).drop(columns="loss")
    df["train_loss"], df["eval_loss"], df["val_loss"] = [3.0, 2.0, 1.0], [4.0, 3.0, 2.0], [5.0, 4.0, 3.0]
    runs = load_runs(df)
    np.testing.assert_array_equal(runs.column("loss"), [5.0, 4.0, 3.0])
    note = next(n for n in runs.notes if "read as loss" in n)
    assert note.startswith("column 'val_loss' read as loss")
    assert "'train_loss'" in note and "'eval_loss'" in note and "not used" in note
    # the unused aliases stay as ordinary columns
    np.testing.assert_array_equal(runs.data["train_loss"], [3.0, 2.0, 1.0])
    np.testing.assert_array_equal(runs.data["eval_loss"], [4.0, 3.0, 2.0])


def test_exact_name_beats_alias() -> None:
    df = _table(3)
    df["val_loss"] = [9.0, 8.0, 7.0]
    runs = load_runs(df)
    np.testing.assert_array_equal(runs.column("loss"), df["loss"])
    np.testing.assert_array_equal(runs.data["val_loss"], [9.0, 8.0, 7.0])
    assert runs.notes == []


def test_explicit_mapping_overrides_aliases() -> None:
    df = _table(3).rename(columns={"params": "N"})
    df["non-embedding size"] = [5e7, 1e8, 2e8]
    runs = load_runs(df, columns={"params": "non-embedding size"})
    np.testing.assert_array_equal(runs.column("params"), [5e7, 1e8, 2e8])
    assert "N" in runs.data.columns  # alias not used, kept as is
    assert "column 'non-embedding size' read as params (column mapping)" in runs.notes


def test_explicit_mapping_moves_clashing_exact_column_aside() -> None:
    df = _table(3)
    df["val_loss"] = [9.0, 8.0, 7.0]
    runs = load_runs(df, columns={"loss": "val_loss"})
    np.testing.assert_array_equal(runs.column("loss"), [9.0, 8.0, 7.0])
    np.testing.assert_array_equal(runs.data["loss_unused"], df["loss"])
    assert any("renamed to 'loss_unused'" in n for n in runs.notes)


def test_explicit_mapping_errors_name_the_problem() -> None:
    df = _table(3)
    msg = _error(df, columns={"parms": "params"})
    assert "<DataFrame>" in msg and "'parms'" in msg and "params, tokens" in msg
    msg = _error(df.rename(columns={"params": "Model Size"}), columns={"params": "model size"})
    assert "'model size'" in msg and "did you mean 'Model Size'" in msg and "'lr'" in msg
    msg = _error(df, columns={"params": "lr", "tokens": "lr"})
    assert "'lr'" in msg


def test_table_without_any_run_column_is_rejected() -> None:
    msg = _error(pd.DataFrame({"a": [1, 2], "b": [3, 4]}))
    assert "found none of the columns" in msg and "'a', 'b'" in msg


# --------------------------------------------------------------------------- derivation


def test_derives_flops_from_params_and_tokens() -> None:
    runs = load_runs(pd.DataFrame({"params": [1e9, 2e9], "tokens": [2e10, 1e10], "loss": [2.0, 2.1]}))
    np.testing.assert_allclose(runs.column("flops"), [1.2e20, 1.2e20], rtol=1e-12)
    assert "derived flops = 6 * params * tokens (C = 6ND) for 2 rows" in runs.notes


def test_derives_tokens_from_params_and_flops() -> None:
    runs = load_runs(pd.DataFrame({"N": [1e9], "C": [1.2e20], "loss": [2.0]}))
    np.testing.assert_allclose(runs.column("tokens"), [2e10], rtol=1e-12)
    assert "derived tokens = flops / (6 * params) (C = 6ND) for 1 rows" in runs.notes


def test_derives_params_from_tokens_and_flops() -> None:
    runs = load_runs(pd.DataFrame({"tokens": [2e10, 4e10, 1e9], "flops": [1.2e20, 2.4e20, 6e18],
                                   "loss": [2.0, 1.9, 3.0]}))
    np.testing.assert_allclose(runs.column("params"), [1e9, 1e9, 1e9], rtol=1e-12)
    assert "derived params = flops / (6 * tokens) (C = 6ND) for 3 rows" in runs.notes


def test_all_three_present_are_left_alone() -> None:
    df = _table(3)
    df.loc[0, "flops"] = 123.0  # inconsistent with 6ND on purpose
    runs = load_runs(df)
    assert runs.column("flops")[0] == 123.0
    assert not any(n.startswith("derived") for n in runs.notes)


def test_derived_overflow_leaves_the_column_out_with_a_note() -> None:
    runs = load_runs(pd.DataFrame({"params": [1e200], "tokens": [1e200], "loss": [2.0]}))
    assert not runs.has("flops") and runs.has("tokens")
    assert any("could not derive flops" in n and "row 1" in n for n in runs.notes)


def test_flops_far_from_six_nd_are_noted() -> None:
    df = pd.DataFrame({"params": [1e9, 2e9], "tokens": [2e10, 4e10], "flops": [1.39, 5.56], "loss": [3.0, 2.9]})
    runs = load_runs(df)  # flops given in PF-days by mistake
    assert any("x 6 * params * tokens" in n and "PF-days" in n for n in runs.notes)
    ok = load_runs(df.assign(flops=6 * df["params"] * df["tokens"] * 1.05))
    assert not any("6 * params * tokens (median)" in n for n in ok.notes)


# --------------------------------------------------------------------------- validation


def test_non_numeric_value_names_file_row_and_column(tmp_path: Path) -> None:
    rows = ["1e9,2e10,3.0"] * 8
    rows[6] = "abc,2e10,3.0"
    path = _csv(tmp_path, "params,tokens,loss\n" + "\n".join(rows) + "\n")
    msg = _error(path)
    assert msg == f"{path}: row 7, column 'params': value 'abc' is not a number"


def test_alias_column_is_named_as_in_the_file(tmp_path: Path) -> None:
    msg = _error(_csv(tmp_path, "Model Size,D,loss\n1e9,2e10,3\n\"1,000\",2e10,3\n"))
    assert "runs.csv: row 2, column 'Model Size' (params): value '1,000' is not a number" in msg


@pytest.mark.parametrize(("cell", "shown"), [("", "nan"), ("nan", "nan"), ("inf", "inf"),
                                             ("-inf", "-inf")])
def test_missing_or_infinite_loss(tmp_path: Path, cell: str, shown: str) -> None:
    path = _csv(tmp_path, f"params,tokens,loss\n1e9,2e10,3\n1e9,2e10,2.9\n1e9,2e10,{cell}\n")
    msg = _error(path)
    assert msg.endswith(f"runs.csv: row 3, column 'loss': missing or not finite ({shown})")


@pytest.mark.parametrize("column", ["params", "tokens", "flops", "loss", "step"])
@pytest.mark.parametrize("value", ["0", "-5"])
def test_non_positive_values_are_rejected(tmp_path: Path, column: str, value: str) -> None:
    if column == "step" and value == "0":
        pytest.skip("step 0 (a checkpoint at the start) is valid; see test_step_zero_is_allowed")
    header = ["params", "tokens", "flops", "loss", "step"]
    good = ["1e9", "2e10", "1.2e20", "3.0", "100"]
    bad = [value if h == column else g for h, g in zip(header, good)]
    text = ",".join(header) + "\n" + ",".join(good) + "\n" + ",".join(bad) + "\n"
    msg = _error(_csv(tmp_path, text))
    sign = ">=" if column == "step" else ">"
    assert f"runs.csv: row 2, column '{column}': must be {sign} 0, got {value}" in msg


def test_step_zero_is_allowed(tmp_path: Path) -> None:
    runs = load_runs(_csv(tmp_path, "params,tokens,loss,step\n1e9,2e10,3.0,0\n1e9,4e10,2.9,100\n"))
    assert list(runs.column("step")) == [0.0, 100.0]


def test_first_bad_cell_in_row_order_is_reported(tmp_path: Path) -> None:
    text = "params,tokens,loss\n1e9,2e10,3\n1e9,2e10,x\n-1,2e10,3\n1e9,y,3\n"
    assert "row 2, column 'loss'" in _error(_csv(tmp_path, text))
    text = "params,tokens,loss\n1e9,2e10,3\n1e9,bad,bad\n"
    assert "row 2, column 'tokens'" in _error(_csv(tmp_path, text))


def test_boolean_and_json_null_cells(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    path.write_text(json.dumps([{"N": 1e9, "D": 2e10, "loss": 3.0}, {"N": 1e9, "D": None, "loss": 2.0}]))
    assert "runs.json: row 2, column 'D' (tokens): missing or not finite" in _error(path)
    msg = _error(pd.DataFrame({"N": [1.0, 2.0], "D": [1.0, 2.0], "loss": [True, False]}))
    assert "row 1, column 'loss': value 'True' is not a number" in msg


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "runs.csv: the file is empty"),
    (b"\n  \n\n", "runs.csv: the file is empty"),
    (b"params,tokens,loss\n", "runs.csv: has a header but no rows"),
    (bytes(range(256)) * 8, "runs.csv: not a readable table (CSV expected): binary data"),
    (b"a,b\n1,2\n1,2,3\n", "runs.csv: not a readable table (CSV expected): Error tokenizing"),
    (b"\xff\xfeparams,loss\n1,2\n", "runs.csv: not a readable table (CSV expected): not UTF-8"),
])
def test_unreadable_or_empty_csv(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "runs.csv"
    path.write_bytes(content)
    assert expected in _error(path)


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("runs.json", "3", "runs.json: not a readable table (JSON array of records expected): got a JSON number"),
    ("runs.json", "[1, 2]", "record 1 is a JSON number, not an object"),
    ("runs.json", "[]", "runs.json: the file is empty"),
    ("runs.json", "{\"a\": ", "runs.json: not a readable table (JSON array of records expected)"),
    ("runs.jsonl", "{\"N\": 1}\n{oops\n", "runs.jsonl: not a readable table (JSON lines expected): line 2"),
    ("runs.jsonl", "{\"N\": 1}\n[1]\n", "line 2 is a JSON array, not an object"),
    ("runs.parquet", "not parquet at all", "runs.parquet: not a readable table (Parquet expected)"),
])
def test_unreadable_json_and_parquet(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert expected in _error(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert _error(tmp_path / "runs.csv") == f"{tmp_path / 'runs.csv'}: no such file"
    assert _error(str(tmp_path)) == f"{tmp_path}: is a directory, not a table file"


def test_empty_dataframe_and_bad_source_type() -> None:
    assert "<DataFrame>: the table is empty" in _error(pd.DataFrame())
    assert "<DataFrame>: has a header but no rows" in _error(_table().iloc[:0])
    assert "expected a file path, a DataFrame or Runs" in _error(42)


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize("name", ["runs.csv", "runs.tsv", "runs.parquet", "runs.pq", "runs.jsonl",
                                  "runs.ndjson", "runs.json", "runs.txt"])
def test_round_trip_through_each_format(tmp_path: Path, name: str) -> None:
    df = _table(5).rename(columns={"params": "Model Size", "loss": "val_loss"})
    path = tmp_path / name
    if name.endswith((".parquet", ".pq")):
        df.to_parquet(path)
    elif name.endswith((".jsonl", ".ndjson")):
        df.to_json(path, orient="records", lines=True)
    elif name.endswith(".json"):
        df.to_json(path, orient="records")
    else:
        df.to_csv(path, index=False, sep="\t" if name.endswith(".tsv") else ",")
    runs = load_runs(path)
    assert runs.source == str(path) and len(runs) == 5
    assert list(runs.data.index) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(runs.column("params"), df["Model Size"], rtol=1e-12)
    np.testing.assert_allclose(runs.column("loss"), df["val_loss"], rtol=1e-12)
    np.testing.assert_allclose(runs.column("flops"), df["flops"], rtol=1e-12)
    assert list(runs.data["note"]) == list(df["note"])
    np.testing.assert_allclose(runs.data["lr"].to_numpy(dtype=float), df["lr"], rtol=1e-12)


def test_json_lines_in_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    path.write_text('{"N": 1e9, "D": 2e10, "loss": 3}\n{"N": 2e9, "D": 2e10, "loss": 2.5}\n')
    np.testing.assert_allclose(load_runs(path).column("flops"), [1.2e20, 2.4e20])


def test_dataframe_input_is_not_modified_and_renumbered() -> None:
    df = _table(4).rename(columns={"params": "N"})
    df.index = [10, 20, 30, 40]
    before = df.copy()
    runs = load_runs(df)
    pd.testing.assert_frame_equal(df, before)
    assert runs.source == "<DataFrame>" and list(runs.data.index) == [1, 2, 3, 4]
    assert runs.column("params").dtype == np.float64


def test_runs_input_returned_or_reprocessed() -> None:
    runs = load_runs(_table(5))
    assert load_runs(runs) is runs
    again = load_runs(runs, drop_highest_loss=1)
    assert len(again) == 4 and list(again.data.index) == [2, 3, 4, 5]
    thrice = load_runs(again, drop_highest_loss=1)
    assert list(thrice.data.index) == [3, 4, 5]
    assert len(runs) == 5  # the original is untouched


def test_other_columns_are_kept_unchanged() -> None:
    df = _table(3)
    df["hex_color"] = ["#faebdd", "#f8d1b8", "#f47a54"]
    df["flag"] = [True, False, True]
    runs = load_runs(df)
    assert list(runs.data["hex_color"]) == ["#faebdd", "#f8d1b8", "#f47a54"]
    assert list(runs.data["flag"]) == [True, False, True]
    assert list(runs.data["note"]) == ["run-0", "run-1", "run-2"]


def test_group_is_kept_as_text(tmp_path: Path) -> None:
    path = _csv(tmp_path, "N,D,loss,Group\n1e9,2e10,3,007\n2e9,2e10,2.8,12\n4e9,2e10,2.6,007\n")
    runs = load_runs(path)
    assert list(runs.data["group"]) == ["007", "12", "007"]
    assert all(isinstance(g, str) for g in runs.data["group"])
    assert "column 'Group' read as group" in runs.notes
    frame = load_runs(pd.DataFrame({"N": [1.0, 2.0], "D": [1.0, 2.0], "loss": [1.0, 2.0], "groups": [1, 2]}))
    assert list(frame.data["group"]) == ["1", "2"]
    msg = _error(pd.DataFrame({"N": [1.0, 2.0], "D": [1.0, 2.0], "loss": [1.0, 2.0], "group": ["a", None]}))
    assert "row 2, column 'group': missing group label" in msg


# --------------------------------------------------------------------------- Runs methods


def test_runs_require_column_and_has() -> None:
    runs = Runs(data=_table(3)[["params", "loss"]], source="runs.csv")
    runs.require(["params", "loss"])
    with pytest.raises(ScalingLabError) as info:
        runs.require(["params", "tokens"], why="law chinchilla")
    assert str(info.value).startswith("runs.csv: missing required column 'tokens' (needed by law "
                                      "chinchilla); columns are: 'params', 'loss'; map one with --col tokens=")
    assert "C = 6ND derives the third" in str(info.value)
    with pytest.raises(ScalingLabError, match="runs.csv: missing required columns 'tokens', 'step'"):
        runs.require(["tokens", "step"])
    with pytest.raises(ScalingLabError, match="runs.csv: missing required column 'flops'"):
        runs.column("flops")
    assert runs.has("loss") and not runs.has("flops") and len(runs) == 3


# --------------------------------------------------------------------------- drop_highest_loss


def _losses(losses: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"N": [1e9] * len(losses), "D": [2e10] * len(losses), "loss": losses})


def test_drop_highest_loss_drops_k_rows_and_notes_them() -> None:
    runs = load_runs(_losses([1.0, 5.0, 3.0, 4.0, 2.0]), drop_highest_loss=2)
    assert list(runs.data.index) == [1, 3, 5]
    np.testing.assert_array_equal(runs.column("loss"), [1.0, 3.0, 2.0])
    assert "dropped the 2 highest-loss rows (rows 2, 4)" in runs.notes
    one = load_runs(_losses([1.0, 5.0, 3.0]), drop_highest_loss=1)
    assert "dropped the highest-loss row (row 2)" in one.notes


def test_drop_highest_loss_drops_ties_at_the_threshold() -> None:
    runs = load_runs(_losses([1.0, 5.0, 4.0, 3.0, 4.0, 2.0]), drop_highest_loss=2)
    assert list(runs.data.index) == [1, 4, 6]
    note = next(n for n in runs.notes if n.startswith("dropped"))
    assert note == "dropped the 3 highest-loss rows (rows 2, 3, 5; 2 requested, ties at loss 4 dropped too)"


def test_drop_highest_loss_lists_at_most_ten_rows() -> None:
    runs = load_runs(_losses([float(i) for i in range(1, 21)]), drop_highest_loss=12)
    assert len(runs) == 8
    note = next(n for n in runs.notes if n.startswith("dropped"))
    assert note == "dropped the 12 highest-loss rows (rows 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, and 2 more)"


def test_drop_highest_loss_errors() -> None:
    df = _losses([1.0, 2.0, 3.0])
    assert "drop_highest_loss=3 must be between 0 and 2 (the table has 3 rows)" in _error(df, drop_highest_loss=3)
    assert "drop_highest_loss=-1" in _error(df, drop_highest_loss=-1)
    assert "would drop every row" in _error(_losses([2.0, 2.0, 2.0]), drop_highest_loss=1)
    msg = _error(df.drop(columns="loss"), drop_highest_loss=1)
    assert "missing required column 'loss' (needed by drop_highest_loss)" in msg


# --------------------------------------------------------------------------- real data


def test_epoch_chinchilla_svg_data(shared_data: Path) -> None:
    path = shared_data / "epoch_chinchilla" / "svg_extracted_data.csv"
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    runs = load_runs(path)
    assert len(runs) == 245
    assert all(runs.has(c) for c in ("params", "tokens", "flops", "loss"))
    assert "column 'Model Size' read as params" in runs.notes
    assert "column 'Training FLOP' read as flops" in runs.notes
    assert "derived tokens = flops / (6 * params) (C = 6ND) for 245 rows" in runs.notes
    np.testing.assert_allclose(6 * runs.column("params") * runs.column("tokens"), runs.column("flops"),
                               rtol=1e-12)
    assert {"x", "y", "color", "hex_color"} <= set(runs.data.columns)
    dropped = load_runs(path, drop_highest_loss=5)
    assert len(dropped) == 240
    assert dropped.column("loss").max() < np.sort(runs.column("loss"))[-5]


def test_budget_and_run_columns(tmp_path: Path) -> None:
    text = "N,D,loss,FLOP budget,run id\n1e9,2e10,3.0,1.2e20,a\n2e9,1e10,2.9,1.2e20,b\n"
    runs = load_runs(_csv(tmp_path, text), columns={"budget": "FLOP budget", "run": "run id"})
    assert list(runs.column("budget")) == [1.2e20, 1.2e20]
    assert list(runs.data["run"]) == ["a", "b"]
    bad = "params,tokens,loss,budget\n1e9,2e10,3.0,1e20\n2e9,1e10,2.9,nan\n"
    assert "row 2, column 'budget': missing or not finite" in _error(_csv(tmp_path, bad))
