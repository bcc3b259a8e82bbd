"""The table printed at the end of a run: every figure with its target (issues 17 and 18) and
its ratio to the target or the floor beside it (not asserted: a bench reports)."""

import math
from dataclasses import dataclass, field
from typing import Any

Row = tuple[str, str, str, str, str, str]
HEADER: Row = ("figure", "n", "median ms", "p99 ms", "max ms", "target")


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _figure(figure: dict[str, Any]) -> tuple[str, str, str, str]:
    """n, median, p99, max: a latency's columns."""
    return (
        str(figure["n"]),
        _ms(figure["median_ms"]),
        _ms(figure["p99_ms"]),
        _ms(figure["max_ms"]),
    )


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


@dataclass(frozen=True)
class Latency:
    label: str
    figure: dict[str, Any]
    """median_ms, p99_ms, max_ms (bench/stats.py)"""
    floor: bool = False
    p99_target_ms: float | None = None


@dataclass
class Figures:
    """The table's rows, and the latencies among them (for the chart: bench/chart.py)."""

    rows: list[Row] = field(default_factory=list)
    latencies: list[Latency] = field(default_factory=list)

    def latency(
        self,
        name: str,
        figure: dict[str, Any],
        target: str = "",
        *,
        floor: bool = False,
        p99_target_ms: float | None = None,
    ) -> None:
        self.latencies.append(Latency(name, figure, floor, p99_target_ms))
        self.rows.append((name, *_figure(figure), target))

    def p99_under(self, name: str, figure: dict[str, Any], limit: float, extra: str = "") -> None:
        ratio = figure["p99_ms"] / limit
        target = f"p99 ≤ {limit:.0f} ms: {ratio:.2f}x, {_verdict(ratio <= 1)}{extra}"
        self.latency(name, figure, target, p99_target_ms=limit)


def rows(results: dict[str, Any]) -> Figures:
    """One row per figure, with the target and whether it was met where there is one."""
    s = results["scenarios"]
    out = Figures()
    two_hop_p99 = _floor(out, s.get("floor", {}))
    if "ingest" in s:
        _ingest(out, s["ingest"])
    if "router" in s and "events_per_s" in s["router"]:  # the router scenario's rate, if given
        rate = s["router"]["events_per_s"]
        out.rows.append(("router: events/s", "", f"{rate:.0f}/s", "", "", _at_least(rate, 1000)))
    _pauses(out, s, two_hop_p99)
    if "draft" in s:
        out.p99_under("time to draft (API)", s["draft"]["visible"], 100)
    _publish(out, s)
    if "storm" in s:
        _storm(out, s["storm"])
    return out


def _at_least(rate: float, target: float) -> str:
    return f"≥ {target:,.0f}/s: {rate / target:.2f}x, {_verdict(rate >= target)}"


def _floor(out: Figures, floor: dict[str, Any]) -> float | None:
    if not floor:
        return None
    out.latency("floor: produce ack", floor["produce_ack"], floor=True)
    out.latency("floor: one hop", floor["one_hop"], floor=True)
    out.latency("floor: two hops", floor["two_hops"], floor=True)
    for wait_ms, figures in floor.get("fetch_waits", {}).items():
        idle = figures["idle"]
        cost = f"idle: consumer {idle['consumer_core_pct']:.1f}%"
        if "broker_core_pct" in idle:
            cost += f" + broker {idle['broker_core_pct']:.1f}%"
        out.latency(f"fetch wait {wait_ms} ms: one hop", figures["one_hop"], cost, floor=True)
    return float(floor["two_hops"]["p99_ms"])


def _ingest(out: Figures, ingest: dict[str, Any]) -> None:
    http = ingest.get("http_floor")
    if http:
        out.latency("HTTP floor: accept, concurrency 1", http["accept_c1"], floor=True)
        out.latency("HTTP floor: accept, 32 clients", http["accept_c32"], floor=True)
    out.latency("ingest: accept, concurrency 1", ingest["accept_c1"])
    out.p99_under("ingest: accept, 32 clients", ingest["accept_c32"], 50)
    rate = ingest["throughput_per_s"]
    out.rows.append(
        (
            "ingest: 202s/s, 32 clients",
            f"{ingest['duration_s']:.0f} s",
            f"{rate:.0f}/s",
            "",
            "",
            _at_least(rate, 2000),
        )
    )
    if http:
        ratio = ingest["ratio_to_http_floor"]
        out.rows.append(
            (
                "ingest vs HTTP floor",
                "",
                f"{rate:.0f}/s",
                f"floor {http['per_s']:.0f}/s",
                f"{ratio:.0%}",
                f"≥ 50%: {_verdict(ratio >= 0.5)}",
            )
        )
    bare = ingest["throughput_ratio"]
    out.rows.append(
        (
            "ingest vs bare producer",
            "",
            f"{rate:.0f}/s",
            f"bare {ingest['bare_producer_per_s']:.0f}/s",
            f"{bare:.0%}",
            "",
        )
    )


def _pauses(out: Figures, s: dict[str, Any], two_hop_p99: float | None) -> None:
    if "pause-10" in s:
        figure = s["pause-10"]["every_channel"]
        target = f"p99 < 50 ms: {_verdict(figure['p99_ms'] < 50)}"
        limit = 50.0
        if two_hop_p99:
            ratio = figure["p99_ms"] / two_hop_p99
            s["pause-10"]["p99_over_two_hop_p99"] = round(ratio, 2)
            target += f"; ≤ 2x two-hop floor: {ratio:.1f}x, {_verdict(ratio <= 2)}"
            limit = min(limit, 2 * two_hop_p99)
        out.latency("time to pause, 10 channels", figure, target, p99_target_ms=limit)
    if "pause-1000" in s:
        out.p99_under("time to pause, 1,000 channels", s["pause-1000"]["every_channel"], 250)
    if "pause-posts" in s:
        figure = s["pause-posts"]["every_channel"]
        target, limit = "", float("nan")  # no pause-10 in the run: no target to draw
        if "pause-10" in s:
            limit = 1.2 * float(s["pause-10"]["every_channel"]["p99_ms"])
            ratio = figure["p99_ms"] / s["pause-10"]["every_channel"]["p99_ms"]
            target = f"p99 within 20% of pause-10: {ratio:.2f}x, {_verdict(ratio <= 1.2)}"
        out.latency(
            "time to pause, 10,000 posts",
            figure,
            target,
            p99_target_ms=None if math.isnan(limit) else limit,
        )


def _stages_from_metrics(out: Figures, publish: dict[str, Any]) -> None:
    """The waterfall read back from the services' histograms (processes): a row per stage,
    median and p99 to within a bucket (5 ms), the max as its bucket's bound."""
    for stage, figure in publish.get("stages_from_metrics", {}).items():
        out.rows.append(
            (
                f"  publish stage: {stage}",
                str(figure["n"]),
                _ms(figure["median_ms"]),
                _ms(figure["p99_ms"]),
                f"≤ {_ms(figure['max_ms'])}",
                f"since approval (/metrics); mean {_ms(figure['mean_ms'])}",
            )
        )


def _publish(out: Figures, s: dict[str, Any]) -> None:
    if "publish" in s:
        figure = s["publish"]["every_channel"]
        out.p99_under("approve → published", figure, 150 + s["publish"]["peer_delay_ms"])
        for stage, since_approval in s["publish"].get("stages", {}).items():
            out.latency(f"  publish stage: {stage}", since_approval, "since approval")
        if not s["publish"].get("stages"):
            _stages_from_metrics(out, s["publish"])
        arrived = s["publish"]["each_channel"]
        out.rows.append(("  publish stage: report at the bench", *_figure(arrived), "each channel"))
    if "publish-timeout" in s:
        figure = s["publish-timeout"]["every_channel"]
        limit = 150 + s["publish-timeout"]["peer_delay_ms"]
        if "publish" in s:
            moved = figure["p99_ms"] - s["publish"]["every_channel"]["p99_ms"]
            out.p99_under(
                "… one channel timing out, the others",
                figure,
                limit,
                f"; moved {moved:+.0f} ms vs publish (target 0)",
            )
        else:
            out.p99_under("… one channel timing out, the others", figure, limit)


def _storm(out: Figures, storm: dict[str, Any]) -> None:
    in_time = storm.get("all_accepted_in_time")
    out.rows.append(
        (
            "storm: answered 202",
            f"{storm['sent']} sent",
            f"{storm['accepted']} 202",
            f"last at {storm.get('last_answer_s', 0):.1f} s",
            f"{storm['rejected']} not 202",
            f"all within {storm['duration_s']:.0f} s: {_verdict(bool(in_time))}",
        )
    )
    out.p99_under("storm: accept (from due time)", storm["accept"], 100)
    groups, raised = storm["groups"], storm["incidents_created"]
    lost = storm.get("incidents_lost", 0)
    out.rows.append(
        (
            "storm: incidents raised",
            f"{groups} groups",
            f"{raised}",
            f"{storm['incidents_on_topic']} on topic",
            f"{lost} lost (no pause {storm.get('settle_s', 60):.0f} s after)",
            f"exactly {groups}, none lost: {_verdict(raised == groups and lost == 0)}",
        )
    )
    regions = storm.get("region_first_pause_ms", {})
    if regions:
        worst = max(regions.values())
        out.rows.append(
            (
                "storm: region's first alert → paused",
                f"{len(regions)} regions",
                "",
                "",
                _ms(worst),
                f"≤ 1000 ms: {_verdict(worst <= 1000)}",
            )
        )
    out.latency("storm: incident's 202 → paused", storm["time_to_pause"], "every channel it names")


def cpu_table(results: dict[str, Any]) -> str:
    """CPU seconds per scenario: each service process, the bench (load) process, the broker
    (`-`: not running in that scenario)."""
    s = results["scenarios"]
    names = sorted({k for v in s.values() for k in v.get("cpu_seconds", {})})
    lines = [("scenario", "seconds", *names)]
    for scenario, figures in s.items():
        used = figures.get("cpu_seconds", {})
        lines.append(
            (
                scenario,
                f"{figures.get('seconds', 0):.0f}",
                *(f"{used[n]:.1f}" if n in used else "-" for n in names),
            )
        )
    return _markdown(lines)


def table(results: dict[str, Any]) -> str:
    """A Markdown table (fits a terminal, and pastes into the README)."""
    return _markdown([HEADER, *rows(results).rows])


def _markdown(lines: list[tuple[str, ...]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]

    def fmt(line: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) + " |"

    rule = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([fmt(lines[0]), rule, *(fmt(line) for line in lines[1:])])
