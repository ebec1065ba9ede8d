"""A fake Mammouth (mammouth.ai) that checks its multipart input and answers in raw text.

Chat answers are the assistant text with no framing, written in byte pieces that may
split a UTF-8 sequence. Each `auth_session` cookie has a script of `Step`s played one
per chat request; malformed requests are answered 422 and noted in `problems`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.scripted import CookieSessions


@dataclass
class Step:
    """One scripted answer. `kind`: ok, json, status, hang, empty."""

    kind: str = "ok"
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    text: str = "Hello from Mammouth!"
    split: int = 5  # bytes per write


@dataclass
class SeenChat:
    session: str
    headers: Mapping[str, str]
    model: str
    preprompt: str
    messages: list[dict[str, Any]]


class FakeMammouth(CookieSessions[Step]):
    cookie_name = "auth_session"

    def __init__(self) -> None:
        super().__init__(Step())
        self.saved: dict[str, bytes] = {}
        self.upload_failures: dict[str, int] = {}  # session -> status for saveFile
        self.url = ""
        self.app = web.Application()
        self.app.router.add_post("/api/models/llms", self.chat)
        self.app.router.add_post("/api/attachments/saveFile", self.save_file)

    def _problem(self, text: str) -> web.Response:
        self.problems.append(text)
        return web.json_response({"statusCode": 422, "message": f"fake mammouth: {text}"}, status=422)

    async def _parts(self, request: web.Request) -> list[tuple[str, str | None, str | None, bytes]]:
        """(name, filename, content type, bytes) of every multipart part, in order."""
        if not request.content_type.startswith("multipart/form-data"):
            return []
        reader = await request.multipart()
        parts = []
        async for part in reader:
            assert not isinstance(part, type(reader))
            data = await part.read()  # type: ignore[union-attr]
            content_type = part.headers.get("Content-Type")
            parts.append((part.name or "", part.filename, content_type, bytes(data)))
        return parts

    async def chat(self, request: web.Request) -> web.StreamResponse:
        session, problem = self.session_of(request)
        if not problem and request.headers.get("origin") != "https://mammouth.ai":
            problem = "origin header must be https://mammouth.ai"
        parts = await self._parts(request)
        names = [p[0] for p in parts]
        if not problem and (names[:2] != ["model", "preprompt"] or set(names[2:]) != {"messages"}):
            problem = f"multipart parts must be model, preprompt, messages…; got {names}"
        messages: list[dict[str, Any]] = []
        for _, _, _, data in parts[2:]:
            turn = orjson.loads(data)
            messages.append(turn)
            if not problem and set(turn) != {"content", "imagesData", "documentsData"}:
                problem = f"a messages part has keys {sorted(turn)}"
            if not problem and not turn["content"]:
                problem = "a messages part has empty content"
        values = {name: data.decode() for name, _, _, data in parts[:2]}
        self.seen.append(
            SeenChat(
                session,
                request.headers.copy(),
                values.get("model", ""),
                values.get("preprompt", ""),
                messages,
            )
        )
        if problem:
            return self._problem(problem)
        step = self.next_step(session)
        if step.kind == "status":
            return web.Response(status=step.status, text=step.body, headers=step.headers)
        if step.kind == "json":
            return web.Response(text=step.body, content_type="application/json")
        if step.kind == "hang":
            await asyncio.sleep(3600)
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        raw = b"" if step.kind == "empty" else step.text.encode()
        for start in range(0, len(raw), step.split):
            await response.write(raw[start : start + step.split])
            await asyncio.sleep(0)
        await response.write_eof()
        return response

    async def save_file(self, request: web.Request) -> web.Response:
        session, problem = self.session_of(request)
        if not problem and (
            request.headers.get("Origin") != "https://mammouth.ai"
            or request.headers.get("Referer") != "https://mammouth.ai/app/a/default"
        ):
            problem = "saveFile needs Origin and Referer of mammouth.ai"
        parts = await self._parts(request)
        names = [p[0] for p in parts]
        if not problem and names != ["type", "name", "file"]:
            problem = f"saveFile parts must be type, name, file; got {names}"
        if not problem and (parts[0][3] != b"image" or parts[2][1] != "blob" or parts[2][2] != "image/png"):
            problem = "saveFile: type=image, file part named blob with image/png"
        if problem:
            return self._problem(problem)
        failure = self.upload_failures.get(session)
        if failure:
            return web.json_response(
                {"statusCode": failure, "message": "Usage limit reached"}, status=failure
            )
        name = parts[1][3].decode()
        self.saved[name] = parts[2][3]
        return web.json_response({"location": f"{self.url}/storage/{name}"})
