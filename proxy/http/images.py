"""`POST /v1/images/generations`: validated, then tried on accounts that can draw."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from proxy.doors.openai import IMAGES
from proxy.errors import invalid_request, model_not_allowed, model_not_found
from proxy.http.auth import authenticate
from proxy.http.exchange import Exchange
from proxy.pool.manager import Account
from proxy.request import parse_json_body

DEFAULT_MODEL = "dall-e-3"
SIZES = ("256x256", "512x512", "1024x1024", "1792x1024", "1024x1792")
MAX_IMAGES = 4
CURSOR = "images:generations"  # its own round-robin cursor, apart from chat models


def parse_images(raw: bytes) -> dict[str, Any]:
    """The fields a drawing provider needs, checked; anything else is ignored."""
    body = parse_json_body(raw)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise invalid_request("'prompt' is required and must be a non-empty string.", "prompt")
    n = body.get("n", 1)
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
        raise invalid_request(f"'n' must be an integer from 1 to {MAX_IMAGES}.", "n")
    size = body.get("size") or "1024x1024"
    if size not in SIZES:
        raise invalid_request(f"'size' must be one of {', '.join(SIZES)}.", "size")
    model = body.get("model") or DEFAULT_MODEL
    if not isinstance(model, str):
        raise invalid_request("'model' must be a string.", "model")
    response_format = body.get("response_format") or "url"
    if response_format != "url":
        raise invalid_request("Only 'response_format': 'url' is supported.", "response_format")
    return {"prompt": prompt, "n": n, "size": size, "model": model}


def drawing_accounts(accounts: list[Account]) -> tuple[Account, ...]:
    found = tuple(a for a in accounts if a.provider.capabilities.images)
    if not found:
        raise model_not_found("", "No account of this gateway can generate images.")
    return found


async def generations(request: web.Request) -> web.Response:
    with Exchange(request, IMAGES) as ex:
        gateway = ex.gateway
        ex.client = client = authenticate(request, gateway)
        body = parse_images(await request.read())
        ex.model = body["model"]
        if not client.may_use(body["model"]):
            raise model_not_allowed(body["model"])
        accounts = drawing_accounts(list(gateway.manager.accounts.values()))
        result = await gateway.dispatcher.run(
            CURSOR, accounts, lambda account: account.provider.generate_images(body), client.quota, ex.trace
        )
        return web.Response(body=orjson.dumps(result), content_type="application/json", headers=ex.headers())
