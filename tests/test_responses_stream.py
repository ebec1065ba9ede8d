"""The Responses door's event stream and reply, frame by frame and through the SDK's own
stream accumulator (the code `client.responses.stream` runs)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from proxy.core.errors import ErrorKind, GatewayError
from proxy.core.events import Event, Finish, ReasoningDelta, Reply, TextDelta, ToolCall, ToolCallDelta, Usage
from proxy.doors.responses.reply import response_body
from proxy.doors.responses.shape import ResponseShell, message_item
from proxy.doors.responses.stream import ResponsesStream
from proxy.doors.responses.tools import ClientTool, ToolNames

USAGE = Usage(prompt_tokens=12, completion_tokens=5, cached_tokens=4)


def frames(data: bytes) -> list[dict[str, Any]]:
    """Parse `event:`/`data:` frames, checking each pair agrees and numbers rise from 0."""
    out = []
    for block in data.decode().split("\n\n"):
        if not block:
            continue
        event_line, data_line = block.split("\n")
        payload = orjson.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {payload['type']}"
        assert payload["sequence_number"] == len(out)
        out.append(payload)
    assert not data.endswith(b"[DONE]\n\n")
    return out


def run(
    events: Iterable[Event], names: ToolNames | None = None, *, fail: GatewayError | None = None
) -> bytes:
    encoder = ResponsesStream(ResponseShell(model="gpt-test", names=names or ToolNames()))
    out = encoder.start()
    for event in events:
        out += encoder.encode(event)
    return out + (encoder.error(fail) if fail else encoder.end())


def through_sdk(data: list[dict[str, Any]]) -> Any:
    """Feed the frames to the SDK's accumulator; it raises on any order it cannot follow."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    final = None
    for payload in data:
        event = construct_type(type_=ResponseStreamEvent, value=payload)
        for fired in state.handle_event(event):  # type: ignore[arg-type]
            if fired.type == "response.completed":
                final = fired.response
    return final


def types(data: list[dict[str, Any]]) -> list[str]:
    return [f["type"].removeprefix("response.") for f in data]


def text_stream(*pieces: str) -> list[Event]:
    return [*(TextDelta(p) for p in pieces), Finish("stop"), USAGE]


def test_a_text_stream_has_the_full_event_sequence_and_ends_with_completed() -> None:
    data = frames(run(text_stream("Hel", "lo", "")))
    assert types(data) == [
        "created",
        "in_progress",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "completed",
    ]
    response = data[-1]["response"]
    assert response["id"] == data[0]["response"]["id"]
    assert response["status"] == "completed"
    assert response["usage"] == {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 17,
    }
    assert data[-2]["item"]["content"][0]["text"] == "Hello"
    final = through_sdk(data)
    assert final.output_text == "Hello"


def test_a_message_items_frames_carry_the_item_the_response_holds() -> None:
    text = 'Say "hi"\n\u00e9 %s %d'  # quotes, a line end, not ASCII, and format characters
    data = frames(run([TextDelta("x"), ReasoningDelta("r"), TextDelta(text), Finish("stop"), USAGE]))
    item_id = data[-2]["item"]["id"]
    done = message_item(item_id, text)
    assert data[-2] == {
        "type": "response.output_item.done",
        "sequence_number": len(data) - 2,
        "output_index": 2,
        "item": done,
    }
    assert data[-1]["response"]["output"][2] == done
    added = next(f for f in data if f["type"] == "response.output_item.added" and f["output_index"] == 2)
    assert added["item"] == {**message_item(item_id, "", "in_progress"), "content": []}
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    where = {"item_id": item_id, "output_index": 2, "content_index": 0}
    assert data[-3]["part"] == part and data[-3].items() >= where.items()
    assert data[-4]["text"] == text and data[-4].items() >= where.items()
    assert through_sdk(data).output_text == "x" + text


def test_item_ids_and_output_indexes_stay_stable_across_an_item() -> None:
    data = frames(run(text_stream("a", "b")))
    item_id = data[2]["item"]["id"]
    assert {f.get("item_id", item_id) for f in data[2:-1]} == {item_id}
    assert {f.get("output_index") for f in data[2:-1]} == {0}


def test_a_function_call_split_over_many_chunks_arrives_whole_in_done() -> None:
    pieces = ['{"cm', 'd": ["l', 's", "-', 'la"]', "}"]
    events: list[Event] = [ToolCallDelta(0, id="call_9", name="shell")]
    events += [ToolCallDelta(0, arguments=p) for p in pieces]
    data = frames(run([*events, Finish("tool_calls"), USAGE]))
    assert types(data)[2:] == [
        "output_item.added",
        *["function_call_arguments.delta"] * 5,
        "function_call_arguments.done",
        "output_item.done",
        "completed",
    ]
    assert data[2]["item"] == {
        "type": "function_call",
        "id": data[2]["item"]["id"],
        "call_id": "call_9",
        "name": "shell",
        "arguments": "",
        "status": "in_progress",
    }
    whole = '{"cmd": ["ls", "-la"]}'
    assert "".join(f["delta"] for f in data if f["type"].endswith("arguments.delta")) == whole
    assert data[-3]["arguments"] == whole
    assert data[-2]["item"]["arguments"] == whole
    assert data[-2]["item"]["status"] == "completed"
    final = through_sdk(data)
    assert final.status == "completed"
    assert [(o.type, o.call_id, o.arguments) for o in final.output] == [("function_call", "call_9", whole)]


def test_text_then_a_call_closes_the_message_before_the_call_opens() -> None:
    events = [TextDelta("Checking."), ToolCallDelta(0, id="call_1", name="read", arguments='{"p":1}')]
    data = frames(run([*events, Finish("tool_calls"), USAGE]))
    assert types(data)[2:] == [
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "output_item.added",
        "function_call_arguments.delta",
        "function_call_arguments.done",
        "output_item.done",
        "completed",
    ]
    assert [f["output_index"] for f in data if f["type"] == "response.output_item.added"] == [0, 1]
    output = data[-1]["response"]["output"]
    assert [o["type"] for o in output] == ["message", "function_call"]
    assert through_sdk(data).output_text == "Checking."


def test_two_parallel_calls_become_two_items_each_closed_before_the_next() -> None:
    events: list[Event] = [
        ToolCallDelta(0, id="call_a", name="read", arguments='{"p":'),
        ToolCallDelta(0, arguments='"a"}'),
        ToolCallDelta(1, id="call_b", name="read", arguments='{"p":"b"}'),
    ]
    data = frames(run([*events, Finish("tool_calls"), USAGE]))
    kinds = types(data)
    assert kinds.index("output_item.done") < kinds.index("output_item.added", 3)
    done = [f["item"] for f in data if f["type"] == "response.output_item.done"]
    assert [(d["call_id"], d["arguments"]) for d in done] == [
        ("call_a", '{"p":"a"}'),
        ("call_b", '{"p":"b"}'),
    ]
    assert len({d["id"] for d in done}) == 2
    assert [o.call_id for o in through_sdk(data).output] == ["call_a", "call_b"]


def test_a_new_id_at_a_known_index_is_a_new_call_and_snapshots_send_only_the_new_part() -> None:
    events: list[Event] = [
        ToolCallDelta(0, id="call_a", name="read", arguments='{"p":'),
        ToolCallDelta(0, arguments='{"p":"a"}'),  # a cumulative snapshot
        ToolCallDelta(0, id="call_b", name="read", arguments='{"p":"b"}'),
    ]
    data = frames(run([*events, Finish("tool_calls"), USAGE]))
    done = [f["item"] for f in data if f["type"] == "response.output_item.done"]
    assert [(d["call_id"], d["arguments"]) for d in done] == [
        ("call_a", '{"p":"a"}'),
        ("call_b", '{"p":"b"}'),
    ]
    through_sdk(data)


def test_a_call_without_arguments_still_hands_over_a_json_object() -> None:
    data = frames(run([ToolCallDelta(0, id="call_1", name="now"), Finish("tool_calls"), USAGE]))
    assert data[-2]["item"]["arguments"] == "{}"
    assert "".join(f["delta"] for f in data if f["type"].endswith("arguments.delta")) == "{}"


def test_reasoning_then_text_gives_a_reasoning_item_before_the_message() -> None:
    events: list[Event] = [ReasoningDelta("Need "), ReasoningDelta("a plan."), TextDelta("Done.")]
    data = frames(run([*events, Finish("stop"), USAGE]))
    assert types(data)[2:] == [
        "output_item.added",
        "reasoning_summary_part.added",
        "reasoning_summary_text.delta",
        "reasoning_summary_text.delta",
        "reasoning_summary_text.done",
        "reasoning_summary_part.done",
        "output_item.done",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "completed",
    ]
    reasoning = data[8]["item"]
    assert reasoning["type"] == "reasoning"
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Need a plan."}]
    final = through_sdk(data)
    assert [o.type for o in final.output] == ["reasoning", "message"]
    assert final.output_text == "Done."


def test_a_namespaced_call_comes_back_under_the_clients_names() -> None:
    names = ToolNames({"agents__spawn": ClientTool("function", "spawn", "agents")})
    data = frames(
        run([ToolCallDelta(0, id="c1", name="agents__spawn", arguments="{}"), Finish("tool_calls")], names)
    )
    item = data[-2]["item"]
    assert (item["name"], item["namespace"]) == ("spawn", "agents")
    assert data[2]["item"]["namespace"] == "agents"


def test_a_custom_tool_call_comes_back_as_custom_input_text() -> None:
    names = ToolNames({"apply_patch": ClientTool("custom", "apply_patch")})
    events: list[Event] = [
        ToolCallDelta(0, id="c1", name="apply_patch", arguments='{"input": "*** Begin'),
        ToolCallDelta(0, arguments=' Patch"}'),
        Finish("tool_calls"),
    ]
    data = frames(run(events, names))
    assert types(data)[2:-1] == [
        "output_item.added",
        "custom_tool_call_input.delta",
        "custom_tool_call_input.done",
        "output_item.done",
    ]
    assert data[-2]["item"]["type"] == "custom_tool_call"
    assert data[-2]["item"]["input"] == "*** Begin Patch"


def test_a_length_stop_ends_incomplete_with_the_reason() -> None:
    data = frames(run([TextDelta("cut"), Finish("length"), USAGE]))
    assert data[-1]["type"] == "response.incomplete"
    assert data[-1]["response"]["status"] == "incomplete"
    assert data[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_stream_that_breaks_ends_with_response_failed_and_no_completed() -> None:
    error = GatewayError(502, ErrorKind.UPSTREAM, "The upstream failed mid-stream.", code="upstream_error")
    data = frames(run([TextDelta("Hal")], fail=error))
    assert types(data)[-1] == "failed"
    assert "completed" not in types(data)
    response = data[-1]["response"]
    assert response["status"] == "failed"
    assert response["error"] == {"code": "upstream_error", "message": "The upstream failed mid-stream."}
    assert response["output"][0]["status"] == "incomplete"
    assert response["output"][0]["content"][0]["text"] == "Hal"
    through_sdk(data)


def test_a_reply_lists_reasoning_text_and_every_call() -> None:
    reply = Reply(
        text="Reading both.",
        reasoning="Two files.",
        tool_calls=[ToolCall("call_a", "read", '{"p":"a"}'), ToolCall("call_b", "read", '{"p":"b"}')],
        finish="tool_calls",
    )
    body = response_body(ResponseShell(model="gpt-test"), reply, USAGE)
    assert body["object"] == "response"
    assert body["status"] == "completed"
    assert body["model"] == "gpt-test"
    assert [o["type"] for o in body["output"]] == ["reasoning", "message", "function_call", "function_call"]
    assert [o.get("call_id") for o in body["output"][2:]] == ["call_a", "call_b"]
    assert body["output"][1]["content"][0]["text"] == "Reading both."
    assert body["usage"]["total_tokens"] == 17
    assert len({o["id"] for o in body["output"]}) == 4


def test_a_reply_cut_by_length_is_incomplete() -> None:
    body = response_body(ResponseShell(model="m"), Reply(text="cut", finish="length"), USAGE)
    assert (body["status"], body["incomplete_details"]) == ("incomplete", {"reason": "max_output_tokens"})
