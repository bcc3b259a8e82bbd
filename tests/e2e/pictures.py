"""Pictures for the README's operations section, from real data: one incident's trace as the
OTLP receiver got it (an SVG waterfall), and deploy/observability/dashboard.json's panels
queried from a real Prometheus that scraped the three services (HTML, then a PNG taken by
headless Chromium). `OBSERVABILITY_PICTURES=docs/observability pytest
tests/e2e/test_observability.py -k pictures` writes them."""

import html
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from shared.devtools.broker import free_port
from tests.e2e.otlp_receiver import ReceivedSpan

COLOURS = {"planb-ingest": "#4e79a7", "planb-router": "#f28e2b", "planb-publisher": "#59a14f"}
SERIES = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"]
FONT = "font-family='DejaVu Sans, sans-serif' font-size='12'"


def trace_svg(spans: list[ReceivedSpan]) -> str:
    """The trace as a waterfall: a row per span under its parent, bars on a shared clock."""
    by_id = {s.span_id: s for s in spans}
    children: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in by_id else ""
        children.setdefault(parent, []).append(span)
    rows: list[tuple[int, ReceivedSpan]] = []

    def walk(parent: str, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_ns):
            rows.append((depth, span))
            walk(span.span_id, depth + 1)

    walk("", 0)
    start = min(s.start_ns for s in spans)
    total = max(s.end_ns for s in spans) - start
    label_w, bar_w, row_h = 430, 620, 22
    height = 40 + row_h * len(rows) + 30
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{label_w + bar_w + 90}' "
        f"height='{height}' {FONT}>",
        "<rect width='100%' height='100%' fill='white'/>",
        f"<text x='10' y='22' font-size='14' font-weight='bold'>One incident's trace "
        f"({html.escape(spans[0].trace_id)}), {total / 1e6:.0f} ms</text>",
    ]
    for at, (depth, span) in enumerate(rows):
        y = 40 + at * row_h
        x = label_w + bar_w * (span.start_ns - start) / total
        w = max(2.0, bar_w * (span.end_ns - span.start_ns) / total)
        service = span.service.removeprefix("planb-")
        name = html.escape(f"{service}: {span.name}")
        linked = " (linked to the approval's request)" if span.links else ""
        parts += [
            f"<text x='{10 + depth * 14}' y='{y + 15}'>{name}{linked}</text>",
            f"<rect x='{x:.1f}' y='{y + 4}' width='{w:.1f}' height='14' rx='2' "
            f"fill='{COLOURS.get(span.service, '#999')}'/>",
            f"<text x='{x + w + 4:.1f}' y='{y + 15}' fill='#555'>"
            f"{(span.end_ns - span.start_ns) / 1e6:.1f} ms</text>",
        ]
    legend_y = height - 12
    for n, (service, colour) in enumerate(COLOURS.items()):
        parts += [
            f"<rect x='{10 + n * 140}' y='{legend_y - 10}' width='12' height='12' "
            f"fill='{colour}'/>",
            f"<text x='{28 + n * 140}' y='{legend_y}'>{service}</text>",
        ]
    return "\n".join([*parts, "</svg>"])


@contextmanager
def prometheus(targets: list[str], folder: Path) -> Iterator[str]:
    """A real Prometheus (Debian's) scraping `targets` (host:port) every second."""
    config = folder / "prometheus.yml"
    jobs = [
        {"job_name": f"planb-{name}", "static_configs": [{"targets": [target]}]}
        for name, target in zip(("ingest", "router", "publisher"), targets, strict=True)
    ]
    config.write_text(json.dumps({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}))
    port = free_port()
    log = (folder / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def query_range(url: str, expr: str, *, start: float, end: float) -> list[dict[str, Any]]:
    params = {"query": expr, "start": start, "end": end, "step": 1}
    body = httpx.get(f"{url}/api/v1/query_range", params=params, timeout=10).json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _legend(template: str, labels: dict[str, str]) -> str:
    for key, value in labels.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def _chart(series: list[tuple[str, list[tuple[float, float]]]], *, stat: bool) -> str:
    if stat:
        cells = [
            f"<div class=stat><b>{points[-1][1]:.4g}</b><span>{html.escape(name)}</span></div>"
            for name, points in series
            if points
        ]
        return "<div class=stats>" + "".join(cells) + "</div>"
    w, h = 380, 150
    points = [p for _, pts in series for p in pts]
    if not points:
        return "<p class=none>no data</p>"
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    top = max(max(p[1] for p in points), 1e-9)
    lines = []
    for n, (name, pts) in enumerate(series):
        colour = SERIES[n % len(SERIES)]
        path = " ".join(
            f"{10 + (w - 20) * (t - t0) / max(t1 - t0, 1):.1f},{h - 10 - (h - 20) * v / top:.1f}"
            for t, v in pts
        )
        lines.append(f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2'/>")
        lines.append(
            f"<text x='{w + 8}' y='{16 + n * 15}' fill='{colour}'>{html.escape(name)}</text>"
        )
    return (
        f"<svg width='{w + 190}' height='{h}' {FONT}>"
        f"<text x='10' y='12' fill='#777'>max {top:.3g}</text>{''.join(lines)}</svg>"
    )


def dashboard_html(dashboard: dict[str, Any], url: str, *, start: float, end: float) -> str:
    """The dashboard's panels, each query run on Prometheus over [start, end]."""
    out = [
        "<html><head><meta charset=utf-8><style>body{font-family:'DejaVu Sans',sans-serif;"
        "margin:12px;background:#f4f5f5}h1{font-size:18px}h2{font-size:15px;margin:14px 0 6px}"
        ".grid{display:flex;flex-wrap:wrap;gap:8px}.panel{background:white;border:1px solid "
        "#ddd;border-radius:4px;padding:6px;width:590px}.panel h3{font-size:13px;margin:0 0 4px}"
        ".stats{display:flex;flex-wrap:wrap;gap:10px}.stat{display:flex;flex-direction:column;"
        "align-items:center;min-width:70px}.stat b{font-size:22px}.stat span{font-size:11px;"
        "color:#555}.none{color:#999}</style></head><body>",
        f"<h1>{html.escape(dashboard['title'])} (deploy/observability/dashboard.json, queried "
        "from Prometheus after a few incidents)</h1>",
    ]
    open_grid = False
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            out.append(("</div>" if open_grid else "") + f"<h2>{html.escape(panel['title'])}</h2>")
            out.append("<div class=grid>")
            open_grid = True
            continue
        series = []
        for target in panel["targets"]:
            for result in query_range(url, target["expr"], start=start, end=end):
                points = [
                    (float(t), float(v)) for t, v in result["values"] if v not in ("NaN", "+Inf")
                ]
                series.append((_legend(target["legendFormat"], result["metric"]), points))
        chart = _chart(series, stat=panel["type"] == "stat")
        out.append(f"<div class=panel><h3>{html.escape(panel['title'])}</h3>{chart}</div>")
    return "".join([*out, "</div></body></html>"])


def screenshot(page: Path, png: Path, *, width: int = 1240, height: int = 2050) -> None:
    subprocess.run(
        [
            "/usr/bin/chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
