"""Chromium for the tests that open a page (its path, or a skip), and charts in a browser page:
whether any plotly legend covers an axis title."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HEADLESS = ["--headless", "--no-sandbox"]  # Chromium's arguments in a test (root, no display)


def require_chromium() -> str:
    """Chromium's path; the test is skipped where it is not installed."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return CHROMIUM


# Per plotly chart in the page (id -> ...): the bounding box of its legend and of each axis title.
CHART_BOXES_JS = """() => Object.fromEntries(Array.from(document.querySelectorAll('.js-plotly-plot')).map(div => {
  const box = element => { const r = element.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const legend = div.querySelector('g.legend');
  const titles = Array.from(div.querySelectorAll('.xtitle, .ytitle, .y2title')).filter(t => t.textContent);
  return [div.id, {legend: legend ? box(legend) : null, titles: titles.map(t => [t.textContent, box(t)])}];
}))"""


def legend_overlaps(page: Any) -> tuple[int, list[str]]:
    """(charts with a legend, every legend box that meets an axis title's box) in a Playwright page."""
    charts = page.evaluate(CHART_BOXES_JS)
    overlaps = []
    for chart, boxes in charts.items():
        legend = boxes["legend"]
        for title, box in boxes["titles"] if legend else []:
            if box[0] < legend[2] and legend[0] < box[2] and box[1] < legend[3] and legend[1] < box[3]:
                overlaps.append(f"{chart}: the legend {legend} meets the axis title {title!r} {box}")
    return sum(1 for boxes in charts.values() if boxes["legend"]), overlaps
