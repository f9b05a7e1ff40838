"""sl.datasets: the registry of public data sets, checksums, loading, downloading, and the CLI.

Data are read from the shared folder (``shared_data``, skipped when absent) or from tmp folders;
downloads are served by a local http.server on 127.0.0.1, never from the internet.
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import socket
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalinglab as sl
from conftest import run_cli
from scalinglab.datasets import REGISTRY, sha256_of
from scalinglab.errors import ScalingLabError

EPOCH_SHA = "193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30"
ALL_TABLES = [(d.name, t.name) for d in REGISTRY.values() for t in d.tables]


@pytest.fixture
def data(shared_data, monkeypatch) -> Path:
    """SCALINGLAB_DATA -> the shared data folder."""
    monkeypatch.setenv("SCALINGLAB_DATA", str(shared_data))
    return shared_data


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    """SCALINGLAB_DATA -> an empty folder; no proxy for 127.0.0.1."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("SCALINGLAB_DATA", str(folder))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return folder


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over tmp_path/'served'; yields (folder, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _point_epoch_at(monkeypatch, url: str) -> None:
    """Make the registry's epoch_chinchilla table download from ``url``."""
    ds = REGISTRY["epoch_chinchilla"]
    table = dataclasses.replace(ds.tables[0], url=url)
    monkeypatch.setitem(REGISTRY, "epoch_chinchilla", dataclasses.replace(ds, tables=(table,)))


# ------------------------------------------------------------------------------------- the registry

def test_registry_covers_every_shared_folder_and_file(shared_data):
    folders = {p.name for p in shared_data.iterdir() if p.is_dir()}
    assert folders == set(REGISTRY)
    for ds in REGISTRY.values():
        files = {p.name for p in (shared_data / ds.name).iterdir() if p.suffix in (".csv", ".json")}
        assert files == {t.file for t in ds.tables}, ds.name
        assert ds.table() is not None and ds.table().name == ds.default
        assert len({t.name for t in ds.tables}) == len(ds.tables)


@pytest.mark.parametrize(("name", "table"), ALL_TABLES)
def test_every_registered_file_matches_its_checksum(data, name, table):
    t = sl.datasets.get(name, table)[1]
    file = data / name / t.file
    assert file.stat().st_size == t.size
    assert sha256_of(file) == t.sha256
    assert sl.datasets.path(name, table) == file


def test_registry_records_the_readme_sources():
    epoch = REGISTRY["epoch_chinchilla"]
    assert epoch.commit == "92258837425e1b5f2851d624287f0120583a3d0e"
    assert epoch.raw_url(epoch.table()) == ("https://raw.githubusercontent.com/epoch-research/analyzing-chinchilla/"
                                           "92258837425e1b5f2851d624287f0120583a3d0e/data/svg_extracted_data.csv")
    colpret = REGISTRY["choshen2024_colpret"]
    assert colpret.raw_url(colpret.table("llms_0-shot")).endswith("/aggregated_eval/LLMs%20-%200-shot.csv")
    assert colpret.raw_url(colpret.table("gpt3__extracted")).endswith(
        "/16f23bbe054277ddc4afd07a972dd7cfbe3f48c3/raw_data/gpt3/extracted.csv")
    # derived files (flattened by hand, converted from xlsx) have no public file: no URL, "unknown" path
    porian = REGISTRY["porian2024"]
    assert porian.raw_url(porian.table()) is None
    assert "path unknown" in porian.source(porian.table())
    assert colpret.raw_url(colpret.table("gpt3__gpt3_metadata")) is None
    licences = {d.name: d.licence for d in REGISTRY.values()}
    assert licences["porian2024"] == "MIT" and licences["pythia"] == "Apache-2.0"
    assert licences["epoch_chinchilla"].startswith("none stated")
    for ds in REGISTRY.values():
        assert ds.citation.year >= 2022 and ds.citation.title and ds.citation.venue
        for t in ds.tables:
            assert len(t.sha256) == 64 and (t.source_path or t.derived_from)
            if t.is_runs:
                assert {"params", "loss"} <= set(t.columns) and t.params_convention


def test_lookup_errors_name_the_known_choices():
    with pytest.raises(ScalingLabError, match="unknown data set 'nope'; known data sets: epoch_chinchilla, porian2024"):
        sl.datasets.get("nope")
    with pytest.raises(ScalingLabError, match="has no table 'points'; its tables: isoflop_points, compute_optimal"):
        sl.datasets.get("porian2024", "points")
    with pytest.raises(ScalingLabError, match="names table 'isoflop_points' but table='published_fits'"):
        sl.datasets.get("porian2024/isoflop_points", "published_fits")
    assert sl.datasets.get("porian2024/published_fits")[1].name == "published_fits"
    assert sl.datasets.get("porian2024", "published_fits.csv")[1].name == "published_fits"


# ------------------------------------------------------------------------------------------ loading

@pytest.mark.parametrize(("name", "table"), ALL_TABLES)
def test_load_gives_the_registered_rows(data, name, table):
    t = sl.datasets.get(name, table)[1]
    df = sl.datasets.load(name, table)
    if t.format == "json":
        assert isinstance(df, dict) and len(df["Hoffmann Form"]["params"]) == 5
    else:
        assert isinstance(df, pd.DataFrame) and len(df) == t.rows
        for canon, src in (t.columns or {}).items():  # every mapped source column exists
            assert set(src if isinstance(src, tuple) else [src]) <= set(df.columns), (canon, src)


def test_load_columns(data):
    epoch = sl.datasets.load("epoch_chinchilla")
    assert list(epoch.columns) == ["x", "y", "color", "Model Size", "Training FLOP", "hex_color", "loss"]
    iso = sl.datasets.load("porian2024", table="isoflop_points")
    assert {"flops_budget", "n_params", "tokens", "loss", "label", "param_count"} <= set(iso.columns)
    assert iso["label"].nunique() == 15
    llms = sl.datasets.load("choshen2024_colpret/llms_0-shot")  # two header rows, flattened
    assert list(llms.columns[:8]) == ["Model", "Params", "Effective Params", "Corpus", "Inference time", "Tokenizer",
                                      "wikitext ppl", "wikitext bpb"]
    assert llms.loc[llms["Model"] == "GPT2", "wikitext ppl"].item() == pytest.approx(26.7466)


def test_load_runs_epoch_chinchilla_reproduces_besiroglu2024(data):
    runs = sl.datasets.load_runs("epoch_chinchilla")
    assert len(runs) == 245 and runs.source == "epoch_chinchilla/svg_extracted_data"
    assert all(runs.has(c) for c in ("params", "tokens", "flops", "loss"))
    raw = sl.datasets.load("epoch_chinchilla")
    np.testing.assert_array_equal(runs.column("params"), raw["Model Size"].to_numpy(float))
    np.testing.assert_allclose(runs.column("tokens"), raw["Training FLOP"] / (6 * raw["Model Size"]), rtol=1e-12)
    assert "with embeddings" in runs.notes[0]
    kept = sl.datasets.load_runs("epoch_chinchilla", drop_highest_loss=5)  # Besiroglu et al.'s 240 points
    assert len(kept) == 240
    res = sl.fit(kept, "chinchilla")
    ref = sl.published["besiroglu2024"].params  # Table 1: E 1.8172, alpha 0.3478, beta 0.3658
    assert res.converged
    assert res.params["E"] == pytest.approx(ref["E"], abs=0.01)
    assert res.params["alpha"] == pytest.approx(ref["alpha"], abs=0.005)
    assert res.params["beta"] == pytest.approx(ref["beta"], abs=0.005)


def test_load_runs_porian_maps_budget_and_configuration_groups(data):
    runs = sl.datasets.load_runs("porian2024")
    raw = sl.datasets.load("porian2024")
    assert len(runs) == 1745
    np.testing.assert_array_equal(runs.column("budget"), raw["flops_budget"].to_numpy(float))
    np.testing.assert_array_equal(runs.column("flops"), runs.column("budget"))
    np.testing.assert_allclose(runs.column("flops"), 6 * runs.column("params") * runs.column("tokens"), rtol=1e-9)
    one = sl.datasets.load_runs("porian2024", group="Cosine decay")
    assert len(one) == int((raw["label"] == "Cosine decay").sum()) > 50
    assert set(one.data["group"]) == {"Cosine decay"} and "kept group 'Cosine decay'" in one.notes[-1]
    with pytest.raises(ScalingLabError, match="has no group 'nope'; its groups: Correcting warmup"):
        sl.datasets.load_runs("porian2024", group="nope")


def test_load_runs_other_tables(data):
    li = sl.datasets.load_runs("li2025_misfitting")
    raw = sl.datasets.load("li2025_misfitting")
    assert len(li) == 261
    np.testing.assert_array_equal(li.column("params"), raw["N"].to_numpy(float))  # with embeddings
    assert (li.column("params") > li.data["N_no_emb"].to_numpy(float)).all()
    curves = sl.datasets.load_runs("li2025_misfitting", table="scaling_results")
    assert len(curves) == 4852 and curves.has("step")
    gadre = sl.datasets.load_runs("gadre2024_overtraining")
    assert len(gadre) == 832 and gadre.data["group"].nunique() == 24  # 3 training sets x 8 val sets
    c4 = sl.datasets.load_runs("gadre2024_overtraining", group="c4_original/c4_val")
    assert len(c4) == 34
    contour = sl.datasets.load_runs("choshen2024_colpret")  # datablations contour, data-constrained
    assert len(contour) == 229
    # unique tokens = tokens seen / epochs (the file's tokens_per_epoch is a constant 1.5e9 that does not
    # match its rows): the first run saw 4e9 tokens in 1 epoch, the second 8e9 in 2
    raw = sl.datasets.load("choshen2024_colpret", table="datablations_contour_losses")
    assert np.allclose(contour.data["unique_tokens"].to_numpy(), (raw["token_num"] / raw["epochs"]).to_numpy())
    assert contour.data["unique_tokens"].iloc[:2].tolist() == [4e9, 4e9]
    over = sl.datasets.load_runs("choshen2024_colpret", "overtrain__overtrain_downstreams")
    assert over.data["run"].is_unique and set(over.data["group"]) == {"c4_original", "rpj", "rw_original"}


def test_load_runs_refuses_tables_that_are_not_runs(data):
    with pytest.raises(ScalingLabError, match="pythia/pythia_evals is not a table of runs; read it with load"):
        sl.datasets.load_runs("pythia")
    with pytest.raises(ScalingLabError, match="has no group column"):
        sl.datasets.load_runs("epoch_chinchilla", group="x")


def test_list_datasets(data):
    df = sl.datasets.list_datasets()
    assert list(df.columns) == ["name", "table", "default", "runs", "rows", "description", "citation", "licence",
                                "source", "local"]
    assert len(df) == len(ALL_TABLES) and df["local"].all()
    epoch = df[df["name"] == "epoch_chinchilla"].iloc[0]
    assert epoch["rows"] == 245 and epoch["default"] and epoch["runs"] and "Besiroglu" in epoch["citation"]
    assert df.groupby("name")["default"].sum().eq(1).all()


# --------------------------------------------------------------------------------- locating, errors

def test_data_dir_env_then_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_DATA", str(tmp_path / "mine"))
    assert sl.datasets.data_dir() == tmp_path / "mine"
    monkeypatch.delenv("SCALINGLAB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert sl.datasets.data_dir() == tmp_path / "xdg" / "scalinglab" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert sl.datasets.data_dir() == tmp_path / "home" / ".cache" / "scalinglab" / "data"


def test_local_checksum_mismatch_names_file_and_digests(empty_cache):
    file = empty_cache / "epoch_chinchilla" / "svg_extracted_data.csv"
    file.parent.mkdir(parents=True)
    file.write_text("x,y\n1,2\n")
    actual = sha256_of(file)
    with pytest.raises(ScalingLabError) as err:
        sl.datasets.path("epoch_chinchilla")
    msg = str(err.value)
    assert f"checksum mismatch for {file}: expected sha256 {EPOCH_SHA}, got {actual}" in msg


def test_missing_file_without_download_or_source(empty_cache):
    with pytest.raises(ScalingLabError, match="downloading is off") as err:
        sl.datasets.path("epoch_chinchilla", download=False)
    assert f"put a copy at {empty_cache / 'epoch_chinchilla' / 'svg_extracted_data.csv'}" in str(err.value)
    with pytest.raises(ScalingLabError, match="has no public file to download .*summary_df"):
        sl.datasets.load_runs("porian2024")
    assert not empty_cache.exists() or not any(empty_cache.rglob("*.csv"))


# -------------------------------------------------------------------------------------- downloading

def test_download_into_empty_cache_verifies_checksum(data, empty_cache, server, monkeypatch):
    root, base = server
    (root / "svg.csv").write_bytes((data / "epoch_chinchilla" / "svg_extracted_data.csv").read_bytes())
    _point_epoch_at(monkeypatch, f"{base}/svg.csv")
    got = sl.datasets.path("epoch_chinchilla")
    assert got == empty_cache / "epoch_chinchilla" / "svg_extracted_data.csv"
    assert sha256_of(got) == EPOCH_SHA
    assert [p.name for p in got.parent.iterdir()] == ["svg_extracted_data.csv"]  # no temporary file left
    assert len(sl.datasets.load_runs("epoch_chinchilla")) == 245
    (root / "svg.csv").unlink()  # now local: no second download
    assert sl.datasets.path("epoch_chinchilla") == got


def test_corrupted_download_leaves_nothing(empty_cache, server, monkeypatch):
    root, base = server
    (root / "svg.csv").write_bytes(b"x,y\n1,2\n")
    _point_epoch_at(monkeypatch, f"{base}/svg.csv")
    with pytest.raises(ScalingLabError) as err:
        sl.datasets.path("epoch_chinchilla")
    msg = str(err.value)
    assert f"download from {base}/svg.csv failed (checksum mismatch: expected sha256 {EPOCH_SHA}, got" in msg
    assert "nothing was saved" in msg
    assert not empty_cache.exists() or not any(p.is_file() for p in empty_cache.rglob("*"))


def test_http_error_and_unreachable_host_are_clear(empty_cache, server, monkeypatch):
    _, base = server
    _point_epoch_at(monkeypatch, f"{base}/missing.csv")
    with pytest.raises(ScalingLabError, match=r"download from .*/missing.csv failed \(HTTP 404"):
        sl.datasets.path("epoch_chinchilla")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _point_epoch_at(monkeypatch, f"http://127.0.0.1:{port}/svg.csv")
    with pytest.raises(ScalingLabError) as err:
        sl.datasets.path("epoch_chinchilla")
    msg = str(err.value)
    assert "epoch_chinchilla/svg_extracted_data.csv is not in" in msg and "(SCALINGLAB_DATA)" in msg
    assert f"download from http://127.0.0.1:{port}/svg.csv failed (" in msg and "refused" in msg.lower()
    assert "put a copy at" in msg
    assert not empty_cache.exists() or not any(p.is_file() for p in empty_cache.rglob("*"))


# ----------------------------------------------------------------------------------------------- CLI

def test_cli_list_json_keys(data, monkeypatch, capsys):
    code, out, _ = run_cli(["datasets", "list", "--json"], monkeypatch, capsys)
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == len(ALL_TABLES)
    assert {"name", "table", "description", "citation", "licence", "source", "local"} <= set(rows[0])
    assert all(r["local"] is True for r in rows)
    derived = next(r for r in rows if r["name"] == "porian2024" and r["table"] == "isoflop_points")
    assert "path unknown" in derived["source"]
    code, out, _ = run_cli(["datasets", "list"], monkeypatch, capsys)
    assert code == 0 and "* svg_extracted_data" in out and "245 rows" in out


def test_cli_path(data, monkeypatch, capsys):
    code, out, _ = run_cli(["datasets", "path", "porian2024", "--table", "published_fits", "--json"],
                           monkeypatch, capsys)
    assert code == 0
    got = json.loads(out)
    assert got == {"name": "porian2024", "table": "published_fits", "path": str(data / "porian2024" /
                   "published_fits.csv"), "sha256": sha256_of(data / "porian2024" / "published_fits.csv")}
    code, out, _ = run_cli(["datasets", "path", "epoch_chinchilla"], monkeypatch, capsys)
    assert code == 0 and out.strip() == str(data / "epoch_chinchilla" / "svg_extracted_data.csv")


def test_cli_unknown_name_exits_2_listing_names(monkeypatch, capsys):
    code, out, err = run_cli(["datasets", "path", "nope"], monkeypatch, capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: datasets: unknown data set 'nope'; known data sets:")
    assert all(name in err for name in REGISTRY)


def test_cli_missing_file_no_download_exits_2(empty_cache, monkeypatch, capsys):
    code, _, err = run_cli(["datasets", "path", "pythia", "--no-download"], monkeypatch, capsys)
    assert code == 2 and "downloading is off" in err and "Traceback" not in err
