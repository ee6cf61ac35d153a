"""Streaming ``multipart/form-data`` for upload routes, on python-multipart's parser.

:class:`MultipartForm` hands out a request's form parts one at a time, each
once its headers are read and before any of its body is; a part is itself an
async iterator of its body. The request is read only as the parts are
consumed: python-multipart's :class:`~python_multipart.MultipartParser` is fed
one request chunk whenever the part being read has nothing buffered, so a body
can stream straight into its destination and is never held whole, in memory
or on disk. (python-multipart's ``FormParser`` and Starlette's form parsing
hold each file until its part ends, in a spooled temporary file.)

A client's mistakes are ``400`` :class:`~prework.errors.BadRequest`:
``invalid_multipart`` for a body that is not a well-formed form,
``upload_incomplete`` for one that ends, or whose client goes away, inside a
part.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from prework.errors import BadRequest

__all__ = ["FormPart", "MultipartForm", "invalid_multipart"]


def invalid_multipart(message: str) -> BadRequest:
    return BadRequest(message, code="invalid_multipart")


class FormPart:
    """One part of a form: its ``name``, its ``headers`` (lower-cased names)
    and, iterated over, its body as it streams in; raises ``upload_incomplete``
    if the request ends first."""

    def __init__(self, form: MultipartForm, headers: dict[bytes, bytes]) -> None:
        _, options = parse_options_header(headers.get(b"content-disposition"))
        if b"name" not in options:
            raise invalid_multipart("A form part has no name.")
        self.name = options[b"name"].decode("utf-8", "replace")
        self.headers = headers
        self._form = form
        self._chunks: deque[bytes] = deque()
        self._ended = False

    def __aiter__(self) -> FormPart:
        return self

    async def __anext__(self) -> bytes:
        while not self._chunks:
            if self._ended:
                raise StopAsyncIteration
            if not await self._form._feed():
                message = f"The upload ended inside the form part {self.name!r}."
                raise BadRequest(message, code="upload_incomplete")
        return self._chunks.popleft()

    async def text(self, max_bytes: int) -> str:
        """The whole body as a UTF-8 text field of at most ``max_bytes``."""
        value = bytearray()
        async for chunk in self:
            value += chunk
            if len(value) > max_bytes:
                raise invalid_multipart("A form field is too long.")
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise invalid_multipart("A form field is not UTF-8.") from exc


class MultipartForm:
    """The parts of a ``multipart/form-data`` request body (``stream``, with
    the request's ``content_type``), in order, as they stream in."""

    def __init__(self, stream: AsyncIterator[bytes], content_type: str | None) -> None:
        mime, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if mime != b"multipart/form-data" or not boundary:
            raise invalid_multipart("The upload must be multipart/form-data.")
        self._stream = stream
        self._finished = False
        self._parts: deque[FormPart] = deque()  # headers read, not yet handed out
        self._last: FormPart | None = None  # the part handed out last
        headers: dict[bytes, bytes] = {}
        name, value = bytearray(), bytearray()
        part: FormPart | None = None  # the part the parser is in

        def header_end() -> None:
            headers[bytes(name).lower()] = bytes(value)
            name.clear()
            value.clear()

        def headers_finished() -> None:
            nonlocal part
            part = FormPart(self, headers.copy())
            headers.clear()
            self._parts.append(part)

        def part_data(data: bytes, start: int, end: int) -> None:
            assert part is not None
            part._chunks.append(data[start:end])

        def part_end() -> None:
            assert part is not None
            part._ended = True

        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_header_field": lambda data, start, end: name.extend(data[start:end]),
                    "on_header_value": lambda data, start, end: value.extend(data[start:end]),
                    "on_header_end": header_end,
                    "on_headers_finished": headers_finished,
                    "on_part_data": part_data,
                    "on_part_end": part_end,
                },
            )
        except FormParserError as exc:
            raise invalid_multipart("The multipart boundary is not valid.") from exc

    async def next_part(self) -> FormPart | None:
        """The next part, its headers read and none of its body; None when the
        form has no more. What is left of the previous part's body is skipped."""
        if self._last is not None:
            async for _ in self._last:
                pass
        while not self._parts:
            if not await self._feed():
                return None
        self._last = self._parts.popleft()
        return self._last

    async def _feed(self) -> bool:
        """Feed the parser the request's next chunk; False once the request has ended."""
        if self._finished:
            return False
        try:
            chunk = await anext(self._stream)
        except StopAsyncIteration:
            self._finished = True
            self._parser.finalize()
            return False
        except ClientDisconnect as exc:
            raise BadRequest("The upload was interrupted.", code="upload_incomplete") from exc
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise invalid_multipart("The multipart body is not valid.") from exc
        return True
