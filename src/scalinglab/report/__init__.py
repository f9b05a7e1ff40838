"""Pictures and reports: matplotlib figures of fits, plans, runs and analyses, and one
self-contained HTML report."""

from __future__ import annotations
