"""The report as a person sees it: opened from disk in a real headless Chromium (Debian's ``chromium``,
installed by ``make browser``), with no console message, every figure rendered, and a screenshot.

The page records on ``<body>`` how many images it has and how many decoded with a non-zero natural
size, and how many script errors happened (see scalinglab.report.page); ``--dump-dom`` shows that after
the load event. Chromium's own console log (``--enable-logging=stderr``) must hold no page message at
all (the report logs nothing; a blocked request, a CSP violation or an exception would show up there).
"""

import re
import shutil
import subprocess

import matplotlib.image as mpimg
import pytest
from report_data import sweep_csv

from scalinglab.report.html import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no headless Chromium on this machine: run `make browser` (Debian's chromium; needs apt-get as "
           "root) to install it, then this test opens the report in it")
# as root, offline: no sandbox, no GPU, no background traffic (its connections would be refused)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--enable-logging=stderr", "--v=0"]


def chromium(page, profile, *args):
    """Run headless Chromium on ``page``; (stdout, page console messages from its log)."""
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


def body_state(dom):
    """The data-* attributes the page set on <body> after loading."""
    body = re.search(r"<body([^>]*)>", dom)
    assert body, "no <body> in the dumped DOM"
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    return write_report(sweep_csv(folder, per_budget=5), folder / "report.html", bootstrap=20, budgets=(1e22, 1e23))


def test_report_renders_in_chromium(report_html, tmp_path):
    dom, console = chromium(report_html, tmp_path / "profile-dom", "--dump-dom")
    state = body_state(dom)
    assert console == [], f"console messages: {console}"
    assert state.get("errors") == "0"
    n_images = report_html.read_text(encoding="utf-8").count("<img ")
    assert n_images == 9
    assert state.get("figures") == str(n_images)
    assert state.get("figures-rendered") == str(n_images), "some figure has no natural size (did not decode)"
    assert state.get("figures-ok") == "yes"

    shot = tmp_path / "report.png"
    _, console = chromium(report_html, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2400",
                          "--hide-scrollbars")
    assert console == []
    image = mpimg.imread(shot)
    assert image.shape[:2] == (2400, 1280)
    assert image.std() > 0.05  # not a blank page: text and figures


def test_every_table_fits_a_1280_px_window(report_html, tmp_path):
    """No table needs a horizontal scrollbar at 1280 px (the plan's intervals sit under their values)."""
    dom, _ = chromium(report_html, tmp_path / "profile-wide", "--dump-dom", "--window-size=1280,900")
    assert body_state(dom).get("tables-overflowing") == "0"


def test_the_check_catches_a_broken_page(tmp_path):
    """The same check on a page with a broken image, a console error and an exception: all three caught."""
    from scalinglab.report.page import page, table

    wide = table([f"column {i} (units)" for i in range(14)], [[f"[{i:,}.5, {i:,}9.5]" for i in range(14)]])
    html = page("broken", "a control", [], '<img src="data:image/png;base64,AAAA" alt="x">'
                "<script>console.error('deliberate'); undefinedFunction();</script>"
                f"<details><summary>folded</summary>{wide}</details>")
    path = tmp_path / "broken.html"
    path.write_text(html, encoding="utf-8")
    dom, console = chromium(path, tmp_path / "profile", "--dump-dom")
    state = body_state(dom)
    assert state["figures"] == "1" and state["figures-rendered"] == "0" and state["figures-ok"] == "no"
    assert state["errors"] == "1"
    assert state["tables-overflowing"] == "1"  # a 14-column table, folded or not, is wider than the page
    assert any("deliberate" in line for line in console) and any("undefinedFunction" in line for line in console)
