"""The public API as a table of calls with valid arguments, for the fuzz tests (tests/test_fuzz_api.py).

``cases()`` returns ``{name: (function, kwargs)}``: every function exported from ``scalinglab`` and its
namespaces (``sl.optimal``, ``sl.flops``, ``sl.batch``, ``sl.hardware``, ``sl.analysis``, ``sl.laws``,
``sl.datasets``, ``sl.inference.*``) plus the predict methods of a fit and of a published law, each with
small, valid, fast arguments (bootstrap 0 or a few draws). The fuzz tests replace one argument at a time
with a bad value and require a result or a ScalingLabError, nothing else.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

import scalinglab as sl
from scalinglab.analysis import lr_schedules
from scalinglab.inference import memory, metrics, quality, speed, testtime

#: Bad values for any argument: huge integers, strings, empty containers, None, non-finite, extremes.
BAD_VALUES = (10**400, -(10**400), "abc", "", [], {}, None, float("inf"), -float("inf"), float("nan"), -1, 0,
              1e308, -1e308, 1e-300, 5e-324, True, [float("nan")], [10**400], ["abc"])

#: Arguments never fuzzed: a truthy ``download`` would try the network; ``progress`` only prints.
NOT_FUZZED = {"download", "progress"}


@functools.cache
def _data() -> dict:
    rng = np.random.default_rng(0)
    runs = sl.simulate_isoflop(budgets=(1e18, 1e19, 1e20, 1e21), per_budget=5, seed=0)
    c = np.logspace(19, 25, 16)
    acc = 0.25 + 0.75 / (1 + np.exp(-2 * (np.log10(c) - 22)))
    loss = 1.8 + 2000 * c ** -0.15
    metric = pd.DataFrame({"flops": c, "loss": loss, "accuracy": np.clip(acc + rng.normal(0, 0.01, 16), 0, 1),
                           "shots": np.tile([0, 5], 8)})
    groups = pd.concat([pd.DataFrame({"flops": np.geomspace(1e17, 1e21, 10), "group": g,
                                      "loss": e + 700 * np.geomspace(1e17, 1e21, 10) ** -0.15})
                        for g, e in (("A", 1.8), ("B", 2.0))])
    n, aspect = (a.ravel() for a in np.meshgrid(np.geomspace(1e6, 1e9, 4), np.geomspace(4, 400, 4), indexing="ij"))
    shaped = pd.DataFrame({"params": n, "aspect": aspect,
                           "loss": (1.7 + 400 * n ** -0.3) * np.exp(0.02 * np.log(aspect / 40) ** 2)})
    n3 = np.repeat([1e7, 1e8, 1e9], 3)
    sizes = pd.DataFrame({"params": n3, "tokens": np.tile([1e9, 3e9, 1e10], 3), "flops": 6 * n3 * 3e9,
                          "loss": (1.8 + 400 * n3 ** -0.3) * np.exp(rng.normal(0, 0.003, 9))})
    curves = sl.analysis.simulate_learning_curves(sizes=(1e8, 3e8), n_points=30, seed=0)
    tokens_p = pd.DataFrame({"params": np.logspace(8, 11, 7), "p_token": np.linspace(0.5, 0.95, 7)})
    results = pd.DataFrame({"problem": ["a", "b", "c", "d"], "n": [50] * 4, "correct": [1, 5, 20, 0]})
    by_temp = pd.concat([results.assign(temperature=0.2), results.assign(temperature=0.8, correct=[2, 4, 30, 1])])
    noise = pd.DataFrame({"batch_size": [8, 8, 64, 64], "grad_sq_norm": [12.0, 11.0, 3.0, 3.2]})
    fit = sl.fit(runs, "chinchilla", refine=8)
    law_a = sl.fit(groups[groups.group == "A"], "power_floor:flops", refine=8)
    law_b = sl.fit(groups[groups.group == "B"], "power_floor:flops", refine=8)
    report = speed.serving_speed("llama3-8b", "h100-sxm", batch=8, context_tokens=2048)
    x = np.logspace(0, 5, 10)
    g = np.linspace(-1.5, 1.5, 16) + np.tile([0.0, 0.3], 8)
    observed = pd.DataFrame({"Model": [f"m{i}" for i in range(16)], "Model Family": np.tile(["A", "B"], 8),
                             "flops": 10 ** (21 + np.linspace(0, 3, 16)), "target": 0.1 + 0.9 / (1 + np.exp(-2 * g)),
                             **{f"b{j}": 0.5 + 0.1 * g * (1 + 0.2 * j) + 0.01 * np.sin(j + np.arange(16))
                                for j in range(4)}})
    rows = []
    for text in ("constant:steps=600,warmup=50,peak=1e-3", "cosine:steps=600,warmup=50,peak=1e-3,final=1e-4"):
        lrs = lr_schedules.schedule_lrs(lr_schedules.parse_schedule(text))
        st = np.arange(25, lrs.size + 1, 25)
        s1, s2 = lr_schedules.forward_area(lrs)[st - 1], lr_schedules.annealing_area(lrs)[st - 1]
        rows += [{"run": text, "step": k, "loss": 2.5 + 1.2 * a ** -0.45 - 0.8 * b, "lr": lrs[k - 1]}
                 for k, a, b in zip(st, s1, s2)]
    schedule_curves = pd.DataFrame(rows)
    return dict(observed=observed, schedule_curves=schedule_curves, runs=runs, sizes=sizes, metric=metric, groups=groups, shaped=shaped, curves=curves, tokens_p=tokens_p,
                results=results, by_temp=by_temp, noise=noise, fit=fit, law_a=law_a, law_b=law_b, report=report,
                tt_x=x, tt_acc=np.clip(0.05 + 0.15 * np.log10(x), 0, 1))


def _top_level(d: dict) -> dict:
    runs, fit = d["runs"], d["fit"]
    return {
        "fit": (sl.fit, dict(runs=runs, law="chinchilla", loss="huber", delta=1e-3, bootstrap=0, seed=0, level=0.95,
                             drop_highest_loss=0, refine=8)),
        "get_published": (sl.get_published, dict(key="hoffmann2022")),
        "load_runs": (sl.load_runs, dict(source=runs, drop_highest_loss=0)),
        "predict_loss": (sl.predict_loss, dict(law=sl.published["hoffmann2022"], params=1e9, tokens=2e10)),
        "resolve_law": (sl.resolve_law, dict(spec="hoffmann2022")),
        "simulate_isoflop": (sl.simulate_isoflop, dict(law="hoffmann2022", budgets=[1e18, 1e19], per_budget=5,
                                                       span=6.0, noise=0.01, seed=0)),
        "FitResult.predict": (fit.predict, dict(params=1e9, tokens=2e10)),
        "PublishedLaw.predict": (sl.published["hoffmann2022"].predict, dict(params=1e9, tokens=2e10)),
        "laws.get_family": (sl.laws.get_family, dict(spec="chinchilla")),
        "laws.list_families": (sl.laws.list_families, {}),
        "datasets.get": (sl.datasets.get, dict(name="epoch_chinchilla", table=None)),
        "datasets.names": (sl.datasets.names, {}),
        "datasets.list_datasets": (sl.datasets.list_datasets, {}),
        "datasets.load": (sl.datasets.load, dict(name="epoch_chinchilla", table=None, download=False)),
        "datasets.load_runs": (sl.datasets.load_runs, dict(name="epoch_chinchilla", drop_highest_loss=0,
                                                           download=False)),
        "datasets.path": (sl.datasets.path, dict(name="epoch_chinchilla", download=False)),
    }


def _plan(d: dict) -> dict:
    o, f, b, h = sl.optimal, sl.flops, sl.batch, sl.hardware
    runs = d["runs"]
    dev = "h100-sxm"
    return {
        "optimal.compare_approaches": (o.compare_approaches, dict(runs=runs, bootstrap=0, flops=1e21)),
        "optimal.optimal_multiplier": (o.optimal_multiplier, dict(law="hoffmann2022", target_loss=2.2,
                                                                  inference_tokens=1e12)),
        "optimal.compute_to_reach": (o.compute_to_reach, dict(target_loss=3.0, params=1e9)),
        "optimal.early_stopping_step": (o.early_stopping_step, dict(params=1e9, tokens=1e10)),
        "optimal.effective_data": (o.effective_data, dict(tokens=1e11, unique_tokens=1e10, r_d_star=15.4)),
        "optimal.effective_params": (o.effective_params, dict(params=1e9, unique_tokens=1e10)),
        "optimal.fit_approach": (o.fit_approach, dict(runs=runs, approach=2, bootstrap=0)),
        "optimal.get_rule": (o.get_rule, dict(key="llama3")),
        "optimal.list_rules": (o.list_rules, {}),
        "optimal.inference_optimal": (o.inference_optimal, dict(law="hoffmann2022", target_loss=2.2,
                                                                inference_tokens=1e12)),
        "optimal.kaplan_frontier": (o.kaplan_frontier, dict(c_min_flops=1e20)),
        "optimal.optimal_allocation": (o.optimal_allocation, dict(law="hoffmann2022", flops=1e21)),
        "optimal.optimal_frontier": (o.optimal_frontier, dict(law="hoffmann2022", flops=[1e20, 1e21])),
        "optimal.optimal_with_unique_cap": (o.optimal_with_unique_cap, dict(law="muennighoff2023", flops=1e22,
                                                                            unique_tokens=1e10)),
        "optimal.overfitting_threshold_tokens": (o.overfitting_threshold_tokens, dict(params=1e9)),
        "optimal.parse_flops_range": (o.parse_flops_range, dict(text="1e20:1e22:3")),
        "optimal.sample_efficiency": (o.sample_efficiency, dict(target_loss=3.0, params=[1e8, 1e9])),
        "optimal.tokens_for_loss": (o.tokens_for_loss, dict(law="hoffmann2022", params=1e9, target_loss=2.5)),
        "optimal.tokens_to_reach": (o.tokens_to_reach, dict(target_loss=3.0, params=1e9)),
        "flops.counted_params": (f.counted_params, dict(arch="llama3-8b", convention="6N")),
        "flops.flops_from_pf_days": (f.flops_from_pf_days, dict(days=1.0)),
        "flops.flops_per_token": (f.flops_per_token, dict(arch="llama3-8b", convention="6N")),
        "flops.flops_report": (f.flops_report, dict(arch="llama3-8b", tokens=1e12, convention="6N")),
        "flops.forward_flops_per_token": (f.forward_flops_per_token, dict(arch="llama3-8b")),
        "flops.get_architecture": (f.get_architecture, dict(spec="llama3-8b")),
        "flops.gpu_hours": (f.gpu_hours, dict(flops=1e21, device=dev, mfu=0.4, dtype="bf16")),
        "flops.list_architectures": (f.list_architectures, {}),
        "flops.pf_days": (f.pf_days, dict(flops=1e21)),
        "flops.ratio_to_6n": (f.ratio_to_6n, dict(arch="llama3-8b")),
        "flops.training_mfu": (f.training_mfu, dict(arch="gpt2", tokens_per_s=1e5, peak_flops_per_s=989.4e12)),
        "flops.training_flops": (f.training_flops, dict(arch="llama3-8b", tokens=1e12)),
        "batch.critical_batch_size": (b.critical_batch_size, dict(loss=2.5, b_star_tokens=2e8, alpha_b=0.21)),
        "batch.min_steps": (b.min_steps, dict(steps=1e4, batch_tokens=1e6, critical_batch_tokens=2e6)),
        "batch.min_compute": (b.min_compute, dict(flops=1e21, batch_tokens=1e6, critical_batch_tokens=2e6)),
        "batch.noise_scale_two_batch": (b.noise_scale_two_batch, dict(b_small=16, grad_sq_small=52.0, b_big=512,
                                                                      grad_sq_big=[3.5, 3.6])),
        "batch.noise_scale_from_table": (b.noise_scale_from_table, dict(data=d["noise"], method="two_batch")),
        "batch.steps_examples_tradeoff": (b.steps_examples_tradeoff, dict(batch_size=256, s_min=1e4, e_min=1e6)),
        "batch.deepseek_learning_rate": (b.deepseek_learning_rate, dict(flops=1e21)),
        "batch.deepseek_batch_tokens": (b.deepseek_batch_tokens, dict(flops=1e21)),
        "hardware.get_device": (h.get_device, dict(name=dev)),
        "hardware.list_devices": (h.list_devices, {}),
        "hardware.ridge_point": (h.ridge_point, dict(device=dev, dtype="bf16")),
        "hardware.training_time": (h.training_time, dict(flops=1e21, device=dev, n_devices=8, mfu=0.4)),
        "hardware.training_cost": (h.training_cost, dict(flops=1e21, device=dev, n_devices=8, mfu=0.4,
                                                         price_usd_per_device_hour=2.0, pue=1.1, power_w=700.0,
                                                         co2_t_per_mwh=0.4)),
        "hardware.energy_kwh": (h.energy_kwh, dict(device_hours=100.0, power_w=700.0, pue=1.1)),
        "hardware.co2_tonnes": (h.co2_tonnes, dict(energy_kwh_value=1000.0, t_co2e_per_mwh=0.4)),
        "hardware.palm_flops_per_token": (h.palm_flops_per_token, dict(n_params=1e9, n_layer=24, n_heads=16,
                                                                       head_dim=128, seq_len=2048)),
        "hardware.mfu_from_throughput": (h.mfu_from_throughput, dict(tokens_per_s=1e5, n_params=1e9, device=dev,
                                                                     n_devices=8, n_layer=24, n_heads=16,
                                                                     head_dim=128, seq_len=2048)),
        "hardware.implied_mfu": (h.implied_mfu, dict(flops=1e21, device_hours=1000.0, device=dev)),
        "hardware.catalogue_key": (h.catalogue_key, dict(device_name="NVIDIA H100 80GB HBM3")),
    }


def _analysis(d: dict) -> dict:
    a = sl.analysis
    runs, metric, curves = d["runs"], d["metric"], d["curves"]
    sig = dict(metric="accuracy", x="flops", chance=0.25, bootstrap=0, seed=0, level=0.95)
    return {
        "analysis.backtest": (a.backtest, dict(data=runs, law="chinchilla", holdout_above=3e20, x="flops",
                                               bootstrap=0, seed=0, level=0.95)),
        "analysis.rolling_backtest": (a.rolling_backtest, dict(data=runs, law="chinchilla", thresholds=[3e20],
                                                               bootstrap=0)),
        "analysis.leave_one_size_out": (a.leave_one_size_out, dict(data=d["sizes"], law="power_floor:params",
                                                                   bootstrap=0, rel_tol=0.02)),
        "analysis.select_law": (a.select_law, dict(data=runs, laws=["power_floor:flops", "chinchilla"],
                                                   holdout_above=3e20, bootstrap=0, regime=False)),
        "analysis.regime_change": (a.regime_change, dict(data=runs, x="flops", holdout_above=3e20, bootstrap=0)),
        "analysis.calibrate": (a.calibrate, dict(result=d["fit"], runs=runs, x="params", origins=2,
                                                 min_fraction=0.4, decay=0.5, refine=4)),
        "analysis.prediction_interval": (a.prediction_interval, dict(result=d["fit"], level=0.9, params=1e9,
                                                                     tokens=2e10)),
        "analysis.identifiability_warnings": (a.identifiability_warnings, dict(runs=runs, law="chinchilla")),
        "analysis.fit_identifiability_warnings": (a.fit_identifiability_warnings, dict(result=d["fit"],
                                                                                       max_orders=1.0)),
        "analysis.fit_sigmoid": (a.fit_sigmoid, dict(data=metric, **sig)),
        "analysis.two_step": (a.two_step, dict(data=metric, law="power_floor:flops", **sig)),
        "analysis.fit_few_shot": (a.fit_few_shot, dict(data=metric, shots_column="shots", **sig)),
        "analysis.emergence": (a.emergence, dict(data=metric, **sig)),
        "analysis.capability_threshold": (a.capability_threshold, dict(data_or_fit=metric, target=0.6, **sig)),
        "analysis.threshold_widening": (a.threshold_widening, dict(data=metric, target=0.6, **sig)),
        "analysis.smooth_vs_break": (a.smooth_vs_break, dict(x=metric["flops"], y=metric["accuracy"], chance=0.25,
                                                             bootstrap=0)),
        "analysis.metric_choice": (a.metric_choice, dict(data=d["tokens_p"], x="params", length=10, bootstrap=0)),
        "analysis.capability_pca": (a.capability_pca, dict(table=d["observed"], benchmarks=["b0", "b1", "b2", "b3"],
                                                           n_components=2, impute_rank=1, model_column="Model")),
        "analysis.observational": (a.observational, dict(table=d["observed"], target="target",
                                                         benchmarks=["b0", "b1", "b2", "b3"], families=["A", "B"],
                                                         n_pcs=1, cutoff_flops=1e23, reference_family="A")),
        "analysis.fit_schedule_law": (a.fit_schedule_law, dict(curves=d["schedule_curves"], decay=0.999, bootstrap=0,
                                                               seed=0, after_warmup=True, form="tissue")),
        "analysis.load_schedule_curves": (a.load_schedule_curves, dict(
            data=d["schedule_curves"].assign(params=[1e6, 2e6] * (len(d["schedule_curves"]) // 2)), name="curves",
            params=1e6)),
        "analysis.compare_schedules": (a.compare_schedules, dict(
            fit=a.fit_schedule_law(d["schedule_curves"], bootstrap=0),
            schedules=["cosine:warmup=50,peak=1e-3,final=1e-4", "wsd:warmup=50,peak=1e-3,cooldown=0.2"], steps=800)),
        "analysis.fit_groups": (a.fit_groups, dict(data=d["groups"], bootstrap=0, flops=[1e20])),
        "analysis.optimal_exponents": (a.optimal_exponents, dict(data=pd.concat([runs.assign(group="A"), runs.assign(group="B")]), approach=2)),
        "analysis.compute_multiplier": (a.compute_multiplier, dict(result_a=d["law_a"], result_b=d["law_b"],
                                                                   flops=[1e20])),
        "analysis.gap_trend": (a.gap_trend, dict(result_a=d["law_a"], result_b=d["law_b"], flops_grid=[1e19, 1e20])),
        "analysis.shape_effect": (a.shape_effect, dict(data=d["shaped"], aspect="aspect", bootstrap=0)),
        "analysis.load_curves": (a.load_curves, dict(source=curves)),
        "analysis.forecast_run": (a.forecast_run, dict(curve=curves, run="N=1e+08", fraction=0.3, bootstrap=0)),
        "analysis.forecast_shared": (a.forecast_shared, dict(curves=curves, run="N=1e+08", fraction=0.3,
                                                             bootstrap=0)),
        "analysis.forecast_backtest": (a.forecast_backtest, dict(curves=curves, fractions=[0.3], bootstrap=0)),
        "analysis.backtest_summary": (a.backtest_summary, dict(table=a.forecast_backtest(curves, [0.3],
                                                                                         bootstrap=0))),
        "analysis.simulate_learning_curves": (a.simulate_learning_curves, dict(sizes=[1e8], E=1.7, A=400.0,
                                                                               alpha=0.34, tokens_final=2e10,
                                                                               n_points=20, noise=0.01)),
    }


def _inference(d: dict) -> dict:
    m, dev = "llama3-8b", "h100-sxm"
    res = d["results"]
    return {
        "memory.fraction": (memory.fraction, dict(field="f", value=0.5)),
        "memory.bytes_per_element": (memory.bytes_per_element, dict(dtype="bf16")),
        "memory.bytes_per_weight": (memory.bytes_per_weight, dict(dtype="int4", group_size=128, scale_bytes=2.0)),
        "memory.weights_bytes": (memory.weights_bytes, dict(model=m, dtype="bf16")),
        "memory.kv_bytes_per_token": (memory.kv_bytes_per_token, dict(model=m, kv_dtype="bf16")),
        "memory.kv_cache_bytes": (memory.kv_cache_bytes, dict(model=m, context_tokens=4096, batch=8)),
        "memory.kv_bytes_per_sequence": (memory.kv_bytes_per_sequence, dict(model=m, context_tokens=4096,
                                                                             kv_dtype="bf16")),
        "memory.kv_window_note": (memory.kv_window_note, dict(model="mistral-7b", context_tokens=8192)),
        "memory.expert_weights_bytes": (memory.expert_weights_bytes, dict(model=m, dtype="bf16")),
        "memory.experts_touched": (memory.experts_touched, dict(n_experts=8, n_active_experts=2, tokens=16)),
        "memory.non_negative_number": (memory.non_negative_number, dict(field="x", value=1.0)),
        "memory.positive_number": (memory.positive_number, dict(field="x", value=1.0)),
        "memory.positive_count": (memory.positive_count, dict(field="x", value=3)),
        "memory.context_note": (memory.context_note, dict(model=m, tokens=4096)),
        "memory.activation_bytes_per_tensor": (memory.activation_bytes_per_tensor, dict(model=m, tokens=4096)),
        "memory.prefill_workspace_bytes": (memory.prefill_workspace_bytes, dict(model=m, prefill_tokens=4096)),
        "memory.kv_shards": (memory.kv_shards, dict(model=m, n_devices=2)),
        "memory.memory_report": (memory.memory_report, dict(model=m, context_tokens=4096, batch=4, device=dev,
                                                            n_devices=2, usable_memory_fraction=0.9,
                                                            prefill_tokens=1024, group_size=None, scale_bytes=2.0)),
        "memory.max_batch": (memory.max_batch, dict(model=m, device=dev, context_tokens=4096, n_devices=1)),
        "memory.max_context": (memory.max_context, dict(model=m, device=dev, batch=1, n_devices=1)),
        "memory.fits": (memory.fits, dict(model=m, device=dev, n_devices=1)),
        "metrics.exact_match_curve": (metrics.exact_match_curve, dict(per_token_p=0.9, answer_length=10)),
        "metrics.token_edit_distance": (metrics.token_edit_distance, dict(per_token_p=0.9, answer_length=10)),
        "metrics.metric_comparison": (metrics.metric_comparison, dict(n_params=[1e8, 1e9, 1e10],
                                                                      per_token_loss=[2.0, 1.5, 1.0],
                                                                      answer_length=10)),
        "metrics.model_bandwidth_utilization": (metrics.model_bandwidth_utilization, dict(
            bytes_per_step=1.6e10, time_per_token_s=0.01, device=dev, n_devices=1)),
        "metrics.model_flops_utilization": (metrics.model_flops_utilization, dict(
            active_params=8e9, tokens_per_s=100.0, device=dev, n_devices=1)),
        "metrics.per_token_loss_power_law": (metrics.per_token_loss_power_law, dict(n_params=1e9, scale_params=1e8,
                                                                                    alpha=-0.1)),
        "quality.pass_at_k": (quality.pass_at_k, dict(n=10, c=3, k=5)),
        "quality.load_results": (quality.load_results, dict(data=res)),
        "quality.load_results_by_temperature": (quality.load_results_by_temperature, dict(data=d["by_temp"])),
        "quality.default_ks": (quality.default_ks, dict(max_k=100)),
        "quality.coverage_curve": (quality.coverage_curve, dict(data=res, ks=[1, 2, 4])),
        "quality.coverage_law": (quality.coverage_law, dict(k=10, a=-2.0, b=-0.3)),
        "quality.samples_for_coverage": (quality.samples_for_coverage, dict(a=-2.0, b=-0.3, target=0.5)),
        "quality.fit_coverage": (quality.fit_coverage, dict(data=res, ks=[1, 2, 4, 8], bootstrap=0)),
        "quality.best_temperature": (quality.best_temperature, dict(data=d["by_temp"], ks=[1, 4])),
        "speed.default_compute_dtype": (speed.default_compute_dtype, dict(weight_dtype="int4", device=dev)),
        "speed.decode_step": (speed.decode_step, dict(weights_bytes=1.6e10, kv_bytes_per_sequence=5e8,
                                                      active_params=8e9, device=dev, batch=4, n_devices=1,
                                                      compute_efficiency=0.8, bandwidth_efficiency=0.8)),
        "speed.prefill_step": (speed.prefill_step, dict(model=m, device=dev, prompt_tokens=1024, batch=2)),
        "speed.serving_speed": (speed.serving_speed, dict(model=m, device=dev, n_devices=1, batch=8,
                                                          context_tokens=4096, prompt_tokens=512)),
        "speed.batch_range": (speed.batch_range, dict(low=1, high=64)),
        "speed.batch_sweep": (speed.batch_sweep, dict(model=m, device=dev, batches=[1, 8])),
        "speed.model_size_sweep": (speed.model_size_sweep, dict(models=[m], device=dev)),
        "speed.measured_efficiency": (speed.measured_efficiency, dict(report=d["report"], time_per_token_s=0.05)),
        "testtime.log_linear_law": (testtime.log_linear_law, dict(x=[1.0, 10.0], p=0.1, q=0.05)),
        "testtime.sigmoid_law": (testtime.sigmoid_law, dict(x=[1.0, 10.0], low=0.1, high=0.9, k=2.0, x0=1.0)),
        "testtime.fit_test_time": (testtime.fit_test_time, dict(x=d["tt_x"], accuracy=d["tt_acc"], bootstrap=0)),
    }


@functools.cache
def cases() -> dict:
    """Every public call with valid arguments: ``{name: (function, kwargs)}``."""
    d = _data()
    return {**_top_level(d), **_plan(d), **_analysis(d), **_inference(d)}
