"""The planning API is reachable as the issue names it: sl.flops, sl.optimal, sl.batch, sl.hardware."""

import pytest

import scalinglab as sl


def test_namespaces_answer_a_planning_question():
    arch = sl.flops.get_architecture("chinchilla-70b")
    c = sl.flops.training_flops(arch, tokens=1.4e12)
    assert c == pytest.approx(5.88e23, rel=0.03)  # references.md A1: 6ND = 5.88e23
    alloc = sl.optimal.optimal_allocation("hoffmann2022", c)
    assert 1e10 < alloc.params < 1e11 and alloc.tokens == pytest.approx(c / (6 * alloc.params))
    cost = sl.hardware.training_cost(c, "h100-sxm", n_devices=1024, mfu=0.4)
    assert cost.days == pytest.approx(c / (1024 * 989.4e12 * 0.4) / 86400, rel=0.01)
    assert sl.batch.critical_batch_size(3.0) == pytest.approx(1.069e6, rel=0.01)  # references.md B2
    assert sl.optimal.get_rule("deepseek2024").optimal(1e23).tokens > 0


def test_inference_namespace():
    arch = sl.flops.get_architecture("llama2-70b")
    # references.md C2: Llama-2-70B holds 327,680 bytes of bf16 KV cache per token
    assert sl.inference.memory.kv_bytes_per_token(arch, "bf16") == 327_680
    # references.md E1: pass@5 with n = 10, c = 2 is 0.777778
    assert sl.inference.quality.pass_at_k(10, 2, 5) == pytest.approx(0.777778, abs=1e-6)


def test_public_names_say_what_they_are():
    """Issue 12 (names): the fitting package is not shadowed by the function sl.fit, each facade name is
    one module, and dir(sl) lists the public names only."""
    import importlib

    fitting = importlib.import_module("scalinglab.fitting")
    assert callable(sl.fit) and sl.fit is fitting.fit
    assert fitting.__name__ == "scalinglab.fitting" and hasattr(fitting, "FitResult")
    assert sl.optimal.__name__ == "scalinglab.plan.optimal"
    assert sl.flops.__name__ == "scalinglab.plan.flops" and sl.batch.__name__ == "scalinglab.plan.batch"
    names = dir(sl)
    assert "annotations" not in names and "lab" not in names and "fitting" not in names
    assert set(names) == set(sl.__all__)
