"""Citations of docs/references.md resolve to a section that exists, and none cite the external notes.

The syntax (documented at the top of docs/references.md): ``references.md A3``, ``references.md A4-A6``
(a range within one letter) or ``references.md B2, D3``; a link ``references.md#<anchor>`` must name
a heading of that page. Any mention of the project's external research notes by their file name
(that name followed by a section id, by "section B", or as a path under shared/reference) fails,
except a markdown link to, a docs/ path of, or a quoted file name of the docs page of law families
(``[laws.md](laws.md#families)``, ``"laws.md"``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "docs" / "references.md"
SCANNED = ("src", "tests", "docs", "README.md")
SUFFIXES = {".py", ".md"}

_ID = r"[A-Z][0-9]+"
CITATION = re.compile(rf"references\.md (?P<ids>{_ID}(?:(?:-|, ){_ID})*)")
MALFORMED = re.compile(r"references\.md (?:sections?\b|[A-Z]\b)")
ANCHOR_LINK = re.compile(r"references\.md#(?P<anchor>[A-Za-z0-9_-]*)")
HEADING = re.compile(r"^(#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
SECTION_ID = re.compile(rf"^#{{2,3}}\s+(?P<id>{_ID})\.\s")
EXTERNAL = re.compile(r"laws\.md")


def slug(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\s-]", "", title.strip().lower())
    return re.sub(r"\s", "-", text)


def sections(text: str) -> tuple[set[str], set[str]]:
    """(section ids such as 'A3', anchors of every heading) of a references page."""
    ids, anchors, in_code = set(), set(), False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        m = HEADING.match(line)
        if m:
            anchors.add(slug(m["title"]))
            s = SECTION_ID.match(line)
            if s:
                ids.add(s["id"])
    return ids, anchors


def expand(ids: str) -> list[str]:
    """'A4-A6' -> [A4, A5, A6]; 'B2, D3' -> [B2, D3]. A range across letters raises ValueError."""
    out: list[str] = []
    for part in ids.split(", "):
        ends = part.split("-")
        if len(ends) == 1:
            out.append(part)
            continue
        first, last = ends[0], ends[-1]
        if len(ends) != 2 or first[0] != last[0] or int(last[1:]) < int(first[1:]):
            raise ValueError(f"bad range {part!r}")
        out += [f"{first[0]}{i}" for i in range(int(first[1:]), int(last[1:]) + 1)]
    return out


def _external_ok(line: str, start: int, end: int) -> bool:
    """A 'laws.md' that names the docs page docs/laws.md rather than the external notes."""
    before, after = line[:start], line[end:]
    if before.endswith(("[", "](", "docs/")):
        return True
    return bool(before) and before[-1] in "\"'" and after[:1] == before[-1]


def check_text(text: str, where: str, ids: set[str], anchors: set[str]) -> list[str]:
    """Problems in one file's text, each 'where:line: message'."""
    problems = []
    for n, line in enumerate(text.splitlines(), 1):
        for m in CITATION.finditer(line):
            try:
                cited = expand(m["ids"])
            except ValueError as e:
                problems.append(f"{where}:{n}: {e} in {m.group(0)!r}")
                continue
            for c in cited:
                if c not in ids:
                    problems.append(f"{where}:{n}: {m.group(0)!r} cites section {c}, "
                                    "which docs/references.md does not have")
        for m in MALFORMED.finditer(line):
            problems.append(f"{where}:{n}: {m.group(0)!r} is not the citation syntax "
                            "(use 'references.md A3', see docs/references.md)")
        for m in ANCHOR_LINK.finditer(line):
            if m["anchor"] and m["anchor"] not in anchors:
                problems.append(f"{where}:{n}: link to references.md#{m['anchor']}, "
                                "which is no heading of docs/references.md")
        for m in EXTERNAL.finditer(line):
            if not _external_ok(line, m.start(), m.end()):
                problems.append(f"{where}:{n}: cites the external notes ({line[m.start():m.end() + 12].strip()!r}); "
                                "cite docs/references.md as 'references.md A3'")
    return problems


def scanned_files(root: Path = ROOT) -> list[Path]:
    files = []
    for name in SCANNED:
        p = root / name
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in SUFFIXES
                            and ".venv" not in f.parts and "__pycache__" not in f.parts)
    return files


def check_tree(root: Path = ROOT) -> list[str]:
    ids, anchors = sections((root / "docs" / "references.md").read_text(encoding="utf-8"))
    problems = []
    for f in scanned_files(root):
        text = f.read_text(encoding="utf-8", errors="replace")
        problems += check_text(text, str(f.relative_to(root)), ids, anchors)
    return problems


# ---- the repository ---------------------------------------------------------------------------------

def test_references_page_has_sections():
    ids, anchors = sections(REFERENCES.read_text(encoding="utf-8"))
    assert {"A1", "A3", "B1", "C2", "D3", "E1", "F1"} <= ids
    assert "a3-chinchilla-appendix-f-exact-flop-count" in anchors


def test_every_citation_resolves():
    problems = check_tree()
    assert not problems, "unresolved citations:\n" + "\n".join(problems)


def test_references_page_is_linked_from_index():
    assert "(references.md)" in (ROOT / "docs" / "index.md").read_text(encoding="utf-8")


# ---- the checker itself (planted citations) ---------------------------------------------------------

PAGE = """# Refs

## A. Group

### A1. First thing

### A2. Second thing

```
### Z9. not a heading inside a code block
```
"""
REF = "references" + ".md"      # built up so this file does not cite anything itself
EXT = "laws" + ".md"


@pytest.fixture
def page():
    return sections(PAGE)


def test_checker_accepts_good_citations(page):
    text = "\n".join([
        f"x = 1  # ({REF} A1)",
        f"both ({REF} A1-A2) and ({REF} A1, A2); {REF} A2, and more words",
        f"[{REF}]({REF}#a2-second-thing) and [{EXT}]({EXT}#families), docs/{EXT}, '{EXT}'",
    ])
    assert check_text(text, "f.py", *page) == []


def test_checker_names_file_and_line_of_a_missing_section(page):
    text = f"ok ({REF} A1)\n    \"\"\"Docstring (Smith 2020; {REF} A7).\"\"\"\n"
    problems = check_text(text, "src/x.py", *page)
    assert len(problems) == 1 and problems[0].startswith("src/x.py:2:") and "A7" in problems[0]


def test_checker_rejects_code_block_headings_ranges_and_lists(page):
    assert any("Z9" in p for p in check_text(f"{REF} Z9", "a.md", *page))
    assert any(":1:" in p and "A3" in p for p in check_text(f"{REF} A1-A3", "a.md", *page))
    assert any("bad range" in p for p in check_text(f"{REF} A1-B2", "a.md", *page))
    assert any("B2" in p for p in check_text(f"{REF} A1, B2", "a.md", *page))


def test_checker_rejects_external_notes_and_bad_anchors(page):
    for bad in (f"({EXT} A3)", f"notes ``{EXT}`` section B", f"shared/reference/{EXT} (B2)",
                f"{EXT} status tags", f"{REF} section B", f"[x]({REF}#a3-missing)"):
        problems = check_text(f"first line\n{bad}\n", "t.py", *page)
        assert problems and all(p.startswith("t.py:2:") for p in problems), bad


def test_check_tree_fails_on_a_planted_file(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "references.md").write_text(PAGE, encoding="utf-8")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.py").write_text(f'"""Fine ({REF} A2)."""\n# see {EXT} D3\n', encoding="utf-8")
    assert check_tree(tmp_path) == [f"src/m.py:2: cites the external notes ('{EXT} D3'); "
                                    "cite docs/references.md as 'references.md A3'"]
