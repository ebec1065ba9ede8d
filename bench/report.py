"""Markdown tables from the measurements, and the issue's targets checked against them."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from load import LoadResult

DIRECT, LITELLM = "direct", "litellm"
MEMORY, REDIS = "pool-proxy (memory)", "pool-proxy (redis)"
MIB_IN_MB = 1.048576  # the goals are in MB, /proc reports KiB


@dataclass(frozen=True)
class Scenario:
    stream: bool
    connections: int
    door: str = "chat"  # chat, messages or responses: which of pool-proxy's doors

    @property
    def mode(self) -> str:
        mode = "stream" if self.stream else "non-stream"
        return mode if self.door == "chat" else f"{self.door} {mode}"


@dataclass
class Summary:
    """Medians over the repetitions of one target in one scenario."""

    runs: list[LoadResult] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs)

    @property
    def p50(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)


Results = dict[str, dict[Scenario, Summary]]


def _fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def _mark(ok: bool | None) -> str:
    return "-" if ok is None else ("✓" if ok else "✗")


def load_table(results: Results, scenarios: list[Scenario], failed: dict[str, str]) -> str:
    head = (
        "| target | mode | conns | req/s | p50 ms | p99 ms | added p50 vs direct "
        "| x LiteLLM | errors |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = []
    for sc in scenarios:
        direct = results.get(DIRECT, {}).get(sc)
        litellm = results.get(LITELLM, {}).get(sc)
        for name, by_scenario in results.items():
            s = by_scenario.get(sc)
            if s is None or not s.runs:
                continue
            added = s.p50 - direct.p50 if direct and direct.runs and name != DIRECT else None
            ratio = s.rps / litellm.rps if litellm and litellm.runs and name != LITELLM else None
            rows.append(
                f"| {name} | {sc.mode} | {sc.connections} | {s.rps:,.0f} | {s.p50:.2f} "
                f"| {s.p99:.2f} | {_fmt(added, unit=' ms')} | {_fmt(ratio, 1, 'x')} | {s.errors} |"
            )
    rows += [f"| {name} | - | - | failed | | | | | {why} |" for name, why in failed.items()]
    return head + "\n".join(rows) + "\n"


def doors_table(results: Results, scenarios: list[Scenario]) -> str:
    """Each door's stream against the chat stream of the same pool-proxy target: the req/s
    ratio (1.25 means the door costs 25 % more gateway time per request, when CPU-bound)."""
    head = (
        "| target | door | conns | req/s | chat stream req/s | chat / door |\n|---|---|---:|---:|---:|---:|\n"
    )
    rows = []
    for sc in scenarios:
        if sc.door == "chat":
            continue
        for name, by_scenario in results.items():
            door, chat = by_scenario.get(sc), by_scenario.get(Scenario(True, sc.connections))
            if door and door.runs and chat and chat.runs:
                rows.append(
                    f"| {name} | {sc.door} | {sc.connections} | {door.rps:,.0f} | {chat.rps:,.0f} "
                    f"| {chat.rps / door.rps:.2f} |"
                )
    return head + "\n".join(rows) + "\n"


def streams_table(streams: list[dict[str, Any]]) -> str:
    head = (
        "| target | start-up to ready | RSS idle | streams asked | served | RSS with streams open "
        "| KiB per stream | upstream open (held) | upstream open 2 s after hang-up "
        "| all upstream closed after |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = []
    for r in streams:
        if "error" in r and "served" not in r:
            rows.append(f"| {r['target']} | failed: {r['error']} | | | | | | | | |")
            continue
        per_stream = None
        if r.get("served") and r.get("rss_open_mib") and r.get("rss_idle_mib"):
            per_stream = (r["rss_open_mib"] - r["rss_idle_mib"]) * 1024 / r["served"]
        rows.append(
            f"| {r['target']} | {_fmt(r.get('startup_s'), 2, ' s')} "
            f"| {_fmt(r.get('rss_idle_mib'), 0, ' MiB')} | {r['asked']:,} | {r.get('served', 0):,} "
            f"| {_fmt(r.get('rss_open_mib'), 0, ' MiB')} | {_fmt(per_stream, 0)} "
            f"| {r.get('upstream_open_during', '-')} | {r.get('upstream_open_after_2s', '-')} "
            f"| {_fmt(r.get('upstream_all_closed_after_s'), 1, ' s')} |"
        )
    return head + "\n".join(rows) + "\n"


def _get(results: Results, name: str, stream: bool, conns: int) -> Summary | None:
    s = results.get(name, {}).get(Scenario(stream, conns))
    return s if s and s.runs else None


def _check(rows: list[str], what: str, measured: str, goal: str, ok: bool | None) -> None:
    rows.append(f"| {what} | {measured} | {goal} | {_mark(ok)} |")


def _load_checks(rows: list[str], results: Results, name: str) -> None:
    direct, lite = _get(results, DIRECT, False, 1), None
    s = _get(results, name, False, 1)
    if s and direct:
        added = s.p50 - direct.p50
        _check(
            rows,
            f"{name}: added p50, non-stream, 1 conn",
            f"{added:.2f} ms",
            "≤ 0.5 ms",
            added <= 0.5,
        )
    for stream, floor, p99_goal in ((False, 5000, 20.0), (True, 4000, 25.0)):
        mode = "stream" if stream else "non-stream"
        s, lite = _get(results, name, stream, 64), _get(results, LITELLM, stream, 64)
        if not s:
            continue
        ratio = s.rps / lite.rps if lite else None
        ok = s.rps >= floor and (ratio is None or ratio >= 40)
        measured = f"{s.rps:,.0f} req/s" + (f", {ratio:.1f}x LiteLLM" if ratio else ", LiteLLM not run")
        _check(rows, f"{name}: req/s, {mode}, 64 conns", measured, f"≥ {floor:,} and ≥ 40x LiteLLM", ok)
        _check(
            rows,
            f"{name}: p99, {mode}, 64 conns",
            f"{s.p99:.2f} ms",
            f"≤ {p99_goal:.0f} ms",
            s.p99 <= p99_goal,
        )


def _redis_checks(rows: list[str], results: Results, scenarios: list[Scenario]) -> None:
    """Throughput compared where it is the limit (most connections), latency where
    it is not queueing (one connection); the worse of stream and non-stream."""
    most = max(sc.connections for sc in scenarios)

    def pairs(conns: int) -> list[tuple[Summary, Summary]]:
        both = [(_get(results, MEMORY, s, conns), _get(results, REDIS, s, conns)) for s in (False, True)]
        return [(m, r) for m, r in both if m and r]

    if loaded := pairs(most):
        drop = max(1 - r.rps / m.rps for m, r in loaded)
        what = f"redis vs memory: fewer req/s at {most} conns (worse mode)"
        _check(rows, what, f"{drop:.1%}", "≤ 15%", drop <= 0.15)
    if single := pairs(1):
        added = max(r.p50 - m.p50 for m, r in single)
        what = "redis vs memory: added p50 at 1 conn (worse mode)"
        _check(rows, what, f"{added:.2f} ms", "≤ 0.3 ms", added <= 0.3)


def _stream_checks(rows: list[str], streams: list[dict[str, Any]]) -> None:
    for r in streams:
        name = r["target"]
        if not name.startswith("pool-proxy"):
            continue
        if "served" not in r:
            _check(
                rows,
                f"{name}: open streams",
                f"failed: {r.get('error', '?')}",
                "10,000 served",
                False,
            )
            continue
        served = f"{r['served']:,} of {r['asked']:,}"
        if r["served"] < r["asked"]:
            served_ok: bool | None = False
        elif r["asked"] < 10_000:
            served_ok, served = None, served + " (fewer than 10,000 asked)"
        else:
            served_ok = True
        _check(rows, f"{name}: streams served", served, "10,000 of 10,000", served_ok)
        rss = r.get("rss_open_mib")
        _check(
            rows,
            f"{name}: RSS with streams open",
            f"{_fmt(rss, 0, ' MiB')}",
            "≤ 400 MB",
            rss is not None and rss * MIB_IN_MB <= 400,
        )
        idle = r.get("rss_idle_mib")
        _check(
            rows,
            f"{name}: RSS idle",
            f"{_fmt(idle, 0, ' MiB')}",
            "≤ 60 MB",
            idle is not None and idle * MIB_IN_MB <= 60,
        )
        after = r.get("upstream_open_after_2s")
        _check(rows, f"{name}: upstream streams open 2 s after hang-up", str(after), "0", after == 0)
        start = r.get("startup_s")
        _check(
            rows,
            f"{name}: start-up to ready",
            f"{_fmt(start, 2, ' s')}",
            "≤ 1 s",
            start is not None and start <= 1,
        )


def targets_table(
    results: Results,
    scenarios: list[Scenario],
    streams: list[dict[str, Any]],
    failed: dict[str, str],
) -> str:
    rows: list[str] = []
    for name in (MEMORY, REDIS):
        if name in failed:
            _check(rows, f"{name}: runs at all", f"failed: {failed[name]}", "runs", False)
        _load_checks(rows, results, name)
    _redis_checks(rows, results, scenarios)
    _stream_checks(rows, streams)
    head = "| target of the issue | measured | goal | met |\n|---|---|---|:-:|\n"
    return head + "\n".join(rows) + "\n"
