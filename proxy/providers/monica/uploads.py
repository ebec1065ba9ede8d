"""Image inputs for Monica: presign → PUT → register → poll until indexed (upstreams.md §1.8)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp

from proxy.fetch import Image, load_image
from proxy.outcome import transient
from proxy.providers.filecache import FileCache
from proxy.providers.monica.client import JSON_TIMEOUT, MonicaClient

POLL_INTERVAL = 1.0  # seconds between batch_get_file polls
POLL_TRIES = 5


class Uploader:
    """Uploads one account's images, remembering each by content hash."""

    def __init__(self, client: MonicaClient, cache_size: int = 256) -> None:
        self.client = client
        self.cache: FileCache[dict[str, Any]] = FileCache(cache_size)

    async def file_info(self, url: str) -> dict[str, Any]:
        image = await load_image(url, allow_private=self.client.ctx.allow_private_fetch)
        key = FileCache.key(image.data)
        cached = self.cache.get(key)
        if cached is not None:
            return dict(cached)
        info = await self._upload(image)
        self.cache.put(key, info)
        return dict(info)

    async def _upload(self, image: Image) -> dict[str, Any]:
        name = f"{uuid.uuid4()}.{image.ext}"
        signed = await self.client.post_json(
            "/api/file_object/pre_sign_list_by_module",
            {"filename_list": [name], "module": "chat_bot", "location": "files", "obj_id": str(uuid.uuid4())},
            what="monica presign",
        )
        put_url, object_url, cdn_url = (
            _first(signed, "pre_sign_url_list"),
            _first(signed, "object_url_list"),
            _first(signed, "cdn_url_list"),
        )
        if not put_url:
            raise transient("monica presign gave no upload URL")
        await self._put(put_url, image)
        created = await self.client.post_json(
            "/api/files/batch_create_llm_file",
            {"data": [_new_file(name, image, object_url)]},
            what="monica file register",
        )
        item = _first_item(created)
        info = {
            "file_url": cdn_url,
            "file_uid": str(item.get("file_uid", "")),
            "parse": False,
            "file_name": item.get("file_name") or name,
            "file_size": item.get("file_size") or len(image.data),
            "file_type": item.get("file_type") or image.mime,
            "file_ext": item.get("file_type") or image.mime,  # Monica wants the MIME type here
            "file_tokens": item.get("file_tokens") or 0,
            "file_chunks": item.get("file_chunks") or 0,
            "use_full_text": True,
        }
        if not info["file_uid"]:
            raise transient("monica file register gave no file_uid")
        return await self._indexed(info)

    async def _put(self, url: str, image: Image) -> None:
        """The bytes go to cloud storage at a presigned URL, without the cookie."""
        try:
            async with self.client.http.put(
                url,
                data=image.data,
                headers={"Content-Type": image.mime},
                timeout=aiohttp.ClientTimeout(total=JSON_TIMEOUT),
            ) as resp:
                if resp.status >= 300:
                    raise transient(f"monica image PUT answered HTTP {resp.status}")
        except TimeoutError:
            raise transient("monica image PUT timed out", timeout=True) from None
        except aiohttp.ClientError as exc:
            raise transient(f"monica image PUT failed: {type(exc).__name__}") from None

    async def _indexed(self, info: dict[str, Any]) -> dict[str, Any]:
        """Poll until Monica has chunked the file; the chat needs its chunk and token counts."""
        for attempt in range(POLL_TRIES):
            if attempt:
                await asyncio.sleep(POLL_INTERVAL)
            data = await self.client.post_json(
                "/api/files/batch_get_file", {"file_uids": [info["file_uid"]]}, what="monica file poll"
            )
            item = _first_item(data)
            if int(item.get("file_chunks") or 0) > 0:
                info["file_chunks"] = int(item["file_chunks"])
                info["file_tokens"] = int(item.get("file_tokens") or info["file_tokens"])
                return info
        raise transient("monica did not index the uploaded image in time")


def _new_file(name: str, image: Image, object_url: str) -> dict[str, Any]:
    return {
        "file_url": "",
        "file_uid": "",
        "parse": False,
        "file_name": name,
        "file_size": len(image.data),
        "file_type": image.mime,
        "file_ext": "",
        "file_tokens": 0,
        "file_chunks": 0,
        "object_url": object_url,
        "use_full_text": False,
    }


def _first(data: dict[str, Any], key: str) -> str:
    values = data.get(key)
    return str(values[0]) if isinstance(values, list) and values else ""


def _first_item(data: dict[str, Any]) -> dict[str, Any]:
    values = data.get("items")
    first = values[0] if isinstance(values, list) and values else None
    return first if isinstance(first, dict) else {}
