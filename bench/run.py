"""pool-proxy benchmark: gateways side by side in front of a fast fake upstream.

Invoked by run.sh. Phases: start the fake upstream (nginx) and every target,
validate each target with one request of each kind, time them with wrk in
alternation, then hold many open streams through each gateway in turn, and
write the report to bench/results/. See README.md for what the numbers mean.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import canned
import load
import procs
import report
import streams
import targets
from fake_upstream import FakeUpstream
from report import Results, Scenario, Summary
from targets import Direct, LiteLLM, PoolProxy, Target, Upstream

HERE = Path(__file__).resolve().parent
UPSTREAM_PORT, SLOW_PORT = 18000, 18010
PORTS = {"memory": 18080, "redis": 18081, "litellm": 18082}


@dataclass(frozen=True)
class Settings:
    smoke: bool
    duration: float
    reps: int
    connections: tuple[int, ...]
    streams: int
    litellm_streams: int
    with_litellm: bool
    backends: tuple[str, ...]
    stream_interval: float
    doors: tuple[str, ...]  # pool-proxy's other doors, timed as stream scenarios beside chat

    @classmethod
    def from_env(cls, smoke: bool) -> Settings:
        env = os.environ.get
        return cls(
            smoke=smoke,
            duration=float(env("BENCH_DURATION", "1" if smoke else "8")),
            reps=int(env("BENCH_REPS", "1" if smoke else "3")),
            connections=tuple(int(c) for c in env("BENCH_CONNECTIONS", "1,64").split(",")),
            streams=int(env("BENCH_STREAMS", "200" if smoke else "10000")),
            litellm_streams=int(env("BENCH_LITELLM_STREAMS", "1000")),
            with_litellm=env("BENCH_LITELLM", "0" if smoke else "1") == "1",
            backends=tuple(b for b in env("BENCH_BACKENDS", "memory,redis").split(",") if b),
            stream_interval=float(env("BENCH_STREAM_INTERVAL", "5")),
            doors=tuple(d for d in env("BENCH_DOORS", "messages,responses").split(",") if d),
        )


def scenarios_of(settings: Settings) -> list[Scenario]:
    """Chat non-stream and stream, then each other door's stream, at every connection count."""
    chat = [Scenario(s, c) for s in (False, True) for c in settings.connections]
    return chat + [Scenario(True, c, door) for door in settings.doors for c in settings.connections]


def serves(target: Target, sc: Scenario) -> bool:
    """Only pool-proxy has the Anthropic and Responses doors (nginx and LiteLLM: chat)."""
    return sc.door == "chat" or isinstance(target, PoolProxy)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def ensure_redis() -> bool:
    """Start a throwaway redis-server on 6379 if nothing listens; True if we started it."""
    if not procs.port_is_free(6379):
        return False
    argv = ["redis-server", "--daemonize", "yes", "--port", "6379", "--save", ""]
    argv += ["--appendonly", "no"]
    subprocess.run(procs.pinned(procs.LOAD_CPU, argv), check=True, capture_output=True)
    for _ in range(100):
        if targets.redis_cli("ping").strip() == "PONG":
            return True
        time.sleep(0.05)
    raise RuntimeError("redis-server did not answer PING")


def make_targets(settings: Settings, workdir: Path, failed: dict[str, str]) -> list[Target]:
    chosen: list[Target] = [Direct(UPSTREAM_PORT, workdir / "direct")]
    if targets.pool_proxy_installed():
        chosen += [PoolProxy(b, PORTS[b], workdir / f"pool-proxy-{b}") for b in settings.backends]
    else:
        for backend in settings.backends:
            failed[f"pool-proxy ({backend})"] = "not runnable: `python -m proxy serve --help` fails"
    if settings.with_litellm:
        if LiteLLM.installed():
            chosen.append(LiteLLM(PORTS["litellm"], workdir / "litellm"))
        else:
            failed["litellm"] = "bench/.litellm-venv missing (run.sh creates it)"
    return chosen


def start_and_validate(
    settings: Settings, chosen: list[Target], upstream: FakeUpstream, failed: dict[str, str]
) -> list[Target]:
    """Targets that started and answered both kinds of request correctly."""
    live = []
    for target in chosen:
        try:
            target.start(Upstream(upstream.base_url))
            for stream in (False, True):
                targets.validate(target, upstream.request_count, stream)
            if isinstance(target, PoolProxy):
                for door in settings.doors:
                    targets.validate(target, upstream.request_count, True, door)
            live.append(target)
            log(f"{target.name}: ready and valid")
        except Exception as exc:  # report and carry on with the others
            failed[target.name] = f"start/validate: {exc}"[:300]
            log(f"{target.name}: FAILED {exc}\n{target.log_tail()}")
            target.stop()
    return live


def run_load(settings: Settings, live: list[Target], workdir: Path, failed: dict[str, str]) -> Results:
    """wrk runs, rotating through targets inside each repetition so drift hits all alike."""
    scenarios = scenarios_of(settings)
    results: Results = {t.name: {sc: Summary() for sc in scenarios if serves(t, sc)} for t in live}
    bodies = {(s, d): load.body_file(workdir, s, d) for s in (False, True) for d in ("chat", *settings.doors)}
    for rep in range(settings.reps):
        for sc in scenarios:
            for target in live:
                if target.name in failed or not serves(target, sc):
                    continue
                try:
                    run = load.run_wrk(
                        target.url(sc.door),
                        canned.CLIENT_KEY,
                        bodies[sc.stream, sc.door],
                        sc.connections,
                        settings.duration,
                    )
                except Exception as exc:
                    failed[target.name] = f"wrk: {exc}"[:300]
                    continue
                results[target.name][sc].runs.append(run)
                log(
                    f"rep {rep + 1} {sc.mode:20} c={sc.connections:<3} {target.name:20} "
                    f"{run.rps:9,.0f} req/s  p50 {run.p50_ms:7.2f} ms  "
                    f"p99 {run.p99_ms:7.2f} ms  errors {run.errors}"
                )
    return results


def run_streams(settings: Settings, live: list[Target], workdir: Path) -> list[dict[str, Any]]:
    if settings.streams <= 0:
        return []
    slow = streams.SlowUpstream(SLOW_PORT, settings.stream_interval, workdir / "slow")
    slow.start()
    cap = streams.max_streams_here()
    out = []
    try:
        for target in live:
            asked = settings.litellm_streams if isinstance(target, LiteLLM) else settings.streams
            n = min(asked, cap)
            log(
                f"{target.name}: holding {n:,} streams"
                + (f" (asked {asked:,}, capped by open-files limit)" if n < asked else "")
            )
            result = streams.measure(target, slow, n)
            if n < asked:
                result["capped_from"] = asked
            log(f"{target.name}: {result}")
            out.append(result)
    finally:
        slow.stop()
    return out


def write_report(settings: Settings, body: str) -> Path:
    """results/<UTC stamp>.md and results/latest.md; a smoke run only latest-smoke.md."""
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    if settings.smoke:
        path = results_dir / "latest-smoke.md"
        path.write_text(body)
        return path
    path = results_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.md"
    path.write_text(body)
    shutil.copyfile(path, results_dir / "latest.md")
    return path


def render(
    settings: Settings,
    results: Results,
    scenarios: list[Scenario],
    stream_results: list[dict[str, Any]],
    failed: dict[str, str],
    foreign_cores: float,
) -> str:
    env = (
        f"{'smoke run: ' if settings.smoke else ''}{settings.reps} runs of {settings.duration:g} s "
        f"per cell, medians; wrk 1 thread; proxies on CPU {procs.PROXY_CPU}, "
        f"wrk + nginx on CPU {procs.LOAD_CPU}; "
        f"LiteLLM AIOHTTP_CONNECTOR_LIMIT(_PER_HOST)={targets.LITELLM_CONNECTOR_LIMIT}; "
        f"open-files limit {procs.nofile_limit():,}; other processes used {foreign_cores:.2f} "
        "cores on average while the bench ran (above ~0.05 they disturbed the numbers)"
    )
    capped = [r for r in stream_results if "capped_from" in r and r["target"] != "direct"]
    notes = "".join(
        f"\n- {r['target']}: {r['asked']:,} streams instead of {r['capped_from']:,}: "
        f"the open-files limit ({procs.nofile_limit():,}, not raisable here) allows a gateway "
        f"about {streams.max_streams_here():,} (two sockets per stream)."
        for r in capped
    )
    return (
        f"# pool-proxy benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n{env}\n\n"
        f"## Load (fast fake upstream)\n\n{report.load_table(results, scenarios, failed)}\n"
        f"## Doors (stream, vs the chat stream)\n\n{report.doors_table(results, scenarios)}\n"
        f"## Open streams (slow upstream, one chunk every {settings.stream_interval:g} s)\n\n"
        f"{report.streams_table(stream_results) if stream_results else 'skipped'}{notes}\n\n"
        f"## Targets\n\n{report.targets_table(results, scenarios, stream_results, failed)}"
    )


def main() -> int:
    settings = Settings.from_env(smoke="--smoke" in sys.argv[1:])
    taken = [p for p in (UPSTREAM_PORT, SLOW_PORT, *PORTS.values()) if not procs.port_is_free(p)]
    if taken:
        log(f"cannot run: ports {taken} are in use (another bench, or a leftover process?)")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="pool-proxy-bench-"))
    log(f"settings {settings}; work dir {workdir}")
    failed: dict[str, str] = {}
    foreign = procs.ForeignCpu()
    upstream = FakeUpstream(workdir, UPSTREAM_PORT)
    started_redis = False
    live: list[Target] = []
    try:
        chosen = make_targets(settings, workdir, failed)
        if any(isinstance(t, PoolProxy) and t.backend == "redis" for t in chosen):
            started_redis = ensure_redis()
            foreign.count_as_ours(targets.redis_pid())
        upstream.start()
        live = start_and_validate(settings, chosen, upstream, failed)
        results = run_load(settings, live, workdir, failed)
        for target in live:
            target.stop()
        stream_results = run_streams(settings, [t for t in live if t.name not in failed], workdir)
    finally:
        for target in live:
            target.stop()
        upstream.stop()
        if started_redis:
            targets.redis_cli("shutdown", "nosave")
    scenarios = scenarios_of(settings)
    foreign_s, wall_s = foreign.seconds()
    body = render(settings, results, scenarios, stream_results, failed, foreign_s / wall_s)
    path = write_report(settings, body)
    print("\n" + body)
    log(f"report written to {path}")
    stream_failed = [r["target"] for r in stream_results if "error" in r or r.get("failed")]
    with_errors = [name for name, cells in results.items() if any(s.errors for s in cells.values())]
    if failed or stream_failed or with_errors:
        log(
            f"FAILED: {sorted(failed)} did not run, {stream_failed} lost streams, "
            f"{with_errors} answered errors under load; logs kept in {workdir}"
        )
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
