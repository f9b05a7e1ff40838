"""`scalinglab sweep --corpus PATH --text-field F --tokenizer bytes|bpe|PATH --max-tokens N` (issue 16,
item 4): a tiny sweep on a JSONL dataset with a tokenizer.json, bits per byte in the rows and the
store, the held-out records recorded on the sweep, dry runs, spec files and one-line errors."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from conftest import run_cli
from scalinglab.lab.corpus import load_corpus

KEYS = ["id", "status", "params", "tokens", "flops", "final_val_loss", "final_val_bpb"]
WORDS = ["the", "king", "queen", "crown", "hath", "thou", "art", "sword", "night", "day"]
GRID = ["sweep", "--design", "grid", "--params", "3.2e3", "--tokens", "2048", "--seq-len", "16", "--batch-size", "8",
        "--workers", "1"]


@pytest.fixture
def dataset(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """A JSONL dataset (text in "content") and a tokenizer.json trained on it, in a private cache."""
    tokenizers = pytest.importorskip("tokenizers")
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    docs = [f"{i} " + " ".join(WORDS[(i * k) % 10] for k in range(1, 25)) for i in range(600)]
    f = tmp_path / "d.jsonl"
    f.write_text("".join(json.dumps({"content": d}) + "\n" for d in docs), encoding="utf-8")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(docs, trainer=tokenizers.trainers.BpeTrainer(
        vocab_size=300, show_progress=False, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet()))
    tok.save(str(tmp_path / "tokenizer.json"))
    return f, tmp_path / "tokenizer.json"


def test_tiny_sweep_on_a_dataset_with_a_tokenizer_json(dataset, tmp_path, monkeypatch, capsys) -> None:
    f, tj = dataset
    db = tmp_path / "runs.db"
    args = [*GRID, "--corpus", f, "--text-field", "content", "--tokenizer", tj, "--max-tokens", "30000",
            "--store", db, "--json"]
    code, out, err = run_cli(args, monkeypatch, capsys)
    assert code == 0, err
    (row,) = json.loads(out)
    assert list(row) == KEYS and row["status"] == "finished"
    data = load_corpus(str(f), str(tj), text_field="content", max_tokens=30000)
    assert data.vocab_size > 256 and data.bytes_per_token > 1.5  # whole words are tokens
    # bits per byte of the validation text: nats/token / ln 2 / (validation bytes / validation tokens)
    assert row["final_val_bpb"] == pytest.approx(row["final_val_loss"] / math.log(2) / data.bytes_per_token)
    with sqlite3.connect(db) as c:
        (design_text,) = c.execute("SELECT design FROM sweeps").fetchone()
        (stored_bpb,) = c.execute("SELECT final_val_bpb FROM runs").fetchone()
    design = json.loads(design_text)
    assert stored_bpb == row["final_val_bpb"] and design["tokenizer"] == str(tj)
    info = design["data"]  # the held-out records, recorded on the sweep
    assert info["val_rule"].startswith("record i held out iff") and info["max_tokens"] == 30000
    assert info["val_records"] == data.info["val_records"] > 0 and info["text_field"] == "content"
    assert info["train_tokens"] + info["val_tokens"] <= 30000
    code, again, err = run_cli(args, monkeypatch, capsys)  # resumed from the token cache: the same sweep
    assert code == 0 and json.loads(again) == [row], err


def test_dry_run_plans_with_the_tokenizers_vocabulary(dataset, tmp_path, monkeypatch, capsys) -> None:
    f, tj = dataset
    base = [*GRID, "--corpus", f, "--text-field", "content", "--dry-run", "--json"]
    code, with_bytes, err = run_cli(base, monkeypatch, capsys)
    assert code == 0, err
    code, with_file, err = run_cli([*base, "--tokenizer", tj], monkeypatch, capsys)
    assert code == 0, err
    (b,), (t,) = json.loads(with_bytes), json.loads(with_file)
    assert t["params"] > b["params"] and t["flops"] == b["flops"]  # a larger embedding; 6ND counts non-embedding N
    assert not list((tmp_path / "cache").glob("tokens-*"))  # a dry run reads the first record, tokenises nothing
    spec = tmp_path / "sweep.toml"
    spec.write_text(f'[sweep]\ndesign = "grid"\nparams = [3.2e3]\ntokens = [2048]\nseq_len = 16\nbatch_size = 8\n'
                    f'corpus = "{f}"\ntext_field = "content"\nmax_tokens = 30000\ntokenizer = "bytes"\n')
    code, out, err = run_cli(["sweep", "--spec", spec, "--dry-run", "--json"], monkeypatch, capsys)
    assert code == 0 and [r["status"] for r in json.loads(out)] == ["planned"], err


def test_dataset_errors_are_one_line(dataset, tmp_path, monkeypatch, capsys) -> None:
    f, _ = dataset
    db = tmp_path / "runs.db"

    def fails(args: list, *needles: str) -> None:
        code, out, err = run_cli(args, monkeypatch, capsys)
        assert code == 2 and out == "" and err.count("\n") == 1, (code, err)
        assert all(n in err for n in needles), err

    fails([*GRID, "--corpus", f, "--store", db], "d.jsonl: line 1 has no field 'text'", "--text-field")
    fails([*GRID, "--corpus", f, "--dry-run"], "d.jsonl: line 1 has no field 'text'")
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    fails([*GRID, "--corpus", f, "--text-field", "content", "--tokenizer", bad, "--store", db],
          "bad.json: not a readable tokenizer.json")
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"text": ""}\n')
    fails([*GRID, "--corpus", empty, "--dry-run"], "empty.jsonl: the text is empty")
    fails([*GRID, "--corpus", "markov", "--max-tokens", "1000", "--dry-run"], "apply to a dataset path")
    fails([*GRID, "--corpus", f, "--text-field", "content", "--max-tokens", "2", "--dry-run"],
          "max_tokens: must be an integer of at least 4")
    assert not db.exists()
