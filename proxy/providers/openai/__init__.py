"""The `openai` provider: any OpenAI-compatible upstream, passed through or read into events."""

from proxy.providers.openai.parse import usage_of
from proxy.providers.openai.provider import OpenAIProvider
from proxy.providers.openai.signals import classify_openai

__all__ = ["OpenAIProvider", "classify_openai", "usage_of"]
