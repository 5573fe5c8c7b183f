"""One way to add an endpoint: an `Endpoint` (auth, the body within its limit, a handler,
domain errors as HTTP) on an `ApiRoute` (the path and its OpenAPI description).

Which paths bypass FastAPI, and why: the scoring endpoints (`POST /v1/predict`, `/predict`,
`/v1/predict/batch` and `/v1/predict/customer/{id}`) are plain ASGI endpoints, because
FastAPI's per-request machinery (dependency solving, request objects, response classes)
costs more than scoring a customer does. They keep the API's contract (the same JSON, errors
and auth as the FastAPI routes) and are described in the OpenAPI schema from their
`ApiRoute`s (serving/openapi.py). `FastPath`, what `bankrisk serve` runs, sends a `POST` to
a scoring path straight to its endpoint through the request-log middleware, past FastAPI's
middleware stack and router; everything else (GET on a scoring path: 405, the model card,
health, metrics, docs) goes through the FastAPI app, where the scoring routes are mounted
too (in-process clients, the OpenAPI schema).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from pydantic import BaseModel
from starlette.routing import BaseRoute, Match, Route

from bankrisk.core.validation import InvalidRecordsError
from bankrisk.serving.bodies import RequestBody
from bankrisk.serving.deps import Service, service_of
from bankrisk.serving.errors import RequestError, as_request_error, error_body
from bankrisk.serving.observability import ASGIApp, Receive, Scope, Send


class RequestState(TypedDict):
    """`scope["state"]` as ObservabilityMiddleware sets it: the id, and fields to log."""

    request_id: str
    start: float  # time.perf_counter() when the request arrived
    log: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler gets: the body (empty when the endpoint reads none), the request's
    state and the path's parameters."""

    body: bytes
    state: RequestState
    path_params: dict[str, str]


# A handler turns a call into the JSON of a 200, in pieces sent one after the other (a large
# batch's answer is never copied into one buffer), or raises RequestError or a domain error.
Handler = Callable[[Service, Call], Awaitable[list[bytes]]]
_JSON = (b"content-type", b"application/json")


class Endpoint:
    """ASGI endpoint: auth, the size-limited body, then the handler; errors as JSON.

    An interactive endpoint (all but the batch) counts its requests in flight, so that batch
    slices give way to them (serving/priority.py)."""

    def __init__(
        self, handler: Handler, *, reads_body: bool = True, interactive: bool = True
    ) -> None:
        self.handler = handler
        self.reads_body = reads_body
        self.interactive = interactive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = service_of(scope["app"])
        if not self.interactive:
            await self._answer(service, scope, receive, send)
            return
        service.priority.enter()
        try:
            await self._answer(service, scope, receive, send)
        finally:
            service.priority.leave()

    async def _answer(self, service: Service, scope: Scope, receive: Receive, send: Send) -> None:
        body = RequestBody(scope, receive, service.settings.max_body_bytes)
        headers = [_JSON]
        try:
            service.auth.check(scope["headers"])
            data = await body.read() if self.reads_body else b""
            call = Call(data, scope["state"], scope.get("path_params", {}))
            content = await self.handler(service, call)
            status = 200
        except (RequestError, InvalidRecordsError) as exc:
            error = as_request_error(exc)
            status, content = error.status, [error_body(error.detail, error.errors)]
            headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
            # Answered before the whole body was read (auth, size): read the rest first so
            # that the client, still sending, can read the answer.
            if not await body.drain():
                headers.append((b"connection", b"close"))

        headers.append((b"content-length", str(sum(map(len, content))).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        last = len(content) - 1
        for i, piece in enumerate(content):
            # Uvicorn waits here while the client is slow to read: other requests go on.
            await send({"type": "http.response.body", "body": piece, "more_body": i < last})


@dataclass(frozen=True)
class Operation:
    """An endpoint's OpenAPI description: the request and answer models (None: no body),
    errors beyond the common ones, and the path's parameters (JSON schemas)."""

    summary: str
    body: type[BaseModel] | None
    response: type[BaseModel]
    errors: dict[int, str]
    path_params: dict[str, dict[str, Any]]
    deprecated: bool = False


class NamesItself(BaseRoute):
    """A route that, like FastAPI's, tells middleware it matched (`scope["route"]`): metrics
    and logs are labelled by its path template, not by every path asked for."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


class ApiRoute(NamesItself, Route):
    """A route to an `Endpoint`, described for OpenAPI."""

    def __init__(self, path: str, endpoint: Endpoint, operation: Operation) -> None:
        super().__init__(path, endpoint, methods=["POST"])
        self.operation = operation


async def _to_route(scope: Scope, receive: Receive, send: Send) -> None:
    """The endpoint of the route `FastPath` matched."""
    await scope["route"].app(scope, receive, send)


class FastPath:
    """What `bankrisk serve` runs: a `POST` to one of `routes` goes to its endpoint through
    `wrap` (the request-log middleware), everything else to `app`. Fixed paths are looked
    up, paths with parameters (`/v1/predict/customer/{customer_id}`) matched as the router
    matches them."""

    def __init__(
        self, app: ASGIApp, routes: list[ApiRoute], wrap: Callable[[ASGIApp], ASGIApp]
    ) -> None:
        self.app = app
        self.scoring = wrap(_to_route)
        self.fixed = {route.path: route for route in routes if not route.param_convertors}
        self.templates = [route for route in routes if route.param_convertors]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        route = self.fixed.get(scope["path"])
        if route is not None:
            scope["route"] = route
        elif not self._match_template(scope):
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app  # as Starlette sets it: the endpoints find the service there
        await self.scoring(scope, receive, send)

    def _match_template(self, scope: Scope) -> bool:
        """Set the route and its path parameters of the template `scope`'s path fits."""
        for route in self.templates:
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                scope.update(child_scope)
                return True
        return False
