"""The synthetic Markov source: exact entropy rate, stationarity, determinism, spec parsing."""

import math

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.lab.markov import MarkovSource, de_bruijn, markov_token_data, parse_markov_spec


def _h(p: float) -> float:
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def test_two_state_chain_matches_closed_form():
    # P = [[1-a, a], [b, 1-b]]: pi = (b, a) / (a + b), H = pi0 h(a) + pi1 h(b) (Cover & Thomas ex. 4.2)
    a, b = 0.1, 0.3
    src = MarkovSource.from_table(1, 2, [[0, 1], [0, 1]], [[1 - a, a], [b, 1 - b]])
    np.testing.assert_allclose(src.stationary, [b / (a + b), a / (a + b)], rtol=1e-10)
    expected = (b * _h(a) + a * _h(b)) / (a + b)  # 0.4227 nats/token
    assert src.entropy_rate_nats == pytest.approx(expected, rel=1e-10)
    assert src.entropy_rate_bits == pytest.approx(expected / math.log(2), rel=1e-10)


def test_periodic_chain_still_gets_its_stationary_distribution():
    # a deterministic 2-cycle (period 2): plain power iteration would oscillate; the lazy chain converges
    src = MarkovSource.from_table(1, 2, [[1], [0]], [[1.0], [1.0]])
    np.testing.assert_allclose(src.stationary, [0.5, 0.5], atol=1e-12)
    assert src.entropy_rate_nats == 0.0


def test_de_bruijn_holds_every_context_once():
    seq = de_bruijn(5, 3)
    assert seq.size == 125
    cyc = np.concatenate([seq, seq[:2]])
    windows = {tuple(cyc[i:i + 3]) for i in range(125)}
    assert len(windows) == 125


def test_true_model_log_loss_matches_entropy_rate():
    src = MarkovSource(order=2, vocab_size=32, branching=4, zipf_s=1.1, seed=3)
    x = src.sample(400_000, seed=7)
    loss = -src.log_probs(x).mean()
    assert np.isfinite(loss)  # every sampled transition is an allowed one
    assert loss == pytest.approx(src.entropy_rate_nats, rel=0.01)
    assert 0.3 < src.entropy_rate_nats < math.log(4)  # b = 4 allowed successors bound H(next | c) by ln 4


def test_empirical_estimators_cannot_beat_the_entropy_rate():
    src = MarkovSource(order=2, vocab_size=16, branching=3, zipf_s=1.0, seed=1)
    x = src.sample(300_000, seed=2)
    train, val = x[:200_000], x[200_000:]
    h = src.entropy_rate_nats
    # unigram cross-entropy on held-out tokens: far above H (it ignores the context)
    uni = (np.bincount(train, minlength=16) + 0.5) / (train.size + 8.0)
    assert -np.log(uni[val]).mean() > h + 0.5
    # order-2 counts (the true order, add-0.01 smoothing): close to H from above, never below it beyond noise
    ctx_tr = train[:-2] * 16 + train[1:-1]
    counts = np.zeros((256, 16))
    np.add.at(counts, (ctx_tr, train[2:]), 1.0)
    q = (counts + 0.01) / (counts + 0.01).sum(axis=1, keepdims=True)
    nll = -np.log(q[val[:-2] * 16 + val[1:-1], val[2:]])
    stderr = nll.std() / math.sqrt(nll.size)
    assert nll.mean() > h - 3 * stderr
    assert nll.mean() < h + 0.05


def test_marginal_is_zipf_like():
    src = MarkovSource(order=2, vocab_size=64, branching=4, zipf_s=1.2, seed=0)
    freq = np.bincount(src.sample(200_000, seed=0), minlength=64) / 200_000
    assert freq[:4].sum() > 5 * freq[-4:].sum()  # low ids (high Zipf weight) dominate
    assert (freq > 0).sum() == 64  # the de Bruijn backbone keeps every token reachable


def test_same_seed_same_chain_and_sample():
    a, b = MarkovSource(2, 16, 4, 1.1, seed=5), MarkovSource(2, 16, 4, 1.1, seed=5)
    np.testing.assert_array_equal(a.next_tokens, b.next_tokens)
    assert a.entropy_rate_nats == b.entropy_rate_nats
    np.testing.assert_array_equal(a.sample(5000, seed=9), b.sample(5000, seed=9))
    assert not np.array_equal(a.sample(5000, seed=9), a.sample(5000, seed=10))
    assert MarkovSource(2, 16, 4, 1.1, seed=6).entropy_rate_nats != a.entropy_rate_nats


def test_markov_token_data():
    d = markov_token_data(order=1, vocab_size=8, branching=3, n_tokens=20_000, val_fraction=0.1, seed=4)
    assert d.val.size == 2000 and d.train.size == 18_000
    assert d.vocab_size == 8 and d.train.max() < 8
    assert d.entropy_rate_nats == pytest.approx(MarkovSource(1, 8, 3, 1.1, 4).entropy_rate_nats)
    assert d.bits_per_byte(d.entropy_rate_nats) == pytest.approx(d.entropy_rate_nats / math.log(2))
    again = markov_token_data(order=1, vocab_size=8, branching=3, n_tokens=20_000, val_fraction=0.1, seed=4)
    np.testing.assert_array_equal(d.train, again.train)


def test_corpus_name_writes_whole_numbers_in_full():
    d = markov_token_data(order=1, vocab_size=8, branching=3, n_tokens=2_000, seed=1_234_567)
    assert d.name == "markov:order=1,vocab=8,branching=3,zipf=1.1,concentration=1,seed=1234567,tokens=2000"
    assert parse_markov_spec(d.name)["seed"] == 1_234_567  # the name reads back as the same chain


def test_spec_parsing_and_bad_input():
    assert parse_markov_spec("markov") == {}
    assert parse_markov_spec("markov:order=3, vocab=32,zipf=1.5,tokens=2e5") == {
        "order": 3, "vocab": 32, "zipf": 1.5, "tokens": 200_000}
    with pytest.raises(ScalingLabError, match="unknown option 'colour=red'"):
        parse_markov_spec("markov:colour=red")
    with pytest.raises(ScalingLabError, match="order needs a whole number"):
        parse_markov_spec("markov:order=1.5")
    with pytest.raises(ScalingLabError, match="seed needs a whole number >= 0, got '-1'"):
        parse_markov_spec("markov:seed=-1")
    with pytest.raises(ScalingLabError, match="branching \\(9\\) cannot exceed vocab_size \\(8\\)"):
        MarkovSource(1, 8, 9)
    with pytest.raises(ScalingLabError, match="contexts is more than"):
        MarkovSource(order=6, vocab_size=64)
    with pytest.raises(ScalingLabError, match="sum to 1"):
        MarkovSource.from_table(1, 2, [[0, 1], [0, 1]], [[0.5, 0.6], [0.5, 0.5]])
