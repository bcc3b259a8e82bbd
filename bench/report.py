"""The table printed at the end of a run, and the targets it is read against (not asserted)."""

from typing import Any

Row = tuple[str, str, str, str, str, str]


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _latency(name: str, figure: dict[str, Any], target: str = "") -> Row:
    return (
        name,
        str(figure["n"]),
        _ms(figure["median_ms"]),
        _ms(figure["p99_ms"]),
        _ms(figure["max_ms"]),
        target,
    )


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def rows(results: dict[str, Any]) -> list[Row]:
    """One row per figure, with the target and whether it was met where there is one."""
    s = results["scenarios"]
    out: list[Row] = []
    floor = s.get("floor", {})
    two_hop_p99 = floor.get("two_hops", {}).get("p99_ms")
    if floor:
        out.append(_latency("floor: produce ack", floor["produce_ack"]))
        out.append(_latency("floor: one hop", floor["one_hop"]))
        out.append(_latency("floor: two hops", floor["two_hops"]))
        for wait_ms, figures in floor.get("fetch_waits", {}).items():
            idle = figures["idle"]
            cost = f"idle: consumer {idle['consumer_core_pct']:.1f}%"
            if "broker_core_pct" in idle:
                cost += f" + broker {idle['broker_core_pct']:.1f}%"
            out.append(_latency(f"fetch wait {wait_ms} ms: one hop", figures["one_hop"], cost))
    if "ingest" in s:
        ingest = s["ingest"]
        out.append(_latency("ingest: accept, concurrency 1", ingest["accept_c1"]))
        out.append(_latency("ingest: accept, concurrency 32", ingest["accept_c32"]))
        ratio = ingest["throughput_ratio"]
        out.append(
            (
                "ingest: 202s/s vs bare producer",
                f"{ingest['duration_s']:.0f} s",
                f"{ingest['throughput_per_s']:.0f}/s",
                f"bare {ingest['bare_producer_per_s']:.0f}/s",
                f"{ratio:.0%}",
                f"≥ 60%: {_verdict(ratio >= 0.6)}",
            )
        )
    for key, name in (
        ("pause-10", "time to pause, 10 channels"),
        ("pause-1000", "time to pause, 1,000 channels"),
        ("pause-posts", "time to pause, 10,000 posts"),
    ):
        if key in s:
            figure = s[key]["every_channel"]
            target = ""
            if two_hop_p99:
                ratio = figure["p99_ms"] / two_hop_p99
                s[key]["p99_over_two_hop_p99"] = round(ratio, 1)
                target = f"≤ 2x floor: {ratio:.1f}x {_verdict(ratio <= 2)}"
            out.append(_latency(name, figure, target))
    if "draft" in s:
        out.append(_latency("time to draft (API)", s["draft"]["visible"]))
    for key, name in (
        ("publish", "approve → published, every channel"),
        ("publish-timeout", "… one channel timing out, the others"),
    ):
        if key in s:
            figure = s[key]["every_channel"]
            limit = 250 + s[key]["peer_delay_ms"]
            target = f"p99 < {limit:.0f} ms: {_verdict(figure['p99_ms'] < limit)}"
            out.append(_latency(name, figure, target))
            for stage, since_approval in s[key].get("stages", {}).items():
                out.append(_latency(f"  {key} stage: {stage}", since_approval, "since approval"))
    if "storm" in s:
        storm = s["storm"]
        out.append(
            (
                "storm: accepted/s, incidents",
                f"{storm['sent']} sent",
                f"{storm['accepted_per_s']:.0f}/s",
                f"{storm['incidents_created']} incidents",
                f"{storm['rejected']} refused",
                f"{storm['duration_s']:.0f} s",
            )
        )
        out.append(_latency("storm: time to pause", storm["time_to_pause"]))
    return out


HEADER: Row = ("figure", "n", "median ms", "p99 ms", "max ms", "target")


def table(results: dict[str, Any]) -> str:
    """A Markdown table (fits a terminal, and pastes into the README)."""
    lines = [HEADER, *rows(results)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]

    def fmt(line: Row) -> str:
        return "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) + " |"

    rule = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([fmt(lines[0]), rule, *(fmt(line) for line in lines[1:])])
