"""Who may call /v1: clients from the config file and clients issued at runtime (issue 12)."""

from proxy.clients.client import Client
from proxy.clients.directory import ClientDirectory

__all__ = ["Client", "ClientDirectory"]
