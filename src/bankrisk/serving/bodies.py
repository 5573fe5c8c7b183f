"""Request bodies: read within the size limit, parsed as JSON, and a large batch's records
cut into pieces that are parsed one at a time (so that the event loop is never held long)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import orjson

from bankrisk.serving.errors import RequestError
from bankrisk.serving.observability import Receive, Scope

# Past the body limit the rest of the body is still read (and discarded), up to this many
# times the limit and for this long: clients that send the whole body before reading the
# answer (urllib, httpx) would otherwise get a connection reset instead of the 413.
DRAIN_FACTOR = 4
DRAIN_SECONDS = 10.0


def parse_json(body: bytes) -> Any:
    """Parse a JSON body. Non-standard NaN/Infinity literals are parsed (and then refused by
    field), so that the error names the field rather than calling the whole body malformed."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RequestError(400, f"malformed JSON body: {exc}") from None


class RequestBody:
    """The request body, refused (413) past `limit` bytes before all of it is read."""

    def __init__(self, scope: Scope, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.complete = False  # the client has sent everything (or gone)
        self.received = 0
        self.length: int | None = None
        self.expects_continue = False
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit():
                self.length = int(value)
            elif key == b"expect" and value.lower() == b"100-continue":
                self.expects_continue = True

    def _too_large(self) -> RequestError:
        return RequestError(413, f"request body over the {self.limit}-byte limit")

    async def _message(self) -> bytes:
        message = await self.receive()
        if message["type"] == "http.disconnect":
            self.complete = True
            raise RequestError(400, "client disconnected")
        chunk: bytes = message.get("body", b"")
        self.received += len(chunk)
        self.complete = not message.get("more_body", False)
        return chunk

    async def read(self) -> bytes:
        if self.length is not None and self.length > self.limit:
            raise self._too_large()
        chunks = []
        while not self.complete:
            chunks.append(await self._message())
            if self.received > self.limit:
                raise self._too_large()
        body = b"".join(chunks)
        if not body:
            raise RequestError(400, "empty request body: send a JSON object")
        return body

    async def drain(self) -> bool:
        """Read and discard the rest of the body, within DRAIN_FACTOR x limit bytes and
        DRAIN_SECONDS; False if some is left unread (the connection must then be closed).

        A client that sent `Expect: 100-continue` and nothing yet is waiting for the answer
        before it sends the body: reading would ask it for the body, so nothing is read.
        """
        if self.complete:
            return True
        cap = DRAIN_FACTOR * self.limit
        if (self.expects_continue and self.received == 0) or (self.length or 0) > cap:
            return False
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                while not self.complete and self.received <= cap:
                    await self._message()
        except (TimeoutError, RequestError):  # too slow, or the client went away
            pass
        return self.complete


_SPACE = b" \t\n\r"  # JSON's whitespace (no \f or \v, which regex \s would allow)
_BATCH_START = re.compile(rb'[ \t\n\r]*\{[ \t\n\r]*"records"[ \t\n\r]*:[ \t\n\r]*\[')


def record_pieces(body: bytes, piece_bytes: int) -> Iterator[bytes] | None:
    """A `{"records": [...]}` body's array cut into JSON arrays of about `piece_bytes` each,
    to be parsed one at a time (so that a large batch never blocks the event loop for long);
    None if the body has another shape.

    Cuts are made only at `},`. A cut that is not between two records (inside a string or a
    nested object) leaves a piece that is not valid JSON on its own, so when every piece
    parses, together they are exactly the array; otherwise the caller parses the whole body.
    """
    start = _BATCH_START.match(body)
    close_object = _last_non_space(body, len(body))
    if start is None or close_object < start.end() or body[close_object] != ord("}"):
        return None
    close_array = _last_non_space(body, close_object)
    if close_array < start.end() - 1 or body[close_array] != ord("]"):
        return None
    return _pieces(body, start.end(), close_array, piece_bytes)


def _last_non_space(body: bytes, end: int) -> int:
    """The index of the last non-whitespace byte before `end` (-1 if none); no copies."""
    end -= 1
    while end >= 0 and body[end] in _SPACE:
        end -= 1
    return end


def _pieces(body: bytes, begin: int, stop: int, piece_bytes: int) -> Iterator[bytes]:
    while (cut := body.find(b"},", begin + piece_bytes, stop)) >= 0:
        yield b"[" + body[begin : cut + 1] + b"]"
        begin = cut + 2
    yield b"[" + body[begin:stop] + b"]"
