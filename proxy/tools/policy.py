"""The per-account tools policy: which provider serves a request that offers tools, and how.

A provider that calls tools natively gets the request as it is. For one that cannot,
`pool.unsupported_tools` decides: `emulate` wraps it (proxy/tools/emulated.py), `drop`
strips the tools, `reject` keeps such accounts out of the plan (the dispatcher's 400).
"""

from __future__ import annotations

from typing import Literal

from proxy.config.model import ToolPolicy
from proxy.providers.base import Capabilities
from proxy.request import ChatRequest
from proxy.tools.emulated import ChatProvider, EmulatedTools

ToolMode = Literal["native", "emulated", "dropped"]


def calls_tools(capabilities: Capabilities, policy: ToolPolicy) -> bool:
    """Whether an account may take a request that needs tools: natively, or emulated."""
    return capabilities.tools or policy == "emulate"


# The provider and request for one attempt, and how its tools are served.
Route = tuple[ChatProvider, ChatRequest, ToolMode]


def route(
    request: ChatRequest,
    provider: ChatProvider,
    capabilities: Capabilities,
    policy: ToolPolicy,
    *,
    request_id: str | None = None,
) -> Route:
    """The provider and request for one attempt on one account, of a request that offers
    tools (`has_tools`; one that offers none goes to the account's provider as it is)."""
    if capabilities.tools:
        return provider, request, "native"
    if policy == "emulate" and request.body.get("tools"):
        return EmulatedTools(provider, request_id=request_id), request, "emulated"
    return provider, request.without_tools(), "dropped"  # also legacy `functions` alone
