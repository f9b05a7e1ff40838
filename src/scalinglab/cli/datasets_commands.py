"""CLI commands for the public data sets: ``scalinglab datasets list`` and ``scalinglab datasets path``."""

from __future__ import annotations

from typing import Optional

import pandas as pd
import typer

from scalinglab.cli.common import _emit_json, app

datasets_app = typer.Typer(no_args_is_help=True, help="Public scaling data sets by name (list, path).")
app.add_typer(datasets_app, name="datasets")


@datasets_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the registered data sets and their tables (* = default table), local or not."""
    from scalinglab.datasets import REGISTRY, data_dir, list_datasets

    df = list_datasets()
    if as_json:
        keys = ("name", "table", "description", "citation", "licence", "source", "local", "default", "runs", "rows")
        _emit_json([{k: _plain(r[k]) for k in keys} for r in df.to_dict("records")])
        return
    typer.echo(f"data folder: {data_dir()}  (* = default table; runs = load_runs accepts it)")
    for name, tables in df.groupby("name", sort=False):
        ds = REGISTRY[str(name)]
        typer.echo(f"\n{ds.name}: {ds.description}\n  cite: {ds.citation}\n  licence: {ds.licence}\n"
                   f"  source: {ds.repository or 'unknown'} at commit {ds.commit or 'unknown'}")
        for r in tables.to_dict("records"):
            t = ds.table(r["table"])
            rows = "-" if _plain(r["rows"]) is None else f"{int(r['rows']):,} rows"
            where = t.source_path or "path unknown (derived)"
            typer.echo(f"  {'*' if r['default'] else ' '} {r['table']:<36} {rows:>12}  "
                       f"{'local' if r['local'] else 'not local':<9}  {'runs' if r['runs'] else '-':<4}  {where}")


@datasets_app.command("path")
def path_cmd(
    name: str = typer.Argument(..., help="Data set name, or name/table (see 'scalinglab datasets list')."),
    table: Optional[str] = typer.Option(None, "--table", help="Table of the data set (default: its default table)."),
    no_download: bool = typer.Option(False, "--no-download", help="Never use the network."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the local path of a data set's file (checksum verified; downloaded when missing)."""
    from scalinglab.datasets import get, path

    ds, t = get(name, table)
    file = path(ds.name, t.name, download=not no_download)
    if as_json:
        _emit_json({"name": ds.name, "table": t.name, "path": str(file), "sha256": t.sha256})
    else:
        typer.echo(str(file))


def _plain(value: object) -> object:
    """A pandas cell as plain JSON: missing -> None, numpy scalars -> Python."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
