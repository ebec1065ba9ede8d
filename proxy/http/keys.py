"""Typed keys for what the app and each request carry."""

from __future__ import annotations

from aiohttp import web

from proxy.gateway import Gateway
from proxy.http.streams import OpenStreams

GATEWAY = web.AppKey("gateway", Gateway)
STREAMS = web.AppKey("streams", OpenStreams)

REQUEST_ID = web.RequestKey("request_id", str)
ORIGIN = web.RequestKey("cors_origin", str)  # the Access-Control-Allow-Origin value, when allowed


def request_id(request: web.Request) -> str:
    return request[REQUEST_ID]
