"""Reading `<tool_call>` blocks out of answers: whole, streamed, and however they are split."""

from __future__ import annotations

import itertools
import logging

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.core.events import TextDelta, ToolCall, ToolCallDelta
from proxy.tools.parser import BlockParser, joined, parse_text, read_call

NAMES = frozenset({"get_weather", "search"})


def parse(text: str, names: frozenset[str] = NAMES) -> tuple[str, list[ToolCall]]:
    counter = itertools.count()
    return parse_text(text, names, new_id=lambda: f"call_{next(counter)}")


def streamed(chunks: list[str], names: frozenset[str] = NAMES) -> list[TextDelta | ToolCallDelta]:
    counter = itertools.count()
    parser = BlockParser(names, new_id=lambda: f"call_{next(counter)}")
    pieces: list[TextDelta | ToolCallDelta] = []
    for chunk in chunks:
        pieces += parser.feed(chunk)
    return pieces + parser.close()


def block(name: str, arguments: object) -> str:
    return "<tool_call>" + orjson.dumps({"name": name, "arguments": arguments}).decode() + "</tool_call>"


def test_a_single_call_becomes_a_tool_call_with_an_openai_id_and_json_arguments() -> None:
    text, calls = parse_text(block("get_weather", {"city": "Paris"}), NAMES)
    assert text == ""
    assert len(calls) == 1
    assert calls[0].id.startswith("call_") and len(calls[0].id) > 10
    assert calls[0].name == "get_weather"
    assert orjson.loads(calls[0].arguments) == {"city": "Paris"}


def test_text_before_a_call_stays_content_without_the_whitespace_that_only_separated_them() -> None:
    text, calls = parse("Let me look that up.\n\n" + block("search", {"q": "aiohttp"}) + "\n")
    assert text == "Let me look that up."
    assert [c.name for c in calls] == ["search"]


def test_two_blocks_are_two_parallel_calls_in_order() -> None:
    text, calls = parse(block("get_weather", {"city": "Paris"}) + "\n" + block("search", {"q": "x"}))
    assert text == ""
    assert [(c.id, c.name) for c in calls] == [("call_0", "get_weather"), ("call_1", "search")]


def test_whitespace_and_newlines_inside_the_block_are_tolerated() -> None:
    text, calls = parse('<tool_call>\n  {\n "name": "search",\n "arguments": {"q": "a"}\n}\n</tool_call>')
    assert (text, calls[0].name, calls[0].arguments) == ("", "search", '{"q":"a"}')


@pytest.mark.parametrize("fence", ["```json\n", "```\n", "```JSON "])
def test_a_code_fence_inside_the_block_is_tolerated(fence: str) -> None:
    inner = '{"name": "search", "arguments": {"q": "a"}}'
    _, calls = parse(f"<tool_call>\n{fence}{inner}\n```\n</tool_call>")
    assert [(c.name, c.arguments) for c in calls] == [("search", '{"q":"a"}')]


def test_arguments_given_as_a_json_string_are_read_as_the_object_they_hold() -> None:
    _, calls = parse('<tool_call>{"name": "search", "arguments": "{\\"q\\": \\"a\\"}"}</tool_call>')
    assert orjson.loads(calls[0].arguments) == {"q": "a"}


def test_missing_arguments_mean_an_empty_object() -> None:
    _, calls = parse('<tool_call>{"name": "search"}</tool_call>')
    assert calls[0].arguments == "{}"


@pytest.mark.parametrize("ending", ["", "\n", "</tool_", "</tool_call"])
def test_a_missing_closing_tag_at_the_very_end_is_tolerated_when_the_json_is_complete(ending: str) -> None:
    text, calls = parse('Sure. <tool_call>{"name": "search", "arguments": {"q": "a"}}' + ending)
    assert text == "Sure."
    assert [c.name for c in calls] == ["search"]


def test_a_block_opened_before_the_previous_one_closed_ends_the_previous_one() -> None:
    text, calls = parse('<tool_call>{"name": "search"}\n<tool_call>{"name": "get_weather"}</tool_call>')
    assert (text, [c.name for c in calls]) == ("", ["search", "get_weather"])


def test_a_malformed_block_is_returned_as_text_and_logged_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = 'Trying: <tool_call>{"name": "search", "arguments": {"q": </tool_call> done'
    with caplog.at_level(logging.INFO, logger="pool_proxy.tools"):
        text, calls = parse_text(answer, NAMES, request_id="req-42")
    assert (text, calls) == (answer, [])
    record = next(r for r in caplog.records if "kept as text" in r.getMessage())
    assert record.levelno == logging.INFO
    assert record.__dict__["request_id"] == "req-42"


def test_a_block_naming_a_tool_that_was_not_offered_is_text() -> None:
    answer = "Here: " + block("delete_everything", {})
    assert parse(answer) == (answer, [])


def test_an_unfinished_block_that_does_not_parse_is_text_at_the_end() -> None:
    answer = 'Thinking <tool_call>{"name": "sea'
    assert parse(answer) == (answer, [])


def test_angle_brackets_that_do_not_open_a_block_are_text() -> None:
    answer = "Use a <b>bold</b> tag, or <tool> if you must; 1 < 2 <"
    assert parse(answer) == (answer, [])


def test_text_after_a_call_stays_content() -> None:
    text, calls = parse("Asking. " + block("search", {}) + " I have asked for it.\n")
    assert text == "Asking. I have asked for it."
    assert len(calls) == 1


def test_with_no_tools_allowed_every_block_is_text() -> None:
    answer = block("search", {"q": "a"})
    assert parse(answer, frozenset()) == (answer, [])


@pytest.mark.parametrize(
    ("inner", "why"),
    [
        ("[1, 2]", "no tool name"),
        ('{"arguments": {}}', "no tool name"),
        ('{"name": "search", "arguments": "not json"}', "arguments are not JSON"),
        ('{"name": "search", "arguments": [1]}', "arguments are not an object"),
    ],
)
def test_blocks_that_are_not_calls_say_why(inner: str, why: str) -> None:
    assert read_call(inner) == why


def test_openai_style_nesting_and_parameters_are_read_as_a_call() -> None:
    assert read_call('{"function": {"name": "search", "arguments": {"q": 1}}}') == ("search", '{"q":1}')
    assert read_call('{"name": "search", "parameters": {"q": 1}}') == ("search", '{"q":1}')


def test_text_before_a_block_streams_as_it_comes() -> None:
    parser = BlockParser(NAMES)
    assert parser.feed("Hello") == [TextDelta("Hello")]
    assert parser.feed(" world, let me") == [TextDelta(" world, let me")]


def test_from_a_possible_tag_start_only_what_could_still_be_the_tag_is_held_back() -> None:
    parser = BlockParser(NAMES)
    assert parser.feed("Look <tool") == [TextDelta("Look")]
    assert parser.feed("s are fun") == [TextDelta(" <tools are fun")]
    assert parser.feed(" <b>") == [TextDelta(" <b>")]


def test_a_reader_never_sees_part_of_a_block_split_inside_the_tag() -> None:
    answer = "Checking. " + block("get_weather", {"city": "Oslo"}) + " Done."
    pieces = streamed(list(answer))  # one character per chunk
    seen_text = "".join(p.text for p in pieces if isinstance(p, TextDelta))
    assert seen_text == "Checking. Done."
    calls = [p for p in pieces if isinstance(p, ToolCallDelta)]
    assert [(c.index, c.name, c.arguments) for c in calls] == [(0, "get_weather", '{"city":"Oslo"}')]


def test_the_call_is_emitted_as_soon_as_its_block_closes() -> None:
    parser = BlockParser(NAMES, new_id=lambda: "call_x")
    assert parser.feed('<tool_call>{"name": "search", ') == []
    assert parser.feed('"arguments": {}}</tool_call>') == [ToolCallDelta(0, "call_x", "search", "{}")]


def test_inlined_reasoning_is_not_parsed_for_calls_but_the_answer_after_it_is() -> None:
    thought = "<think>Maybe " + block("search", {"q": "x"}) + "? No, weather.</think>"
    text, calls = parse(thought + "Checking. " + block("get_weather", {"city": "Rome"}))
    assert text == thought + "Checking."
    assert [c.name for c in calls] == ["get_weather"]


def test_inlined_reasoning_streams_as_it_comes() -> None:
    parser = BlockParser(NAMES)
    assert parser.feed("<thi") == []
    assert parser.feed("nk>I wonder <tool") == [TextDelta("<think>I wonder <tool")]
    assert parser.feed("_call> </th") == [TextDelta("_call> ")]
    assert parser.feed("ink>Hi") == [TextDelta("</think>"), TextDelta("Hi")]


ANSWERS = [
    "Plain answer with no call at all.\n",
    "Let me check.\n\n" + block("get_weather", {"city": "Paris"}),
    block("get_weather", {"city": "Paris"}) + "\n" + block("search", {"q": "é ünïcode 😀"}),
    'Sure <tool_call>\n```json\n{"name": "search", "arguments": "{\\"q\\": 2}"}\n```\n</tool_call>\nOK',
    "a <b> <tool_call>{broken</tool_call> and " + block("search", {}) + " end  \n",
    "x " + block("nope", {}) + ' y <tool_call>{"name": "search"}',
    '<tool_call>{"name": "search"}<tool_call>{"name": "get_weather"}</tool_',
    "<<tool_call>" + block("search", {"q": "<tool_call>"})[11:] + "<",
    "<think>a " + block("search", {}) + " b</think>\n" + block("get_weather", {}) + "\n",
    "<thin " + block("search", {}),
]


@st.composite
def splits(draw: st.DrawFn) -> list[str]:
    answer = draw(st.sampled_from(ANSWERS) | st.text(alphabet="<>/_tolcahinkX \n{}", max_size=40))
    cuts = sorted(draw(st.sets(st.integers(0, len(answer)), max_size=12)))
    bounds = [0, *cuts, len(answer)]
    return [answer[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(splits())
def test_any_split_of_an_answer_streams_to_what_the_whole_answer_parses_to(chunks: list[str]) -> None:
    assert joined(streamed(chunks)) == parse("".join(chunks))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='<>/_tolcaX \n{}"nme:', max_size=60))
def test_an_answer_without_a_valid_call_comes_back_exactly_as_written(answer: str) -> None:
    text, calls = parse(answer)
    if not calls:
        assert text == answer
