"""The HTML page of the report: escaping, number formatting, tables, embedded figures, the template.

The page is one file: CSS inline, figures as base64 PNG ``data:`` URLs, a Content-Security-Policy that
forbids every network request (``default-src 'none'``), and one small inline script that (a) lets a
click enlarge a figure and (b) records, on ``<body>``, how many figures rendered
(``data-figures``, ``data-figures-rendered``, ``data-figures-ok``), how many script errors happened
(``data-errors``) and how many tables are wider than the page (``data-tables-overflowing``: they would
need a horizontal scrollbar), which a headless browser test reads back.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure

import scalinglab.report.style as style


def esc(text: Any) -> str:
    """``text`` as HTML-safe text."""
    return html.escape(str(text), quote=True)


def num(value: Any, digits: int = 4) -> str:
    """A number for a reader: plain for 0.001 <= |v| < 1e5, else m.mm × 10<sup>k</sup>; '–' for None/NaN."""
    if value is None:
        return "–"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return esc(value)
    if not math.isfinite(v):
        return "–" if math.isnan(v) else ("∞" if v > 0 else "−∞")
    if v == 0 or 1e-3 <= abs(v) < 1e5:
        return esc(f"{v:,.0f}" if abs(v) >= 10**digits else f"{v:.{digits}g}")
    k = math.floor(math.log10(abs(v)))
    m = v / 10.0**k
    if round(m, digits - 1) >= 10:
        m, k = m / 10.0, k + 1
    return f"{m:.{digits - 1}f}&nbsp;×&nbsp;10<sup>{k}</sup>"


def interval(ci: Sequence[float] | None, digits: int = 4) -> str:
    """'[low, high]' or '–'."""
    return f"[{num(ci[0], digits)}, {num(ci[1], digits)}]" if ci is not None else "–"


def with_interval(value: Any, ci: Sequence[float] | None, digits: int = 3, ci_digits: int | None = None) -> str:
    """A value with its interval on a second, smaller line (keeps a table narrow); the value alone
    without an interval."""
    if ci is None:
        return num(value, digits)
    return f'{num(value, digits)}<br><span class="ci">{interval(ci, ci_digits or digits)}</span>'


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1, cls: str = "") -> str:
    """A table of already-formatted HTML cells; columns from ``numeric_from`` on are right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    attr = f' class="{cls}"' if cls else ""
    return (f'<div class="scroll"><table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table></div>")


def bullets(items: Sequence[str], cls: str = "") -> str:
    """An unordered list of plain-text items (escaped)."""
    attr = f' class="{cls}"' if cls else ""
    return f"<ul{attr}>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>" if items else ""


@dataclass
class EmbeddedFigure:
    """A figure rendered for the page: its id, title, caption (plain text) and PNG bytes."""

    key: str
    title: str
    caption: str
    png: bytes
    width: int
    height: int

    def html(self) -> str:
        data = base64.b64encode(self.png).decode("ascii")
        return (f'<figure id="fig-{esc(self.key)}"><img src="data:image/png;base64,{data}" alt="{esc(self.title)}" '
                f'title="{esc(self.title)} (click to enlarge)" width="{self.width}" height="{self.height}">'
                f"<figcaption><b>{esc(self.title)}.</b> {esc(self.caption)}</figcaption></figure>")


def embed(fig: Figure, key: str, title: str, caption: str) -> EmbeddedFigure:
    """Render ``fig`` as PNG at the report's resolution (the Figure is cleared afterwards)."""
    png = style.png_bytes(fig, style.REPORT_DPI)
    w, h = style.pixel_size(fig, style.REPORT_DPI)
    fig.clear()
    return EmbeddedFigure(key, title, caption, png, w, h)


CSS = """
:root { --ink: #1d1d1f; --muted: #5f6368; --rule: #d9d9d9; --accent: #0072B2; --warn: #D55E00; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.55;
       font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.8rem; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.35rem; margin: 2.2em 0 0.5em; padding-top: 0.4em; border-top: 2px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 1.4em 0 0.4em; }
p.lead { color: var(--muted); margin-top: 0; }
nav { font-size: 0.92rem; margin: 1em 0 0; }
nav a { color: var(--accent); text-decoration: none; margin-right: 1em; white-space: nowrap; }
.scroll { overflow-x: auto; }
details summary { cursor: pointer; color: var(--accent); margin: 0.4em 0; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.93rem; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
th { background: #f4f6f8; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td .ci { color: var(--muted); font-size: 0.82rem; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
            font-size: 0.88rem; }
pre { background: #f4f6f8; padding: 10px 14px; border-radius: 6px; overflow-x: auto; white-space: pre-wrap; }
figure { margin: 1.2em 0 1.6em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; border-radius: 4px; cursor: zoom-in; }
figure.zoom img { max-width: none; width: 100%; cursor: zoom-out; }
figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 0.3em; }
.glance { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 10px; margin: 1.2em 0; }
.glance div { background: #f4f6f8; border-radius: 8px; padding: 10px 14px; }
.glance b { display: block; font-size: 1.15rem; }
.glance span { color: var(--muted); font-size: 0.85rem; }
ul.warnings li { color: var(--warn); }
.muted { color: var(--muted); }
"""

SCRIPT = """
document.addEventListener('click', function (e) {
  var f = e.target.closest && e.target.closest('figure');
  if (f && e.target.tagName === 'IMG') { f.classList.toggle('zoom'); }
});
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-figures', String(imgs.length));
  document.body.setAttribute('data-figures-rendered', String(ok));
  document.body.setAttribute('data-figures-ok', ok === imgs.length ? 'yes' : 'no');
  document.body.setAttribute('data-errors', String(window.__reportErrors.length));
  var closed = Array.prototype.slice.call(document.querySelectorAll('details:not([open])'));
  closed.forEach(function (d) { d.open = true; });  // measure the folded tables too
  var wide = Array.prototype.slice.call(document.querySelectorAll('.scroll')).filter(function (d) {
    return d.scrollWidth > d.clientWidth + 1; }).length;
  closed.forEach(function (d) { d.open = false; });
  document.body.setAttribute('data-tables-overflowing', String(wide));
});
"""

HEAD_SCRIPT = """window.__reportErrors = [];
window.addEventListener('error', function (e) { window.__reportErrors.push(String(e.message || e)); });"""

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")


def page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    """The whole HTML document."""
    links = "".join(f'<a href="#{esc(k)}">{esc(t)}</a>' for k, t in nav)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style><script>{HEAD_SCRIPT}</script></head>"
            f'<body data-figures-ok="pending"><main><h1>{esc(title)}</h1><p class="lead">{subtitle}</p>'
            f"<nav>{links}</nav>{body}</main><script>{SCRIPT}</script></body></html>\n")
