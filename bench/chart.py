"""The run as a chart (issue 18): one row per latency figure, the floors' rows first, on a
log axis: a bar from median to p99, a whisker on to max, a red tick at the p99 target where
there is one. Plain SVG from the standard
library, so the bench needs no plotting package; `python -m bench` writes it beside the JSON.
"""

import math
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from bench.report import Latency, rows

LABEL_WIDTH = 330
PLOT_WIDTH = 600
TEXT_WIDTH = 230
ROW = 22
TOP = 56
FLOOR_COLOUR = "#8a8a8a"
SYSTEM_COLOUR = "#2f6db5"
TARGET_COLOUR = "#d62728"


def svg(results: dict[str, Any]) -> str:
    """The chart of every latency in `results` (bench/results/latest.json's shape)."""
    figures = [f for f in rows(results).latencies if f.figure["n"]]
    low, high = _decades(figures)
    width = LABEL_WIDTH + PLOT_WIDTH + TEXT_WIDTH
    height = TOP + ROW * len(figures) + 30

    def x(ms: float) -> float:  # pixels from the left edge
        share = (math.log10(max(ms, 10.0**low)) - low) / (high - low)
        return round(LABEL_WIDTH + share * PLOT_WIDTH, 1)

    title = (
        f"Plan B bench, {results.get('when', '')}: median to p99 bar, whisker to max "
        f"(log scale); grey: floors; red: p99 target"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="14">{escape(title)}</text>',
        f'<text x="10" y="38" fill="#555">{escape(_subtitle(results))}</text>',
    ]
    for decade in range(low, high + 1):
        at = x(10.0**decade)
        parts.append(
            f'<line x1="{at}" y1="{TOP - 6}" x2="{at}" y2="{height - 24}" stroke="#ddd"/>'
            f'<text x="{at}" y="{height - 10}" text-anchor="middle" fill="#555">'
            f"{_tick(decade)}</text>"
        )
    for i, latency in enumerate(figures):
        parts.append(_row(i, latency, x))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _row(i: int, latency: Latency, x: Callable[[float], float]) -> str:
    y = TOP + i * ROW
    mid = y + ROW / 2
    figure = latency.figure
    colour = FLOOR_COLOUR if latency.floor else SYSTEM_COLOUR
    median, p99, top = (x(figure[k]) for k in ("median_ms", "p99_ms", "max_ms"))
    values = " / ".join(_value(figure[k]) for k in ("median_ms", "p99_ms", "max_ms"))
    target = ""
    if latency.p99_target_ms is not None:
        at = x(latency.p99_target_ms)
        target = (
            f'<line x1="{at}" y1="{y + 1}" x2="{at}" y2="{y + ROW - 1}" '
            f'stroke="{TARGET_COLOUR}" stroke-width="2"/>'
        )
    return (
        f'<g class="row" data-figure="{escape(latency.label, {chr(34): "&quot;"})}">'
        f'<text x="{LABEL_WIDTH - 8}" y="{mid + 4}" text-anchor="end">'
        f"{escape(latency.label)}</text>"
        f'<line x1="{p99}" y1="{mid}" x2="{top}" y2="{mid}" stroke="{colour}"/>'
        f'<line x1="{top}" y1="{mid - 4}" x2="{top}" y2="{mid + 4}" stroke="{colour}"/>'
        f'<rect x="{median}" y="{y + 5}" width="{max(p99 - median, 1.5)}" height="{ROW - 10}" '
        f'fill="{colour}"/>'
        f'<line x1="{median}" y1="{y + 3}" x2="{median}" y2="{y + ROW - 3}" stroke="black" '
        f'stroke-width="2"/>{target}'
        f'<text x="{LABEL_WIDTH + PLOT_WIDTH + 10}" y="{mid + 4}" fill="#333">{values}</text>'
        "</g>"
    )


def _value(ms: float) -> str:
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def _decades(figures: list[Latency]) -> tuple[int, int]:
    values = [v for f in figures for k in ("median_ms", "max_ms") if (v := f.figure[k]) > 0] + [
        f.p99_target_ms for f in figures if f.p99_target_ms
    ]
    if not values:
        return -1, 3
    return math.floor(math.log10(min(values))), max(math.ceil(math.log10(max(values))), 0)


def _tick(decade: int) -> str:
    value = 10.0**decade
    return f"{value:g} ms" if value < 1000 else f"{value / 1000:g} s"


def _subtitle(results: dict[str, Any]) -> str:
    machine = results.get("machine", {})
    before = machine.get("load_average_before", {}).get("1m", "?")
    load = f"{before} → {machine.get('load_average_after', {}).get('1m', '?')}"
    quick = ", quick" if results.get("quick") else ""
    return (
        f"{results.get('broker', '')}, {results.get('database', 'SQLite')}, "
        f"{str(results.get('process_model', '')).split(':')[0]}{quick}; "
        f"{machine.get('cpus', '?')} CPUs, load {load}; columns: median / p99 / max ms"
    )
