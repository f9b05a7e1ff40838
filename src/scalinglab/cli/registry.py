"""Which module defines each command, its one-line help and its help panel, and the click group that
lists the commands without importing them.

``scalinglab --help`` reads :data:`COMMANDS` only; ``scalinglab fit ...`` imports ``fit_commands`` (and
what it imports) and nothing else, so an answer costs what its command uses. A command module registers
its commands on the shared typer ``app`` (:mod:`scalinglab.cli.common`) when imported; a new command
needs a row here (tests/test_cli_startup.py checks that the rows and the modules agree).
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import typer
import typer.core
import typer.main


class Listed(NamedTuple):
    """A command's row: the module of :mod:`scalinglab.cli` that defines it, its one-line help, its panel."""

    module: str
    help: str
    panel: str


FIT, PLAN, SERVE, ANALYSE, LAB, REPORT = ("Fit and predict", "Plan", "Serve", "Analyse", "Lab",
                                          "Report and data")
#: The help panels in the order ``--help`` shows them.
PANELS = (FIT, PLAN, SERVE, ANALYSE, LAB, REPORT)

#: Every top-level command (a sub-app such as ``schedule`` is one row), in the order ``--help`` lists them.
COMMANDS: dict[str, Listed] = {
    "fit": Listed("fit_commands", "Fit a scaling law to a table of runs.", FIT),
    "predict": Listed("fit_commands", "Predict the loss of a fitted or published law.", FIT),
    "laws": Listed("fit_commands", "List the law families and the published laws.", FIT),
    "forecast": Listed("forecast_commands", "Forecast a run's final loss from its early curve.", FIT),
    "schedule": Listed("schedule_commands", "Whole loss curves under any learning-rate schedule.", FIT),
    "simulate": Listed("fit_commands", "Simulate an IsoFLOP sweep and check a fit recovers it.", FIT),
    "optimal": Listed("optimal_commands", "Compute-optimal N and D from a law, a rule or runs.", PLAN),
    "inference-optimal": Listed("inference_commands", "Cheapest model for a loss, counting inference FLOPs.", PLAN),
    "overtrain": Listed("overtrain_commands", "Over-training: Gadre et al.'s laws, token multiplier.", PLAN),
    "flops": Listed("flops_commands", "Parameters and training FLOPs of an architecture.", PLAN),
    "architectures": Listed("flops_commands", "List the architecture presets with parameter counts.", PLAN),
    "cost": Listed("hardware_commands", "Training time, device-hours, cost and energy of a budget.", PLAN),
    "devices": Listed("hardware_commands", "List the accelerator catalogue with sources.", PLAN),
    "batch": Listed("hardware_commands", "Critical batch size, noise scale, DeepSeek batch/LR.", PLAN),
    "memory": Listed("serving_commands", "Serving memory: weights, KV cache; whether it fits.", SERVE),
    "speed": Listed("serving_commands", "Roofline decode/prefill speed, time to first token.", SERVE),
    "passk": Listed("quality_commands", "Unbiased pass@k over problems (Chen et al. 2021).", SERVE),
    "coverage": Listed("quality_commands", "Coverage c(k) = exp(a k^b) vs samples (Brown et al.).", SERVE),
    "backtest": Listed("analysis_commands", "Fit the small runs, predict the large ones, score it.", ANALYSE),
    "compare": Listed("groups_commands", "One law per group of runs: exponents, multipliers.", ANALYSE),
    "emergence": Listed("emergence_commands", "Sigmoid fit of accuracy; smooth curve or a break?", ANALYSE),
    "threshold": Listed("emergence_commands", "Smallest compute or size where a target is reached.", ANALYSE),
    "observe": Listed("observe_commands", "Larger models' capabilities from smaller models' scores.", ANALYSE),
    "demo": Listed("fit_commands", "Train a small sweep here, fit, plan, write the report.", LAB),
    "sweep": Listed("lab_commands", "Design a sweep and train it into a run store.", LAB),
    "runs": Listed("lab_commands", "List the runs of a store, or export them.", LAB),
    "import": Listed("import_commands", "Import TensorBoard, MLflow or W&B runs into a store.", LAB),
    "report": Listed("report_commands", "One self-contained HTML report of a fit and its runs.", REPORT),
    "plot": Listed("report_commands", "Draw one figure by kind, as PNG or SVG.", REPORT),
    "datasets": Listed("datasets_commands", "Public scaling data sets by name (list, path).", REPORT),
}


class _Unloaded(typer.core.TyperCommand):
    """What ``--help`` lists for a command whose module is not imported yet: its name, help and panel."""

    def __init__(self, name: str, row: Listed) -> None:
        super().__init__(name, short_help=row.help, rich_help_panel=row.panel)


def _flags_as_flags(cmd: Any) -> None:
    """Show boolean flags as flags in help: no type column (typer's rich help would print ``<bool>``)."""
    help_option = cmd.get_help_option(typer.Context(cmd))  # click creates it once and keeps it
    for param in [*cmd.params, help_option]:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(cmd, "commands", {}).values():
        _flags_as_flags(sub)


def _as_listed(cmd: Any, row: Listed) -> Any:
    """A loaded command with its table help and panel, so that ``--help`` reads the same loaded or not."""
    cmd.short_help, cmd.rich_help_panel = row.help, row.panel
    _flags_as_flags(cmd)
    return cmd


class LazyGroup(typer.core.TyperGroup):
    """The ``scalinglab`` group (typer's ``cls=``): lists :data:`COMMANDS` without importing them and
    imports a command's module when the command is run (or asked for its own ``--help``)."""

    def __init__(self, *, commands: Any = None, **kwargs: Any) -> None:
        loaded = dict(commands or {})  # commands whose modules are imported (typer built them)
        listed = {name: _as_listed(loaded.pop(name), row) if name in loaded else _Unloaded(name, row)
                  for name, row in COMMANDS.items()}
        super().__init__(commands={**listed, **loaded}, **kwargs)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and isinstance(self.commands.get(args[0]), _Unloaded):
            self.commands[args[0]] = load_command(args[0])
        return super().resolve_command(ctx, args)


def load_command(name: str) -> Any:
    """Import the module of command ``name`` and return the click command typer builds from it."""
    module = importlib.import_module(f"scalinglab.cli.{COMMANDS[name].module}")
    group = typer.main.get_command(module.app)  # the shared app, with the commands registered so far
    command = getattr(group, "commands", {}).get(name)
    if command is None:
        raise RuntimeError(f"scalinglab.cli.{COMMANDS[name].module} does not define the command '{name}'")
    return command
