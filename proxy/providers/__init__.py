"""Provider registry: one entry per upstream kind (DESIGN §8)."""

from __future__ import annotations

from proxy.config import AccountConfig
from proxy.providers.base import Capabilities, Provider, ProviderContext
from proxy.providers.demo import DemoProvider
from proxy.providers.mammouth import MammouthProvider
from proxy.providers.monica import MonicaProvider
from proxy.providers.openai import OpenAIProvider

PROVIDERS: dict[str, type[Provider]] = {
    "demo": DemoProvider,
    "mammouth": MammouthProvider,
    "monica": MonicaProvider,
    "openai": OpenAIProvider,
}


def register(cls: type[Provider]) -> type[Provider]:
    PROVIDERS[cls.kind] = cls
    return cls


def build_provider(account: AccountConfig, ctx: ProviderContext) -> Provider:
    try:
        cls = PROVIDERS[account.provider]
    except KeyError:
        raise ValueError(f"provider {account.provider!r} is not available") from None
    return cls(account, ctx)


__all__ = [
    "PROVIDERS",
    "Capabilities",
    "Provider",
    "ProviderContext",
    "build_provider",
]
