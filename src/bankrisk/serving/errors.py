"""The API's one error type and its one error body: `{"detail", "errors"[, "request_id"]}`.

Every refusal (bad input, auth, size, not ready, unknown path or method) and the last-resort
500 is built here, for the plain ASGI endpoints and the FastAPI routes alike; domain errors of
the scoring core become HTTP here (`as_request_error`) and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from bankrisk.core.validation import FieldError, InvalidRecordsError

__all__ = ["INTERNAL_ERROR", "FieldError", "RequestError", "as_request_error", "error_body"]


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


def as_request_error(exc: RequestError | InvalidRecordsError) -> RequestError:
    """The HTTP refusal of an error: invalid records are a 422 naming each field."""
    if isinstance(exc, InvalidRecordsError):
        return RequestError(422, exc.summary, exc.errors)
    return exc


def error_body(
    detail: str, errors: Sequence[FieldError] = (), request_id: str | None = None
) -> bytes:
    """The JSON body of every error answer (`request_id` only on a 500, to quote)."""
    body: dict[str, object] = {"detail": detail, "errors": list(errors)}
    if request_id is not None:
        body["request_id"] = request_id
    return orjson.dumps(body)


INTERNAL_ERROR = "internal error; quote the request id to the operator"
