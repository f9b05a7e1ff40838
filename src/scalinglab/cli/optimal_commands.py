"""CLI command ``optimal``: compute-optimal allocation from a law, a published rule, or runs.

Modes (exactly one):

* ``scalinglab optimal --law LAW --flops C [--json]``: N_opt, D_opt, tokens/param and loss of a fitted
  or published law (:mod:`scalinglab.plan.allocation`); JSON keys ``flops``, ``params``, ``tokens``,
  ``tokens_per_param``, ``loss`` (+ ``params_ci``, ``tokens_ci`` with bootstrap draws),
  ``extrapolation`` (decades of N, D and C outside the law's data) and ``warnings``. A fit whose data
  leave A, B, alpha or beta undetermined is refused (exit 2) unless ``--allow-unidentified``; then, and
  for an undetermined E (which moves the loss, not the allocation), ``warnings`` names them. A range
  ``--flops 1e20:1e26:7`` (or a comma list) gives a JSON list of such objects.
* ``scalinglab optimal --rule RULE --flops C [--json]``: a published compute-optimal rule
  (:mod:`scalinglab.plan.rules`; ``--rule list`` lists them). ``--rule kaplan2020`` takes the training
  compute C and converts it to Kaplan's C_min = C / (1 + B/B_crit) (eq. 5.5; B = B_crit unless
  ``--batch-over-critical R``); ``--c-min`` gives C_min instead. Its JSON adds ``budget`` ("C" or
  "C_min"), ``c_min_flops``, ``c_min_pf_days``, ``batch_over_critical``, ``critical_batch_tokens``,
  ``batch_tokens``, ``min_steps``, ``steps`` and ``loss`` (L(C_min), nats/token); ``flops`` is always C.
* ``scalinglab optimal DATA --approach 1|2|3 [--bootstrap N] [--seed S] [--json]``: Hoffmann et al.
  2022's approaches on a runs table (:mod:`scalinglab.plan.approaches`); JSON keys ``approach``, ``a``,
  ``b``, ``a_ci``, ``b_ci`` (with --bootstrap), ``frontier`` (list of {flops, params, tokens}); approach
  2 adds ``profile_method``, ``loss_noise`` (nats/token) and ``loss_noise_source``. Approach 2's
  ``--profile akima|cubic|parabola|local`` chooses how each IsoFLOP profile's minimum is read (default:
  Akima, Porian et al. 2024's procedure, references.md D5, on exact budgets with 5 or more sizes
  each, else the cubic) and ``--loss-noise`` the seed-to-seed loss noise of its noise bootstrap.
* ``scalinglab optimal DATA --compare``: the three approaches side by side (JSON: one object per
  approach with ``a``, ``b``, ``a_ci``, ``b_ci``, ``params``, ``tokens``, ``warnings``, ``error``).

Approaches 1 and 2 leave out FLOP levels whose optimum is not bracketed by the sampled sizes;
``--keep-unbracketed`` keeps them. Human tables keep every number on one line (units in the headers).
"""

from __future__ import annotations

from typing import Any, Optional

import typer

from scalinglab.cli.common import Table, _emit_json, _parse_cols, app, out
from scalinglab.errors import ScalingLabError


@app.command("optimal")
def optimal_cmd(
    data: Optional[str] = typer.Argument(None, help="Runs table (CSV, Parquet, JSON-lines) for --approach or --compare."),
    law: Optional[str] = typer.Option(None, "--law", help="A fit JSON written by 'fit --out', or a published law."),
    rule: Optional[str] = typer.Option(None, "--rule", help="A published compute-optimal rule ('list' shows them)."),
    flops: Optional[str] = typer.Option(None, "--flops", help="Budget in FLOPs (1e21), a range start:stop:count "
                                        "(1e20:1e26:7) or a comma list."),
    approach: Optional[int] = typer.Option(None, "--approach", help="Hoffmann et al. 2022 approach 1, 2 or 3."),
    compare: bool = typer.Option(False, "--compare", help="Approaches 1, 2 and 3 side by side."),
    bootstrap: int = typer.Option(0, help="Bootstrap resamples for intervals on a and b (0 = none)."),
    seed: int = typer.Option(0, help="Seed for the bootstrap."),
    level: float = typer.Option(0.95, help="Confidence level of the intervals."),
    degree: Optional[int] = typer.Option(None, help="Approach 2: profile polynomial, 2 (parabola) or 3 (cubic); "
                                         "the older spelling of --profile parabola|cubic."),
    profile: Optional[str] = typer.Option(None, "--profile", help="Approach 2: profile method akima|cubic|parabola|local "
                                          "(default: akima on exact budgets with >= 5 sizes each, else cubic)."),
    loss_noise: Optional[float] = typer.Option(None, "--loss-noise",
                                               help="Approach 2: loss noise sigma between seeds (nats/token) for the "
                                                    "noise bootstrap (default: from repeated seeds in DATA)."),
    bins: Optional[int] = typer.Option(None, "--bins", help="Approaches 1 and 2: number of log-spaced FLOP levels."),
    keep_unbracketed: bool = typer.Option(False, "--keep-unbracketed",
                                          help="Approaches 1 and 2: keep FLOP levels whose optimum lies outside "
                                               "the sampled sizes (left out by default)."),
    col: list[str] = typer.Option([], "--col", help="Column mapping name=column, e.g. params=\"Model Size\"."),
    drop_highest_loss: int = typer.Option(0, help="Drop the K highest-loss rows before the analysis."),
    allow_unidentified: bool = typer.Option(False, "--allow-unidentified",
                                            help="Answer even when the fit's data leave a parameter undetermined "
                                                 "(JSON 'warnings' then names it)."),
    c_min: bool = typer.Option(False, "--c-min", help="--rule kaplan2020: --flops is Kaplan's C_min (compute at a "
                               "batch far below B_crit), not the training compute C."),
    batch_over_critical: Optional[float] = typer.Option(None, "--batch-over-critical",
                                                        help="--rule kaplan2020: B/B_crit of the run (default 1: "
                                                             "the critical batch, C = 2 C_min)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compute-optimal model size and tokens: from a law (--law), a published rule (--rule), or runs
    (DATA --approach 1|2|3, DATA --compare)."""
    modes = [name for name, given in (("--law", law), ("--rule", rule), ("DATA", data)) if given is not None]
    if len(modes) != 1:
        raise ScalingLabError("give exactly one of --law LAW, --rule RULE or a DATA table"
                              + (f" (got {' and '.join(modes)})" if modes else
                                 ": e.g. 'optimal --law hoffmann2022 --flops 1e23' or 'optimal runs.csv --approach 2'"))
    data_opts = {"--approach": approach is not None, "--compare": compare, "--bootstrap": bootstrap != 0,
                 "--degree": degree is not None, "--bins": bins is not None, "--col": bool(col),
                 "--keep-unbracketed": keep_unbracketed, "--seed": seed != 0, "--level": level != 0.95,
                 "--drop-highest-loss": drop_highest_loss != 0, "--profile": profile is not None,
                 "--loss-noise": loss_noise is not None}
    if data is None:
        used = [name for name, on in data_opts.items() if on]
        if used:
            raise ScalingLabError(f"{used[0]} works on a DATA table of runs, not with {modes[0]}")
        if rule is not None and rule.strip().lower() == "list":
            return _list_rules(as_json)
        if flops is None:
            raise ScalingLabError(f"{modes[0]} needs --flops C (a budget in FLOPs, or start:stop:count)")
        if law is None and allow_unidentified:
            raise ScalingLabError("--allow-unidentified applies to a fitted law (--law) or a DATA table, not to --rule")
        kaplan = {"c_min": c_min, **({} if batch_over_critical is None else {"batch_over_critical": batch_over_critical})}
        if law is not None:
            _kaplan_options(kaplan, None)
            return _law_mode(law, flops, as_json, allow_unidentified)
        return _rule_mode(rule, flops, as_json, kaplan)
    _kaplan_options({"c_min": c_min, "batch_over_critical": batch_over_critical}, None)
    if (approach is None) == (not compare):
        raise ScalingLabError("with a DATA table give either --approach 1|2|3 or --compare")
    load = {"columns": _parse_cols(col) or None, "drop_highest_loss": drop_highest_loss}
    profile_opts = {k: v for k, v in (("method", profile), ("loss_noise", loss_noise)) if v is not None}
    if compare:
        if degree is not None or bins is not None:
            raise ScalingLabError("--degree and --bins apply to --approach, not to --compare")
        return _compare_mode(data, flops, bootstrap, seed, level, load, not keep_unbracketed, as_json, profile_opts)
    options = _approach_options(approach, degree, bins, keep_unbracketed, profile_opts)
    if allow_unidentified:
        if approach != 3:
            raise ScalingLabError(f"--allow-unidentified applies to approach 3 (a fitted law), not approach {approach}")
        options["allow_unidentified"] = True
    return _approach_mode(data, approach, flops, bootstrap, seed, level, load, options, as_json)


def _approach_options(approach: int, degree: int | None, bins: int | None,
                      keep_unbracketed: bool, profile_opts: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = dict(profile_opts)
    if profile_opts and approach != 2:
        flag = "--profile" if "method" in profile_opts else "--loss-noise"
        raise ScalingLabError(f"{flag} applies to approach 2 (IsoFLOP profiles), not approach {approach}")
    if keep_unbracketed:
        if approach not in (1, 2):
            raise ScalingLabError(f"--keep-unbracketed applies to approaches 1 and 2, not approach {approach}")
        options["require_bracket"] = False
    if degree is not None:
        if approach != 2:
            raise ScalingLabError(f"--degree applies to approach 2 (IsoFLOP profiles), not approach {approach}")
        options["degree"] = degree
    if bins is not None:
        if approach not in (1, 2):
            raise ScalingLabError(f"--bins applies to approaches 1 and 2, not approach {approach}")
        options["n_bins"] = bins
    return options


# ---- from a law or a rule ------------------------------------------------------------------------
def _wants_list(text: str) -> bool:
    return ":" in text or "," in text


def _law_mode(law: str, flops: str, as_json: bool, allow_unidentified: bool = False) -> None:
    from scalinglab.plan.allocation import optimal_frontier, parse_flops_range
    from scalinglab.resolve import law_name, resolve_law

    budgets = parse_flops_range(flops)
    resolved = resolve_law(law)
    allocations = optimal_frontier(resolved, budgets, allow_unidentified=allow_unidentified)
    if as_json:
        dicts = [a.to_dict() for a in allocations]
        _emit_json(dicts if _wants_list(flops) else dicts[0])
        return
    t = _numeric_table(f"Compute-optimal allocation: {law_name(resolved)} ({allocations[0].method}, C = 6ND)",
                       _FRONTIER_HEADERS + ("loss\n(nats/token)", "extrap.\n(decades)"))
    for a in allocations:
        t.add_row(f"{a.flops:.3g}", f"{a.params:.4g}", f"{a.tokens:.4g}", f"{a.tokens_per_param:.3g}", f"{a.loss:.4f}",
                  _farthest(a.extrapolation))
    out.print(t)
    with_ci = [a for a in allocations if a.params_ci is not None]
    if with_ci:  # a second table: the intervals do not fit beside the values in 80 columns
        level = with_ci[0].level
        ci = _numeric_table(f"{100 * level:g}% bootstrap intervals (parameter uncertainty only)",
                            ("C\n(FLOPs)", "N_opt interval\n(params)", "D_opt interval\n(tokens)",
                             "loss interval\n(nats/token)"))
        for a in with_ci:
            loss_ci = f"{a.loss_ci[0]:.4f} .. {a.loss_ci[1]:.4f}" if a.loss_ci else "-"
            ci.add_row(f"{a.flops:.3g}", _span(a.params_ci), _span(a.tokens_ci), loss_ci)
        out.print(ci)
    _print_extrapolation(resolved, allocations)
    for note in dict.fromkeys(n for a in allocations for n in a.notes):
        out.print(f"note: {note}", markup=False)


def _farthest(extrap: dict[str, Any] | None) -> str:
    """The largest distance outside the data and its quantity (N, D or C): '1.67 D', '0', '-' (unknown)."""
    known = {q: v for q, v in zip("NDC", (extrap or {}).values()) if v is not None}
    if not known:
        return "-"
    q = max(known, key=known.get)
    return f"{known[q]:.2f} {q}" if known[q] > 0 else "0"


def _print_extrapolation(law: Any, allocations: list[Any]) -> None:
    """The extrapolation line of one allocation, or of the farthest of several, and its warnings."""
    from scalinglab.resolve import extrapolation_text, law_name

    far = max(allocations, key=lambda a: a.reach)
    text = extrapolation_text(law, params=far.params, tokens=far.tokens, flops=far.flops)
    several = len(allocations) > 1
    out.print(text.replace("extrapolation:", f"extrapolation at C = {far.flops:.3g} (the farthest):", 1)
              if several and far.reach > 0 else text, markup=False)
    warned = [a for a in allocations if a.extrapolation_warnings]
    if several and len(warned) > 1:
        out.print(f"warning: {len(warned)} of {len(allocations)} budgets lie more than one decade outside the "
                  f"data of law {law_name(law)}; the farthest, C = {far.flops:.3g}:", markup=False)
    for w in far.warnings:
        out.print(f"warning: {w}", markup=False)


def _kaplan_options(options: dict[str, Any], rule: Any) -> dict[str, Any]:
    """The --c-min / --batch-over-critical options, refused unless the rule is Kaplan's (KaplanRule)."""
    from scalinglab.plan.rules import KaplanRule

    given = [name for name, on in (("--c-min", options.get("c_min")),
                                   ("--batch-over-critical", options.get("batch_over_critical") is not None)) if on]
    if given and not isinstance(rule, KaplanRule):
        what = f"rule {rule.key}" if rule is not None else "a law or a DATA table"
        raise ScalingLabError(f"{given[0]} applies to --rule kaplan2020 (Kaplan's C_min convention), not to {what}")
    return options if isinstance(rule, KaplanRule) else {}


def _rule_mode(key: str, flops: str, as_json: bool, kaplan: dict[str, Any] | None = None) -> None:
    from scalinglab.plan.allocation import parse_flops_range
    from scalinglab.plan.rules import get_rule

    rule = get_rule(key)
    options = _kaplan_options(kaplan or {}, rule)
    allocations = [rule.optimal(c, **options) for c in parse_flops_range(flops)]
    if as_json:
        dicts = [a.to_dict() for a in allocations]
        _emit_json(dicts if _wants_list(flops) else dicts[0])
        return
    var = rule.budget_variable
    t = _numeric_table(f"Compute-optimal rule {rule.key}: N_opt ∝ {var}^{rule.a:g}, D_opt ∝ {var}^{rule.b:g}",
                       _FRONTIER_HEADERS + (_KAPLAN_HEADERS if options else ()))
    for a in allocations:
        row = [f"{a.flops:.3g}", f"{a.params:.4g}", f"{a.tokens:.4g}", f"{a.tokens_per_param:.3g}"]
        if a.kaplan is not None:
            k = a.kaplan
            row += [f"{k['c_min_flops']:.3g}", f"{k['batch_tokens']:.3g}", f"{k['steps']:.3g}", f"{k['loss']:.4f}"]
        t.add_row(*row)
    out.print(t)
    for what, how in allocations[0].derived.items():
        out.print(f"{what} derived: {how}", markup=False)
    out.print(f"source: {rule.citation}\nnormalisation: {rule.normalisation}\nunits: {rule.units}", markup=False)
    if rule.notes:
        out.print(f"note: {rule.notes}", markup=False)


def _list_rules(as_json: bool) -> None:
    from scalinglab.plan.rules import list_rules

    rules = list_rules()
    if as_json:
        _emit_json(rules)
        return
    t = Table(title="Published compute-optimal rules (N_opt ∝ C^a, D_opt ∝ C^b)")
    for c in ("key", "a", "b", "formulas", "source"):
        t.add_column(c)
    for r in rules:
        t.add_row(r["key"], f"{r['a']:g}", f"{r['b']:g}", "\n".join(f"{k} = {v}" for k, v in r["formulas"].items()),
                  r["citation"])
    out.print(t)


# ---- from runs -----------------------------------------------------------------------------------
def _approach_mode(data: str, approach: int, flops: str | None, bootstrap: int, seed: int, level: float,
                   load: dict[str, Any], options: dict[str, Any], as_json: bool) -> None:
    from scalinglab.plan.allocation import parse_flops_range
    from scalinglab.plan.approaches import fit_approach

    budgets = parse_flops_range(flops) if flops is not None else None
    result = fit_approach(data, approach, bootstrap=bootstrap, seed=seed, level=level, **load, **options)
    if budgets is not None:
        result.frontier = result.frontier_at(budgets)
    if as_json:
        _emit_json(result.to_dict())
        return
    for line in result.header_lines():
        out.print(line, markup=False)
    with_ci = any("params_ci" in f for f in result.frontier)
    t = _numeric_table("Compute-optimal frontier (C = 6ND)",
                       _FRONTIER_HEADERS + ((f"N_opt {100 * level:g}%\ninterval (params)",) if with_ci else ()))
    for f in result.frontier:
        row = [f"{f['flops']:.3g}", f"{f['params']:.4g}", f"{f['tokens']:.4g}", f"{f['tokens'] / f['params']:.3g}"]
        t.add_row(*(row + ([_span(f.get("params_ci"))] if with_ci else [])))
    out.print(t)
    for w in result.warnings:
        out.print(f"warning: {w}", markup=False)
    for n in result.notes:
        out.print(f"note: {n}", markup=False)


def _compare_mode(data: str, flops: str | None, bootstrap: int, seed: int, level: float,
                  load: dict[str, Any], require_bracket: bool, as_json: bool,
                  profile_opts: dict[str, Any] | None = None) -> None:
    from scalinglab.plan.allocation import parse_flops_range
    from scalinglab.plan.approaches import compare_approaches

    budget = None
    if flops is not None:
        budgets = parse_flops_range(flops)
        if len(budgets) != 1:
            raise ScalingLabError(f"--compare takes a single --flops budget, got {len(budgets)}")
        budget = budgets[0]
    table = compare_approaches(data, bootstrap=bootstrap, seed=seed, flops=budget, level=level,
                               require_bracket=require_bracket, **load, profile=(profile_opts or {}).get("method"),
                               loss_noise=(profile_opts or {}).get("loss_noise"))
    records = table.to_dict(orient="records")
    if all(r["error"] for r in records):
        errors = list(dict.fromkeys(r["error"] for r in records))
        raise ScalingLabError("no approach could run: " + (errors[0] if len(errors) == 1 else "; ".join(
            f"approach {r['approach']}: {r['error']}" for r in records)))
    if as_json:
        _emit_json(records)
        return
    c_text = f"{table['flops'].dropna().iloc[0]:.3g}"
    t = Table(title=f"Hoffmann et al. 2022 approaches side by side (N_opt, D_opt at C = {c_text} FLOPs)",
              caption="a: N_opt ∝ C^a; b: D_opt ∝ C^b; N_opt in parameters, D_opt in tokens, D/N in tokens "
                      "per parameter; warnings: how many, or why the approach could not run")
    for c in ("#", "a", "b", "N_opt", "D_opt", "D/N", "warnings"):
        t.add_column(c, justify="left" if c == "warnings" else "right", no_wrap=c != "warnings")
    for r in records:
        if r["error"]:
            t.add_row(str(r["approach"]), "-", "-", "-", "-", "-", str(r["error"]))
            continue
        t.add_row(str(r["approach"]), _value_ci(r["a"], r["a_ci"]), _value_ci(r["b"], r["b_ci"]),
                  f"{r['params']:.3g}", f"{r['tokens']:.3g}",
                  f"{r['tokens_per_param']:.3g}", f"{int(r['n_warnings'])}")
    out.print(t)
    for r in records:
        for w in r["warnings"]:
            out.print(f"warning (approach {r['approach']}): {w}", markup=False)


#: Frontier headers: units on a second line, so that the columns stay narrow enough for 80 columns.
_FRONTIER_HEADERS = ("C\n(FLOPs)", "N_opt\n(params)", "D_opt\n(tokens)", "D/N\n(tokens/param)")
_KAPLAN_HEADERS = ("C_min\n(FLOPs)", "B\n(tokens)", "S\n(steps)", "L(C_min)\n(nats/token)")


def _numeric_table(title: str, headers: tuple[str, ...]) -> Table:
    """A table of right-aligned numeric columns that never wrap or cut a number (no_wrap)."""
    t = Table(title=title)
    for h in headers:
        t.add_column(h, justify="right", no_wrap=True)
    return t


def _span(ci: list[float] | None) -> str:
    return f"{ci[0]:.3g} .. {ci[1]:.3g}" if ci else "-"


def _value_ci(value: float, ci: list[float] | None) -> str:
    text = f"{value:.4f}"
    return f"{text}\n[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else text  # None: no bootstrap
