"""A fake Monica (api.monica.im) that checks what it receives and answers in Monica's formats.

Chat answers are SSE `data:` events (text deltas, `agent_status` reasoning, `finished`),
written as raw bytes that may split UTF-8 sequences. Each session cookie has a script
of `Step`s played one per chat request. A request that breaks the wire format is
answered 422 and noted in `problems`, so a test sees exactly what was wrong.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.scripted import CookieSessions

WELCOME = "__RENDER_BOT_WELCOME_MSG__"
FILE_INFO_KEYS = {
    "file_url",
    "file_uid",
    "parse",
    "file_name",
    "file_size",
    "file_type",
    "file_ext",
    "file_tokens",
    "file_chunks",
    "use_full_text",
}


@dataclass
class Step:
    """One scripted chat answer. `kind`: ok, status, login, json, hang, empty, stall."""

    kind: str = "ok"
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    text: str = "Hello from Monica!"
    reasoning: str = ""
    split: int = 0  # write the SSE bytes in pieces of this size (0: one event per write)
    chunks: list[str] = field(default_factory=list)  # text events exactly these (default: word by word)


@dataclass
class SeenChat:
    path: str
    session: str
    headers: Mapping[str, str]
    body: dict[str, Any]

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.body["data"]["items"]  # type: ignore[no-any-return]

    @property
    def questions(self) -> list[str]:
        return [i["data"]["content"] for i in self.items if i["item_type"] == "question"]


class FakeMonica(CookieSessions[Step]):
    cookie_name = "session_id"

    def __init__(self) -> None:
        super().__init__(Step())
        self.uploaded: dict[str, bytes] = {}
        self.presigns = 0
        self.polls: dict[str, int] = defaultdict(int)
        self.api_failures: dict[str, int] = {}  # session -> status of its upload/drawing calls
        self.drawings: list[dict[str, Any]] = []
        self.draw_polls = 0
        self.url = ""
        app = web.Application()
        app.router.add_post("/api/custom_bot/chat", self.chat)
        app.router.add_post("/api/custom_bot/preview_chat", self.chat)
        app.router.add_post("/api/file_object/pre_sign_list_by_module", self.presign)
        app.router.add_put("/upload/{name}", self.put)
        app.router.add_post("/api/files/batch_create_llm_file", self.create_file)
        app.router.add_post("/api/files/batch_get_file", self.get_file)
        app.router.add_post("/api/image_tools/text_to_image", self.text_to_image)
        app.router.add_post("/api/image_tools/loop_result", self.loop_result)
        self.app = app

    # -- checks ------------------------------------------------------------------------------

    def _problem(self, text: str) -> web.Response:
        self.problems.append(text)
        return web.json_response({"code": 422, "msg": f"fake monica: {text}"}, status=422)

    def _check_headers(self, request: web.Request, *, sse: bool) -> str | None:
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return "Content-Type is not application/json"
        if "Chrome/" not in request.headers.get("User-Agent", ""):
            return "User-Agent is not a desktop Chrome"
        if sse and request.headers.get("x-client-locale") != "zh_CN":
            return "x-client-locale missing"
        if sse and "text/event-stream" not in request.headers.get("Accept", ""):
            return "Accept does not ask for text/event-stream"
        return None

    def _check_chat(self, path: str, body: dict[str, Any]) -> str | None:
        data = body.get("data") or {}
        items = data.get("items")
        custom = path.endswith("preview_chat")
        if not str(body.get("task_uid", "")).startswith("task:"):
            return "task_uid must start with 'task:'"
        if not body.get("bot_uid"):
            return "bot_uid missing"
        conv = data.get("conversation_id", "")
        if not conv.startswith("conv:"):
            return "conversation_id must start with 'conv:'"
        if not isinstance(items, list) or len(items) < 2:
            return "items must hold the welcome item and at least one message"
        first = items[0]
        if first.get("item_type") != "reply" or first.get("data", {}).get("content") != WELCOME:
            return "items[0] must be the welcome item"
        if "parent_item_id" in first:
            return "the welcome item has no parent"
        for index, item in enumerate(items[1:], start=1):
            problem = self._check_item(item, items[index - 1], conv, incognito=not custom)
            if problem:
                return f"items[{index}]: {problem}"
        if data.get("pre_parent_item_id") != items[-1]["item_id"]:
            return "pre_parent_item_id must be the last item's id"
        if body.get("language") != "auto" or body.get("task_type") != "chat":
            return "language/task_type wrong"
        if data.get("trigger_by") != "auto":
            return "trigger_by must be auto"
        return self._check_custom(body) if custom else self._check_normal(body)

    def _check_item(
        self, item: dict[str, Any], previous: dict[str, Any], conv: str, *, incognito: bool
    ) -> str | None:
        if not str(item.get("item_id", "")).startswith("msg:"):
            return "item_id must start with 'msg:'"
        if item.get("parent_item_id") != previous.get("item_id"):
            return "parent_item_id does not link to the previous item"
        if item.get("conversation_id") != conv:
            return "conversation_id differs from the body's"
        if item.get("item_type") not in ("question", "reply"):
            return "item_type must be question or reply"
        data = item.get("data") or {}
        if not isinstance(data.get("content"), str):
            return "content must be a string"
        if data.get("type") == "file_with_text":
            infos = data.get("file_infos")
            if not infos or any(set(i) != FILE_INFO_KEYS for i in infos):
                return f"file_infos malformed: {infos!r}"
            if any(i["file_chunks"] <= 0 or not i["use_full_text"] for i in infos):
                return "file_infos used before the file was indexed"
        elif data.get("type") != "text":
            return "data.type must be text or file_with_text"
        if incognito and data.get("is_incognito") is not True:
            return "normal-mode items carry is_incognito: true"
        if not incognito and "is_incognito" in data:
            return "custom-bot items omit is_incognito"
        return None

    def _check_normal(self, body: dict[str, Any]) -> str | None:
        data = body["data"]
        if data.get("is_incognito") is not True or data.get("use_new_memory") is not False:
            return "normal mode: is_incognito true, use_new_memory false"
        if body.get("tool_data") != {"sys_skill_list": None}:
            return "tool_data.sys_skill_list must be null"
        if "bot_data" in body:
            return "normal mode has no bot_data"
        return None

    def _check_custom(self, body: dict[str, Any]) -> str | None:
        data, bot = body["data"], body.get("bot_data") or {}
        if bot.get("uid") != body["bot_uid"] or bot.get("type") != "custom_bot":
            return "bot_data.uid/type wrong"
        if not bot.get("prompt"):
            return "custom bot mode without a prompt"
        if data.get("origin") != f"https://monica.im/bots/{body['bot_uid']}":
            return "origin wrong"
        if not str(data.get("pre_generated_reply_id", "")).startswith("msg:"):
            return "pre_generated_reply_id missing"
        if bot.get("tool_data", {}).get("use_model") != data.get("use_model"):
            return "bot_data.tool_data.use_model differs from data.use_model"
        if data.get("is_incognito") is not False or data.get("use_new_memory") is not True:
            return "custom mode: is_incognito false, use_new_memory true"
        return None

    # -- chat --------------------------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.StreamResponse:
        session, problem = self.session_of(request)
        body = await request.json()
        problem = problem or self._check_headers(request, sse=True) or self._check_chat(request.path, body)
        self.seen.append(SeenChat(request.path, session, request.headers.copy(), body))
        if problem:
            return self._problem(problem)
        step = self.next_step(session)
        if step.kind == "status":
            return web.Response(status=step.status, text=step.body, headers=step.headers)
        if step.kind == "login":
            raise web.HTTPFound("https://monica.im/login?redirect=%2F")
        if step.kind == "json":
            return web.Response(text=step.body, content_type="application/json")
        if step.kind == "hang":
            await asyncio.sleep(3600)
        return await self._answer(request, step)

    async def _answer(self, request: web.Request, step: Step) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if step.kind == "empty":
            await response.write_eof()
            return response
        events = self._events(step)
        if step.kind == "stall":  # the first text event, then nothing
            await response.write(b"".join(events[: events.index(b"event: message\n\n") + 2]))
            await asyncio.sleep(3600)
        if step.split:
            raw = b"".join(events)
            for start in range(0, len(raw), step.split):
                await response.write(raw[start : start + step.split])
                await asyncio.sleep(0)
        else:
            for event in events:
                await response.write(event)
        await response.write_eof()
        return response

    def _events(self, step: Step) -> list[bytes]:
        def event(payload: dict[str, Any]) -> bytes:
            return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"

        out = []
        if step.reasoning:
            out.append(event({"text": "", "agent_status": {"uid": "t1", "type": "thinking", "text": ""}}))
            status = {"uid": "t2", "type": "thinking_detail_stream", "text": ""}
            out.append(event({"text": "", "agent_status": {**status, "metadata": {"title": "Reasoning"}}}))
            for word in _pieces(step.reasoning):
                meta = {"reasoning_detail": word}
                out.append(event({"text": "", "agent_status": {**status, "metadata": meta}}))
        out.append(b"event: message\n\n")  # non-data lines are skipped
        out.extend(event({"text": word}) for word in step.chunks or _pieces(step.text))
        out.append(event({"text": "", "finished": True}))
        return out

    # -- uploads -----------------------------------------------------------------------------

    async def _json_call(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        session, problem = self.session_of(request)
        problem = problem or self._check_headers(request, sse=False)
        body = await request.json()
        if problem:
            return body, self._problem(problem)
        failure = self.api_failures.get(session)
        if failure:
            return body, web.json_response({"code": failure, "msg": "denied"}, status=failure)
        return body, None

    async def presign(self, request: web.Request) -> web.Response:
        body, refused = await self._json_call(request)
        if refused:
            return refused
        names = body.get("filename_list") or []
        if len(names) != 1 or body.get("module") != "chat_bot" or body.get("location") != "files":
            return self._problem(f"presign body wrong: {body}")
        if not body.get("obj_id"):
            return self._problem("presign without obj_id")
        self.presigns += 1
        name = names[0]
        data = {
            "pre_sign_url_list": [f"{self.url}/upload/{name}"],
            "object_url_list": [f"s3://fake-bucket/{name}"],
            "cdn_url_list": [f"{self.url}/cdn/{name}"],
        }
        return web.json_response({"code": 0, "msg": "ok", "data": data})

    async def put(self, request: web.Request) -> web.Response:
        if "cookie" in request.headers:
            return self._problem("the presigned PUT must not carry the cookie")
        if not request.headers.get("Content-Type", "").startswith("image/"):
            return self._problem("the presigned PUT needs an image Content-Type")
        self.uploaded[request.match_info["name"]] = await request.read()
        return web.Response(status=200)

    async def create_file(self, request: web.Request) -> web.Response:
        body, refused = await self._json_call(request)
        if refused:
            return refused
        entry = (body.get("data") or [{}])[0]
        name = entry.get("file_name", "")
        if entry.get("object_url") != f"s3://fake-bucket/{name}" or name not in self.uploaded:
            return self._problem(f"file registered before its bytes were uploaded: {entry}")
        item = {
            "file_name": name,
            "file_type": entry["file_type"],
            "file_size": entry["file_size"],
            "file_uid": f"file:{len(self.uploaded)}",
            "file_tokens": 0,
            "file_chunks": 0,
        }
        return web.json_response({"code": 0, "data": {"items": [item]}})

    async def get_file(self, request: web.Request) -> web.Response:
        body, refused = await self._json_call(request)
        if refused:
            return refused
        uid = (body.get("file_uids") or [""])[0]
        self.polls[uid] += 1
        indexed = self.polls[uid] >= 2  # not ready on the first poll
        item = {"file_uid": uid, "file_chunks": 1 if indexed else 0, "file_tokens": 85 if indexed else 0}
        return web.json_response({"code": 0, "data": {"items": [item]}})

    # -- drawing -----------------------------------------------------------------------------

    async def text_to_image(self, request: web.Request) -> web.Response:
        body, refused = await self._json_call(request)
        if refused:
            return refused
        expected = {"task_uid", "image_count", "prompt", "model_type", "aspect_ratio", "task_type"}
        if set(body) != expected or body["task_type"] != "text_to_image" or body["model_type"] != "sdxl":
            return self._problem(f"text_to_image body wrong: {body}")
        self.drawings.append(body)
        return web.json_response({"code": 0, "msg": "ok", "data": {"image_tools_id": 77, "expected_time": 3}})

    async def loop_result(self, request: web.Request) -> web.Response:
        body, refused = await self._json_call(request)
        if refused:
            return refused
        if body != {"image_tools_id": 77}:
            return self._problem(f"loop_result body wrong: {body}")
        self.draw_polls += 1
        count = self.drawings[-1]["image_count"] if self.draw_polls >= 2 else 0
        urls = [f"{self.url}/cdn/drawn-{i}.png" for i in range(count)]
        return web.json_response({"code": 0, "data": {"record": {"result": {"cdn_url_list": urls}}}})


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]
