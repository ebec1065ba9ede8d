"""Prometheus metrics (DESIGN §9). Labels stay bounded: models outside the configured
set are reported as `other`, and no label ever carries a request id or a key.

The per-request series are plain in-process tallies (a dict increment, a bisect)
turned into Prometheus families only when `/metrics` is scraped: prometheus-client's
own Counter and Histogram take a lock and walk the buckets in Python on every
observation, which the hot path does not need on a single event loop.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from proxy.pool.status import State

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)

MAX_CLIENT_LABELS = 1000

AccountStatesReader = Callable[[], Iterable[tuple[str, str, str]]]


class Buckets:
    """One histogram series: counts per bucket and the running sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        running, out = 0, []
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


class Tallies(Collector):
    """The hot-path series, rendered at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.m
        requests = CounterMetricFamily(
            "pool_proxy_requests",
            "Requests answered, by route (chat, images, …), status, model and client",
            labels=["route", "status", "model", "client"],
        )
        for request_labels, count in m.request_counts.items():
            requests.add_metric(list(request_labels), count)
        yield requests
        attempts = CounterMetricFamily(
            "pool_proxy_upstream_attempts",
            "Upstream calls, by account, provider and outcome",
            labels=["account", "provider", "outcome"],
        )
        for labels, count in m.attempt_counts.items():
            attempts.add_metric(list(labels), count)
        yield attempts
        for name, doc, series in (
            ("pool_proxy_request_seconds", "Time from request to the last byte of the answer", m.latency),
            ("pool_proxy_first_byte_seconds", "Time from request to the first byte sent", m.first_byte),
        ):
            family = HistogramMetricFamily(name, doc, labels=["route"])
            for route, buckets in series.items():
                family.add_metric([route], buckets.cumulative(), sum_value=buckets.total)
            yield family
        overhead = HistogramMetricFamily(
            "pool_proxy_overhead_seconds",
            "Time spent in the gateway itself (total minus upstream wait), by route",
            labels=["route"],
        )
        for route, buckets in m.overhead.items():
            overhead.add_metric([route], buckets.cumulative(), sum_value=buckets.total)
        yield overhead
        streams = GaugeMetricFamily("pool_proxy_open_streams", "Streams being relayed right now")
        streams.add_metric([], m.open_streams())
        yield streams
        if m.account_states is not None:
            states = GaugeMetricFamily(
                "pool_proxy_account_state",
                "1 for the state each account is in, 0 for the others",
                labels=["account", "provider", "state"],
            )
            for account, provider, current in m.account_states():
                for state in State:
                    states.add_metric([account, provider, state.value], 1 if state == current else 0)
            yield states


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.models: frozenset[str] = frozenset()
        self.clients: frozenset[str] = frozenset()
        self.request_counts: Tally[tuple[str, str, str, str]] = Tally()
        self.attempt_counts: Tally[tuple[str, str, str]] = Tally()
        self.latency: dict[str, Buckets] = {}
        self.first_byte: dict[str, Buckets] = {}
        self.overhead: dict[str, Buckets] = {}
        self.open_streams: Callable[[], int] = lambda: 0
        self.account_states: AccountStatesReader | None = None
        self._labels: dict[tuple[object, ...], tuple[str, str, str, str]] = {}
        self.registry.register(Tallies(self))
        self.rejections = Counter(
            "pool_proxy_rate_limit_rejections",
            "Requests refused by a limit, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.client_changes = Counter(
            "pool_proxy_client_changes",
            "Changes to runtime clients through the admin API, by action",
            ["action"],
            registry=self.registry,
        )
        self.store_errors = Counter(
            "pool_proxy_state_store_errors",
            "Failed calls to the state store backend",
            ["operation"],
            registry=self.registry,
        )
        self.webhook_events = Counter(
            "pool_proxy_webhook_events",
            "Alert webhook events, by result (sent, failed after retries, dropped)",
            ["result"],
            registry=self.registry,
        )

    def watch_accounts(self, read: AccountStatesReader) -> None:
        self.account_states = read

    def watch_streams(self, count: Callable[[], int]) -> None:
        self.open_streams = count

    def configure(self, models: Iterable[str], clients: Iterable[str]) -> None:
        self.models = frozenset(models)
        self.clients = frozenset(clients)
        self._labels.clear()

    def add_client(self, name: str) -> None:
        """A runtime client gets its own label (names only, never keys; bounded)."""
        if name not in self.clients and len(self.clients) < MAX_CLIENT_LABELS:
            self.clients = self.clients | {name}
            self._labels.clear()

    def model_label(self, model: str | None) -> str:
        if not model:
            return "none"
        return model if model in self.models else "other"

    def request(
        self,
        route: str,
        status: int,
        model: str | None,
        client: str | None,
        seconds: float,
        first_byte: float | None,
        overhead: float | None,
    ) -> None:
        key = (route, status, model, client)
        labels = self._labels.get(key)
        if labels is None:  # resolved once per distinct request shape, then a dict hit
            client_label = client if client in self.clients else "anonymous"
            labels = (route, str(status), self.model_label(model), client_label)
            if len(self._labels) > 10_000:
                self._labels.clear()
            self._labels[key] = labels
        self.request_counts[labels] += 1
        series = self.latency.get(route) or self.latency.setdefault(route, Buckets(LATENCY_BUCKETS))
        series.observe(seconds)
        if first_byte is not None:
            ttfb = self.first_byte.get(route) or self.first_byte.setdefault(route, Buckets(LATENCY_BUCKETS))
            ttfb.observe(first_byte)
        if overhead is not None:
            spent = self.overhead.get(route) or self.overhead.setdefault(route, Buckets(OVERHEAD_BUCKETS))
            spent.observe(overhead)

    def attempt(self, account: str, provider: str, outcome: str) -> None:
        self.attempt_counts[(account, provider, outcome)] += 1
