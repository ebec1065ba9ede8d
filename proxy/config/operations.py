"""The config keys for running a pool day to day: scheduled checks, sticky conversations,
model fallbacks and alerts (issue 13)."""

from __future__ import annotations

from proxy.config.model import HealthCheckConfig, NotifyConfig, StickyConfig
from proxy.config.reader import Reader

CHECKABLE_STATES = ("invalid", "exhausted", "cooling")
NOTIFY_EVENTS = ("invalid", "exhausted", "cooling", "disabled", "recovered", "pool_empty", "budget")


def health_check(r: Reader) -> HealthCheckConfig:
    d = HealthCheckConfig()
    every = r.duration("every", 0.0) or None
    states = r.str_list("states") or d.states
    for state in states:
        if state not in CHECKABLE_STATES:
            r.error(r.key("states"), f"{state!r} is not one of {', '.join(CHECKABLE_STATES)}")
    if every is not None and every < 1:
        r.error(r.key("every"), "must be at least 1s")
    r.done()
    return HealthCheckConfig(every=every, states=states)


def sticky(r: Reader) -> StickyConfig:
    d = StickyConfig()
    config = StickyConfig(enabled=r.flag("enabled", d.enabled), ttl=r.duration("ttl", d.ttl))
    if config.ttl <= 0:
        r.error(r.key("ttl"), "must be a positive duration")
    r.done()
    return config


def model_fallbacks(r: Reader) -> dict[str, tuple[str, ...]]:
    fallbacks: dict[str, tuple[str, ...]] = {}
    for name in list(r.raw):
        models = r.str_list(str(name))
        if not models:
            r.error(r.key(str(name)), "must be a non-empty list of model names")
            continue
        if str(name) in models:
            r.error(r.key(str(name)), "must not fall back to itself")
        fallbacks[str(name)] = models
    return fallbacks


def notify(r: Reader) -> NotifyConfig:
    d = NotifyConfig()
    webhook = r.text("webhook")
    events = r.str_list("events") or d.events
    for event in events:
        if event not in NOTIFY_EVENTS:
            r.error(r.key("events"), f"{event!r} is not one of {', '.join(NOTIFY_EVENTS)}")
    if webhook and not webhook.startswith(("http://", "https://")):
        r.error(r.key("webhook"), "must start with http:// or https://")
    r.done()
    return NotifyConfig(webhook=webhook, events=events)
