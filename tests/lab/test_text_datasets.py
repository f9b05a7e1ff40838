"""Local text datasets (issue 16, item 4): JSONL, Parquet, plain text and save_to_disk folders read
record by record into a token cache, held-out records, the token cap, tokenizer.json files, bits per
byte across tokenizers, bounded memory, and one-line errors. Every file is written by the test."""

from __future__ import annotations

import gzip
import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.lab.corpus import corpus_vocab_size, load_corpus
from scalinglab.lab.stream_corpus import held_out

WORDS = ["the", "king", "queen", "crown", "hath", "thou", "art", "sword", "night", "ünïcode"]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def texts(n: int = 240, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"doc {i}: " + " ".join(rng.choice(WORDS, int(rng.integers(5, 30)))) for i in range(n)]


def write_jsonl(path: Path, docs: list[str], field: str = "text") -> Path:
    path.write_text("".join(json.dumps({"id": i, field: t}) + "\n" for i, t in enumerate(docs)), encoding="utf-8")
    return path


def write_save_to_disk(folder: Path, docs: list[str], shards: int = 2) -> Path:
    """The layout of ``datasets.Dataset.save_to_disk``: Arrow IPC stream files listed in state.json."""
    folder.mkdir(parents=True)
    names = [f"data-{k:05d}-of-{shards:05d}.arrow" for k in range(shards)]
    per = math.ceil(len(docs) / shards)
    for k, name in enumerate(names):
        table = pa.table({"id": list(range(k * per, min(len(docs), (k + 1) * per))), "text": docs[k * per:(k + 1) * per]})
        with pa.OSFile(str(folder / name), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            for batch in table.to_batches(max_chunksize=25):  # several record batches per file
                writer.write_batch(batch)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": n} for n in names],
                                                   "_fingerprint": "0", "_split": "train"}))
    (folder / "dataset_info.json").write_text(json.dumps({"features": {"id": {"dtype": "int64", "_type": "Value"},
                                                                       "text": {"dtype": "string", "_type": "Value"}}}))
    return folder


def split_text(docs: list[str], sep: str, val_fraction: float = 0.05) -> tuple[bytes, bytes]:
    """(training, validation) bytes expected from the held-out rule."""
    train = "".join(t + sep for i, t in enumerate(docs) if not held_out(i, val_fraction))
    val = "".join(t + sep for i, t in enumerate(docs) if held_out(i, val_fraction))
    return train.encode(), val.encode()


def as_bytes(ids: np.ndarray) -> bytes:
    return bytes(np.asarray(ids).astype(np.uint8))


def test_held_out_rule_is_deterministic_and_near_its_fraction() -> None:
    picks = [held_out(i, 0.1) for i in range(20_000)]
    assert picks == [held_out(i, 0.1) for i in range(20_000)]
    assert 0.09 < np.mean(picks) < 0.11  # a uniform draw per record index
    assert not held_out(0, 0.0) and held_out(0, 1.0)


def test_jsonl_parquet_and_save_to_disk_give_the_same_tokens(tmp_path) -> None:
    docs = texts()
    train_bytes, val_bytes = split_text(docs, "\n\n")
    assert len(val_bytes) > 0 and len(train_bytes) > 20 * len(val_bytes) / 2
    d = load_corpus(str(write_jsonl(tmp_path / "d.jsonl", docs)))
    assert as_bytes(d.train) == train_bytes and as_bytes(d.val) == val_bytes  # whole records, hash-held-out
    assert d.vocab_size == 256 and d.bytes_per_token == 1.0
    n_val = sum(held_out(i, 0.05) for i in range(len(docs)))
    assert d.info["val_records"] == n_val and d.info["train_records"] == len(docs) - n_val
    assert d.info["records_read"] == len(docs) and d.info["format"] == "jsonl"
    pq.write_table(pa.table({"text": docs, "n": list(range(len(docs)))}), tmp_path / "d.parquet", row_group_size=50)
    p = load_corpus(str(tmp_path / "d.parquet"))
    hf = load_corpus(str(write_save_to_disk(tmp_path / "hf", docs)))
    for other in (p, hf):
        np.testing.assert_array_equal(other.train, d.train)
        np.testing.assert_array_equal(other.val, d.val)
    assert (p.info["format"], hf.info["format"]) == ("parquet", "arrow")
    shards = tmp_path / "shards"
    shards.mkdir()
    write_jsonl(shards / "a.jsonl", docs[:100])
    write_jsonl(shards / "b.jsonl", docs[100:])
    gz = tmp_path / "gz"
    gz.mkdir()
    with gzip.open(gz / "b.json.gz", "wt", encoding="utf-8") as fh:  # sorted after a.jsonl
        fh.write("".join(json.dumps({"text": t}) + "\n" for t in docs[100:]))
    write_jsonl(gz / "a.jsonl", docs[:100])
    z = load_corpus(str(gz))
    np.testing.assert_array_equal(z.val, d.val)
    s = load_corpus(str(shards))  # a folder of shards: one dataset, records numbered across files
    np.testing.assert_array_equal(s.train, d.train)
    np.testing.assert_array_equal(s.val, d.val)


def test_text_field_and_cache(tmp_path, cache) -> None:
    docs = texts(80)
    f = write_jsonl(tmp_path / "c.jsonl", docs, field="content")
    d = load_corpus(str(f), text_field="content", val_fraction=0.2)
    assert as_bytes(d.val) == split_text(docs, "\n\n", 0.2)[1]
    assert isinstance(d.train, np.memmap) and d.train.dtype == np.uint16  # read from the cache, not held in memory
    (folder,) = cache.glob("tokens-*")
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["train_tokens"] == d.train.size and meta["val_bytes"] == d.val.size
    again = load_corpus(str(f), text_field="content", val_fraction=0.2)
    np.testing.assert_array_equal(again.train, d.train)
    assert len(list(cache.glob("tokens-*"))) == 1  # the second load read the cache
    f.write_text(f.read_text() + json.dumps({"content": "one more record"}) + "\n")
    longer = load_corpus(str(f), text_field="content", val_fraction=0.2)  # a changed file: a new cache
    assert longer.info["records_read"] == 81 and len(list(cache.glob("tokens-*"))) == 2


def test_plain_text_one_record_per_line(tmp_path) -> None:
    lines = [t + "\n" for t in texts(150)] + ["\n", "last line without end"]
    f = tmp_path / "t.txt"
    f.write_text("".join(lines), encoding="utf-8")
    d = load_corpus(str(f), val_fraction=0.1)
    train, val = split_text(lines, "", 0.1)
    assert as_bytes(d.train) == train and as_bytes(d.val) == val
    assert d.train.size + d.val.size == f.stat().st_size  # the file's bytes, each in one split
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "b.md").write_text("".join(lines[75:]), encoding="utf-8")
    (folder / "a.txt").write_text("".join(lines[:75]), encoding="utf-8")
    (folder / "skip.csv").write_text("not,text\n", encoding="utf-8")
    both = load_corpus(str(folder), val_fraction=0.1)
    np.testing.assert_array_equal(both.val, d.val)


def test_max_tokens_caps_tokens_and_keeps_validation_records_whole(tmp_path) -> None:
    docs = texts(400)
    f = write_jsonl(tmp_path / "d.jsonl", docs)
    d = load_corpus(str(f), max_tokens=5_000, val_fraction=0.1)
    n = d.info["records_read"]
    assert d.train.size + d.val.size <= 5_000 and d.train.size + d.val.size > 5_000 - 200  # at most one record short
    assert n < len(docs) and d.info["max_tokens"] == 5_000
    held = [i for i in range(n) if held_out(i, 0.1)]
    assert d.info["val_records"] == len(held) > 0
    # the validation split is exactly the held-out records among those read, never part of one
    assert as_bytes(d.val) in ("".join(docs[i] + "\n\n" for i in held).encode(),
                               "".join(docs[i] + "\n\n" for i in held[:-1]).encode())
    full = load_corpus(str(f), val_fraction=0.1)
    assert as_bytes(full.train).startswith(as_bytes(d.train))  # a prefix of the uncapped training stream
    with pytest.raises(ScalingLabError, match="max_tokens: must be an integer"):
        load_corpus(str(f), max_tokens=1.5e3)


def test_few_records_hold_out_the_last_one(tmp_path) -> None:
    docs = ["alpha beta gamma", "delta epsilon", "zeta eta theta"]
    assert not any(held_out(i, 0.05) for i in range(3))
    d = load_corpus(str(write_jsonl(tmp_path / "three.jsonl", docs)))
    assert as_bytes(d.val) == b"zeta eta theta\n\n" and as_bytes(d.train) == b"alpha beta gamma\n\ndelta epsilon\n\n"


def train_tokenizer_json(path: Path, docs: list[str], vocab: int = 400) -> Path:
    tokenizers = pytest.importorskip("tokenizers", reason="tokenizer.json files need the 'tokenizers' package")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"], show_progress=False,
                                             initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(docs, trainer=trainer)
    tok.save(str(path))
    return path


def test_tokenizer_json_and_bits_per_byte_across_tokenizers(tmp_path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    docs = texts(300)
    f = write_jsonl(tmp_path / "d.jsonl", docs)
    tj = train_tokenizer_json(tmp_path / "tokenizer.json", docs)
    by_bytes, by_bpe = load_corpus(str(f)), load_corpus(str(f), tokenizer="bpe", vocab_size=320)
    by_file = load_corpus(str(f), tokenizer=str(tj))
    expected = tokenizers.Tokenizer.from_file(str(tj))
    assert by_file.vocab_size == expected.get_vocab_size(with_added_tokens=True)
    assert corpus_vocab_size(str(f), str(tj)) == by_file.vocab_size
    val_text = split_text(docs, "\n\n")[1].decode()
    assert expected.decode(by_file.val.tolist()) == val_text  # the same held-out records, losslessly
    for d in (by_bpe, by_file):
        assert d.val.size < by_bytes.val.size / 2  # merges: fewer tokens than bytes
        assert d.bytes_per_token == pytest.approx(len(val_text.encode()) / d.val.size)
        # the same total nats over the validation text give the same bits per byte, whatever the tokens
        total_nats = 1234.5
        assert d.bits_per_byte(total_nats / d.val.size) == pytest.approx(
            by_bytes.bits_per_byte(total_nats / by_bytes.val.size))
    assert by_bytes.bits_per_byte(total_nats / by_bytes.val.size) == pytest.approx(
        total_nats / math.log(2) / len(val_text.encode()))
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": "nope"}')
    with pytest.raises(ScalingLabError, match=r"tokenizer .*bad.json: not a readable tokenizer.json"):
        load_corpus(str(f), tokenizer=str(bad))
    with pytest.raises(ScalingLabError, match="missing.json: no such file"):
        load_corpus(str(f), tokenizer=str(tmp_path / "missing.json"))
    f.write_text(f.read_text() + '{"body": "no text"}\n')  # raised from inside the BPE trainer's reading
    with pytest.raises(ScalingLabError, match=r"d.jsonl: line 301 has no field 'text'"):
        load_corpus(str(f), tokenizer="bpe", vocab_size=320)


def test_shakespeare_style_in_memory_text_takes_a_tokenizer_json(tmp_path, monkeypatch) -> None:
    pytest.importorskip("tokenizers")
    from scalinglab.lab import corpus

    docs = texts(200)
    monkeypatch.setattr(corpus, "shakespeare_text", lambda: "\n".join(docs))
    tj = train_tokenizer_json(tmp_path / "tokenizer.json", docs)
    d = load_corpus("shakespeare", tokenizer=str(tj), val_fraction=0.1)
    train_text, val_text = corpus.split_text("\n".join(docs), 0.1)
    assert d.bytes_per_token == pytest.approx(len(val_text.encode()) / d.val.size) and d.bytes_per_token > 1.5
    with pytest.raises(ScalingLabError, match="apply to a dataset path"):
        load_corpus("shakespeare", max_tokens=1000)


def test_errors_name_the_file_and_record(tmp_path) -> None:
    def fails(match: str, path: Path, **kw) -> None:
        with pytest.raises(ScalingLabError, match=match) as info:
            load_corpus(str(path), **kw)
        assert "\n" not in str(info.value)

    j = tmp_path / "a.jsonl"
    j.write_text('{"text": "ok"}\n{"text": "ok too"}\n{"body": "no text"}\n', encoding="utf-8")
    fails(r"a.jsonl: line 3 has no field 'text' \(fields: body", j)
    j.write_text('{"text": "ok"}\n{"text": 5}\n', encoding="utf-8")
    fails(r"a.jsonl: line 2, field 'text' is int, not text", j)
    j.write_text('{"text": "ok"}\nnot json\n', encoding="utf-8")
    fails(r"a.jsonl: line 2 is not JSON", j)
    (tmp_path / "array.json").write_text('[{"text": "a"}, {"text": "b"}]\n', encoding="utf-8")
    fails(r"array.json: line 1 is a JSON list, not an object", tmp_path / "array.json")
    j.write_text('{"text": ""}\n\n{"text": "   "}\n', encoding="utf-8")
    fails(r"a.jsonl: the text is empty", j)
    j.write_bytes(b'{"text": "ok"}\n{"text": "\xff"}\n')
    fails(r"a.jsonl: not UTF-8 text \(line 2\)", j)
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "p.parquet")
    fails(r"p.parquet: no column 'text' \(columns: body", tmp_path / "p.parquet")
    pq.write_table(pa.table({"text": ["a", "b", None]}), tmp_path / "n.parquet")
    fails(r"n.parquet: row 2, column 'text' is null", tmp_path / "n.parquet")
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "i.parquet")
    fails(r"i.parquet: column 'text' holds int64, not text", tmp_path / "i.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"this is not parquet at all")
    fails(r"junk.parquet: not a readable Parquet file", tmp_path / "junk.parquet")
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), tmp_path / "e.parquet")
    fails(r"e.parquet: the text is empty", tmp_path / "e.parquet")
    (tmp_path / "junk.arrow").write_bytes(b"not arrow")
    fails(r"junk.arrow: not an Arrow IPC stream", tmp_path / "junk.arrow")
    dd = tmp_path / "dd"
    write_save_to_disk(dd / "train", texts(10)).parent.joinpath("dataset_dict.json").write_text('{"splits": ["train"]}')
    fails(r"dd: a DatasetDict folder \(splits: train\); name one split's folder", dd)
    (tmp_path / "t.txt").write_text("plain\n" * 20)
    fails(r"--text-field applies to JSONL, Parquet and Arrow", tmp_path / "t.txt", text_field="body")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    write_jsonl(mixed / "a.jsonl", ["x"])
    (mixed / "b.txt").write_text("y\n")
    fails(r"mixed: the folder mixes jsonl and text files", mixed)


def test_memory_is_bounded_by_a_batch_not_the_file(tmp_path) -> None:
    """A 24 MB JSONL file: loading it whole would allocate at least its size (the text alone); the
    stream allocates a batch at a time and keeps the tokens on disk."""
    doc = " ".join(WORDS * 20)  # about 1.2 kB per record
    f = tmp_path / "big.jsonl"
    with open(f, "w", encoding="utf-8") as fh:
        for i in range(20_000):
            fh.write(json.dumps({"text": f"{i} {doc}"}) + "\n")
    size = f.stat().st_size
    assert size > 20e6
    for cap in (1_000_000, None):  # 24x the cap; and the whole file
        tracemalloc.start()
        try:
            d = load_corpus(str(f), max_tokens=cap)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        n = d.train.size + d.val.size
        if cap is None:  # every record's text and its blank-line separator, one token per byte
            assert n == sum(len(f"{i} {doc}".encode()) + 2 for i in range(20_000))
        else:
            assert cap - len(doc) - 10 < n <= cap
        assert peak < size / 4, (cap, peak, size)
    assert d.info["records_read"] == 20_000 and d.val.size > 0


def test_byte_order_mark_and_string_view_columns(tmp_path) -> None:
    f = tmp_path / "bom.jsonl"
    f.write_bytes("\ufeff".encode() + b'{"text": "first record"}\n{"text": "second record"}\n')
    d = load_corpus(str(f))  # the mark is not part of the first record's JSON nor its text
    assert as_bytes(d.train) + as_bytes(d.val) == b"first record\n\nsecond record\n\n"
    if hasattr(pa, "string_view"):  # pyarrow >= 16 writes string_view columns
        docs = texts(60)
        t = pa.table({"text": pa.array(docs, pa.string_view())})
        with pa.OSFile(str(tmp_path / "v.arrow"), "wb") as sink, pa.ipc.new_stream(sink, t.schema) as writer:
            writer.write_table(t)
        v = load_corpus(str(tmp_path / "v.arrow"))
        assert as_bytes(v.val) == split_text(docs, "\n\n")[1]
