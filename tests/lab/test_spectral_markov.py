"""The dense spectral Markov source: its logit spectrum, exact entropy rate, corpus names and bad input."""

import math

import numpy as np
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.lab.corpus import load_corpus
from scalinglab.lab.markov import MarkovSource, parse_markov_spec
from scalinglab.lab.spectral_markov import source_from_options, spectral_logits, spectral_probs, spectral_source


def test_logit_singular_values_follow_the_power_law():
    # zipf = 0: logits = s sqrt(V) U diag(k^-g) W^T with U, W orthogonal, so the spectrum is exact
    v, g, s = 48, 0.7, 3.0
    sv = np.linalg.svd(spectral_logits(v, g, s, 0.0, seed=2), compute_uv=False)
    np.testing.assert_allclose(sv, s * math.sqrt(v) * np.arange(1, v + 1) ** -g, rtol=1e-9)
    # a Zipf term is a rank-one change: it moves no singular value past its neighbours' interlacing bounds
    with_zipf = np.linalg.svd(spectral_logits(v, g, s, 1.0, seed=2), compute_uv=False)
    assert np.all(with_zipf[2:] <= sv[1:-1] + 1e-9)


def test_rows_are_distributions_and_zipf_orders_the_next_token():
    p = spectral_probs(64, 0.7, 1.0, 1.5, seed=0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(p > 0)  # dense: every context may be followed by every token
    mean = p.mean(axis=0)
    assert mean[:8].sum() > 4 * mean[-8:].sum()  # low ids get the Zipf weight


def test_true_model_log_loss_matches_entropy_rate():
    src = spectral_source(vocab_size=32, decay=0.6, scale=4.0, zipf_s=0.5, seed=1)
    x = src.sample(300_000, seed=3)
    loss = -src.log_probs(x).mean()
    assert loss == pytest.approx(src.entropy_rate_nats, rel=0.01)
    assert 0.2 < src.entropy_rate_nats < math.log(32)


def test_entropy_rate_falls_with_scale_and_tends_to_log_v():
    rates = [spectral_source(32, 0.7, s, 0.0, seed=0).entropy_rate_nats for s in (1e-4, 0.5, 2.0, 8.0)]
    assert rates[0] == pytest.approx(math.log(32), rel=1e-6)  # a flat chain: H = ln V
    assert rates == sorted(rates, reverse=True) and rates[-1] < rates[0] - 1.0


def test_same_seed_same_chain():
    a, b = spectral_source(16, seed=4), spectral_source(16, seed=4)
    np.testing.assert_array_equal(a.next_probs, b.next_probs)
    assert spectral_source(16, seed=5).entropy_rate_nats != a.entropy_rate_nats


def test_corpus_names_build_either_chain():
    opts = parse_markov_spec("markov:vocab=32,spectrum=0.8,scale=2,zipf=0,seed=3,tokens=5000")
    src = source_from_options(opts)
    assert src.entropy_rate_nats == spectral_source(32, 0.8, 2.0, 0.0, seed=3).entropy_rate_nats
    assert src.describe().startswith("markov order=1 vocab=32 spectrum=0.8 scale=2 zipf=0 seed=3: entropy rate")
    sparse = source_from_options(parse_markov_spec("markov:order=1,vocab=8,branching=3,seed=4"))
    assert sparse.entropy_rate_nats == MarkovSource(1, 8, 3, 1.1, 4).entropy_rate_nats
    data = load_corpus("markov:vocab=32,spectrum=0.8,scale=2,zipf=0,seed=3,tokens=5000", val_fraction=0.1)
    assert data.name == "markov:order=1,vocab=32,spectrum=0.8,scale=2,zipf=0,seed=3,tokens=5000"
    assert data.entropy_rate_nats == src.entropy_rate_nats
    assert data.train.size == 4500 and data.val.size == 500 and data.vocab_size == 32
    np.testing.assert_array_equal(np.concatenate([data.train, data.val]), src.sample(5000, seed=4))


@pytest.mark.parametrize(("name", "message"), [
    ("markov:scale=2", "scale needs spectrum"),
    ("markov:spectrum=0.7,branching=4", "drop branching"),
    ("markov:spectrum=0.7,order=2", "drop order=2"),
    ("markov:spectrum=-1", "spectrum must be a finite number >= 0"),
    ("markov:spectrum=0.7,scale=0", "scale must be a finite number > 0"),
    ("markov:spectrum=0.7,vocab=5000", "vocab must be 2..1024"),
    ("markov:vocab=64,spectrum=0.7,scale=1e4", "underflow to 0"),  # not dense any more: H would not be exact
])
def test_bad_spectral_names_say_what_is_wrong(name, message):
    with pytest.raises(ScalingLabError, match=message):
        source_from_options(parse_markov_spec(name))
