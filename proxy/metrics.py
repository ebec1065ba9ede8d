"""Prometheus metrics (DESIGN §9). Labels stay bounded: models outside the configured
set are reported as `other`, and no label ever carries a request id or a key."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from proxy.pool.status import State

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)


class AccountStates(Collector):
    """One gauge series per account and state, read at scrape time."""

    def __init__(self, read: Callable[[], Iterable[tuple[str, str, str]]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "pool_proxy_account_state",
            "1 for the state each account is in, 0 for the others",
            labels=["account", "provider", "state"],
        )
        for account, provider, current in self.read():
            for state in State:
                family.add_metric([account, provider, state.value], 1 if state == current else 0)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.models: frozenset[str] = frozenset()
        self._request_children: dict[tuple[object, ...], Counter] = {}
        self._attempt_children: dict[tuple[str, str], Counter] = {}
        self.clients: frozenset[str] = frozenset()
        self.requests = Counter(
            "pool_proxy_requests",
            "Requests answered, by route, status, model and client",
            ["route", "status", "model", "client"],
            registry=r,
        )
        self.attempts = Counter(
            "pool_proxy_upstream_attempts",
            "Upstream calls, by account, provider and outcome",
            ["account", "provider", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "pool_proxy_request_seconds",
            "Time from request to the last byte of the answer",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.first_byte = Histogram(
            "pool_proxy_first_byte_seconds",
            "Time from request to the first byte sent to the client",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "pool_proxy_overhead_seconds",
            "Time spent in the gateway itself (total minus upstream wait)",
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.rejections = Counter(
            "pool_proxy_rate_limit_rejections",
            "Requests refused by a limit, by kind",
            ["kind"],
            registry=r,
        )
        self.open_streams = Gauge("pool_proxy_open_streams", "Streams being relayed right now", registry=r)
        self.store_errors = Counter(
            "pool_proxy_state_store_errors",
            "Failed calls to the state store backend",
            ["operation"],
            registry=r,
        )

    def watch_accounts(self, read: Callable[[], Iterable[tuple[str, str, str]]]) -> None:
        self.registry.register(AccountStates(read))

    def configure(self, models: Iterable[str], clients: Iterable[str]) -> None:
        self.models = frozenset(models)
        self.clients = frozenset(clients)
        self._request_children.clear()
        self._attempt_children.clear()

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
        counter = self._request_children.get(key)
        if counter is None:  # first time for these labels: resolve once, then a dict hit
            client_label = client if client in self.clients else "anonymous"
            counter = self.requests.labels(route, str(status), self.model_label(model), client_label)
            if len(self._request_children) > 10_000:
                self._request_children.clear()
            self._request_children[key] = counter
        counter.inc()
        self.latency.labels(route).observe(seconds)
        if first_byte is not None:
            self.first_byte.labels(route).observe(first_byte)
        if overhead is not None:
            self.overhead.observe(overhead)

    def attempt(self, account: str, provider: str, outcome: str) -> None:
        key = (account, outcome)
        counter = self._attempt_children.get(key)
        if counter is None:
            counter = self._attempt_children[key] = self.attempts.labels(account, provider, outcome)
        counter.inc()
