"""The API's one error type and its one error body: `{"detail", "errors"[, "request_id"]}`.

Every refusal (bad input, auth, size, not ready) and the last-resort 500 is built here, for
the plain ASGI scoring routes and the FastAPI routes alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import orjson


class FieldError(TypedDict):
    """One problem with one field: `index` is the record's position in a batch (else None)."""

    index: int | None
    field: str | None
    message: str


class RequestError(Exception):
    """A request the API refuses: the HTTP status, a summary, and field-level errors."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}


def error_body(
    detail: str, errors: Sequence[FieldError] = (), request_id: str | None = None
) -> bytes:
    """The JSON body of every error answer (`request_id` only on a 500, to quote)."""
    body: dict[str, object] = {"detail": detail, "errors": list(errors)}
    if request_id is not None:
        body["request_id"] = request_id
    return orjson.dumps(body)


INTERNAL_ERROR = "internal error; quote the request id to the operator"
