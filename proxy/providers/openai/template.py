"""A stream's text chunks read without a JSON parser, by the characters around their text.

Most chunks of a stream only add text, and an OpenAI-compatible upstream sends them as the
same characters around a different string: id, created, model and the rest repeat in every
chunk. So once one such chunk was read whole (its delta holds `content` alone, it has no
usage), what comes before and after its text is kept, and an event made of the same around
another string without quote, backslash or line end is that chunk with that text: orjson's
parse of it (~10k CPU instructions) and the walk through its dict are left out. Anything
else (an escape, a chunk that differs in more than its text) is read whole.
"""

from __future__ import annotations

import orjson

_AT = ('"content":"', '"content": "')


class ChunkTemplate:
    """An event is a text chunk of the template when it is at least `least` characters long,
    starts with `prefix`, ends with `suffix`, and what is between holds no quote, backslash
    or line end (ChunkReader.feed tests that inline: it runs for nearly every chunk)."""

    __slots__ = ("parts",)

    def __init__(self, prefix: str, suffix: str) -> None:
        # prefix: up to the opening quote of the text; suffix: from its closing quote on
        self.parts = (prefix, suffix, len(prefix) + len(suffix))

    @classmethod
    def of(cls, line: str, text: str) -> ChunkTemplate | None:
        """The template of `line`, a chunk whose delta is `{"content": text}` alone; None
        when `text` is not found as written without escapes (an upstream's own layout)."""
        quoted = orjson.dumps(text).decode()[1:]  # the text and its closing quote
        for at in _AT:
            start = line.find(at + quoted)
            if start >= 0:
                start += len(at)
                return cls(line[:start], line[start + len(quoted) - 1 :])
        return None

    @staticmethod
    def teaches(text: str) -> bool:
        """Whether a chunk of this text can be found in its line as written here: JSON
        writes such text one way only (some upstreams escape all but ASCII)."""
        return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text
