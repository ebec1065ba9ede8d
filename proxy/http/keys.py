"""Typed keys for what the app and each request carry."""

from __future__ import annotations

from aiohttp import web

from proxy.gateway import Gateway
from proxy.http.streams import OpenStreams

GATEWAY = web.AppKey("gateway", Gateway)
STREAMS = web.AppKey("streams", OpenStreams)
