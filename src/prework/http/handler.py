"""The request handler of every Prework route: FastAPI's, planned once per route.

FastAPI's own handler (``fastapi.routing.get_request_handler``) re-inspects the
route on every request: each dependency's cache key, whether it is a coroutine
or a generator, each parameter's aliases, whether its annotation is a sequence,
whether it is a parameter model. On an authenticated read that is about a third
of the CPU a request costs. :func:`compiled_handler` does the same work with
what never changes worked out once, when the route is built: a tree of
:class:`_Step` (one per dependency, in FastAPI's order) and, per parameter, its
alias and location. What it answers is FastAPI's answer, step for step:

* dependencies are solved depth first, in declaration order, each one's own
  dependencies before it, with FastAPI's per-request cache (same keys); a
  dependency whose own parameters fail is not called and its errors are kept;
* parameters are read and validated by the same ``ModelField``s, with the same
  locations; the body is read as FastAPI reads it (``application/json`` and
  ``+json`` parsed through the request's ``json()``, which
  :mod:`prework.http.bodies` bounds) and validated by FastAPI's
  ``request_body_to_args``;
* the answer is built by the same rules (status code from the route or the
  ``Response`` parameter, its headers added, no body where the status allows
  none), serialized by the route's response field. A returned model that is
  already an instance of the response model is not validated again (pydantic
  would hand back the same object: ``revalidate_instances`` is ``never``).

A route with anything outside that (forms, streaming or event-source answers,
another response class, generator or scoped dependencies, ``BackgroundTasks``,
``SecurityScopes``, a sync endpoint; parameter models and JSON parameters are read
by FastAPI's own reader) keeps FastAPI's handler, and
so does every request while ``app.dependency_overrides`` is not empty or while
FastAPI's telemetry is on. ``tests/unit/test_handler.py`` checks which routes
are planned. One difference on purpose: a dependency marked :func:`before_body` is
solved before the body is read (see there).
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, TypeVar

from fastapi import params
from fastapi._body_limit import get_body_limit_error
from fastapi._compat import ModelField, Undefined
from fastapi._compat.shared import field_annotation_is_sequence
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import (
    Dependant,
    _get_cache_key,
    _is_async_gen_callable,
    _is_coroutine_callable,
    _is_gen_callable,
)
from fastapi.dependencies.utils import (
    _get_param_aliases,
    _get_param_model,
    _is_json_field,
    _validate_value_with_model_field,
    request_body_to_args,
    request_params_to_args,
)
from fastapi.exceptions import RequestValidationError
from fastapi.routing import _extract_endpoint_context, serialize_response
from fastapi.telemetry._api import _validation_failed, get_telemetry_data
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, ImmutableMultiDict, QueryParams
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = [
    "Handler",
    "before_body",
    "compiled_handler",
    "keep_planned_handler",
    "planned_handler",
]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_Received = Mapping[str, Any]
_PARAM_SOURCES: Final = ("path", "query", "header", "cookie")
_IMMUTABLE: Final = frozenset({bool, int, float, str, bytes})
# where a planned route's whole handler is kept: see planned_handler
_PLANNED_HANDLER: Final = "_prework_planned_handler"


def keep_planned_handler(target: Any, handler: Handler) -> None:
    """Keep ``handler`` (a planned route's whole handler, as its app calls it) on
    ``target``: the route, or FastAPI's effective context of it in an included router."""
    setattr(target, _PLANNED_HANDLER, handler)


def planned_handler(target: Any) -> Handler | None:
    """The handler :func:`keep_planned_handler` kept on ``target``, else None."""
    handler: Handler | None = getattr(target, _PLANNED_HANDLER, None)
    return handler


@dataclass(frozen=True, slots=True)
class _Param:
    """A plain (a scalar or a list of them, not JSON, not a model) path, query, header
    or cookie parameter."""

    field: ModelField
    name: str
    aliases: tuple[str, ...]  # request keys, in preference order
    location: str
    absent: Any  # the value when the request has none, if known at build time, else Undefined
    sequence: bool  # a list parameter: every value of its name (none: absent)


def _plain_params(fields: Sequence[ModelField]) -> tuple[_Param, ...] | None:
    """The fields as plain parameters, or None if one of them is not plain."""
    plain = []
    for field in fields:
        info = field.field_info
        if (
            not isinstance(info, params.Param)
            or _get_param_model(field) is not None
            or _is_json_field(field)
        ):
            return None
        aliases = tuple(alias for _, alias in _get_param_aliases(field))
        absent: Any = Undefined
        if not info.is_required() and not info.validate_default:
            default = field.default
            # FastAPI deep-copies the default: the same object for these
            if default is None or type(default) in _IMMUTABLE or isinstance(default, Enum):
                absent = default
        sequence = field_annotation_is_sequence(info.annotation)
        plain.append(_Param(field, field.name, aliases, info.in_.value, absent, sequence))
    return tuple(plain)


def _read_params(
    plain: tuple[_Param, ...], received: _Received, values: dict[str, Any], errors: list[Any]
) -> None:
    """``fastapi.dependencies.utils.request_params_to_args`` for plain parameters."""
    for param in plain:
        aliases = param.aliases
        alias = aliases[0]
        if len(aliases) > 1:
            alias = next((a for a in aliases if a in received), alias)
        if param.sequence and isinstance(received, ImmutableMultiDict | Headers):
            value = received.getlist(alias) or None  # FastAPI's: no value is absent
        else:
            value = received.get(alias, None)
        if value is None and param.absent is not Undefined:
            values[param.name] = param.absent
            continue
        value, found = _validate_value_with_model_field(
            field=param.field,
            value=Undefined if value is None else value,
            values=values,
            loc=(param.location, alias),
        )
        if found:
            errors.extend(found)
        else:
            values[param.name] = value


# dependencies solved before a request's body is read (see before_body)
_BEFORE_BODY: set[Callable[..., Any]] = set()
_F = TypeVar("_F", bound=Callable[..., Any])


def before_body(call: _F) -> _F:
    """Mark a dependency (one that reads no body: the caller's authentication) to be
    solved before the request's body is read and parsed, so that a request it refuses
    (a 401) costs no body parsing and an unauthenticated caller learns nothing of the
    body's rules. FastAPI reads the body first; planned routes do this instead (once
    per request, FastAPI's cache holding the result; a coroutine dependency only: a
    sync one keeps FastAPI's order)."""
    _BEFORE_BODY.add(call)
    return call


class _Step:
    """One dependant (a dependency, or the endpoint itself) and what solving it takes."""

    __slots__ = (
        "body_params",
        "cache_key",
        "call",
        "connection_name",
        "coroutine",
        "fields",
        "name",
        "plain",
        "request_name",
        "response_name",
        "subs",
        "use_cache",
    )

    def __init__(self, dependant: Dependant, plain: dict[str, tuple[_Param, ...] | None]) -> None:
        self.call = dependant.call
        self.name = dependant.name
        self.use_cache = dependant.use_cache
        self.cache_key = _get_cache_key(dependant=dependant)
        self.coroutine = _is_coroutine_callable(dependant.call)
        self.subs: tuple[_Step, ...] = ()
        self.fields = {
            "path": dependant.path_params,
            "query": dependant.query_params,
            "header": dependant.header_params,
            "cookie": dependant.cookie_params,
        }
        self.plain = plain
        self.body_params = dependant.body_params
        self.request_name = dependant.request_param_name
        self.connection_name = dependant.http_connection_param_name
        self.response_name = dependant.response_param_name


def _plan(dependant: Dependant) -> _Step | None:
    """The steps of ``dependant``, or None if it uses what :func:`_solve` does not do."""
    if (
        dependant.call is None
        or dependant.websocket_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.concurrency is not None
        or _is_gen_callable(dependant.call)
        or _is_async_gen_callable(dependant.call)
    ):
        return None
    plain: dict[str, tuple[_Param, ...] | None] = {}
    for source, fields in (
        ("path", dependant.path_params),
        ("query", dependant.query_params),
        ("header", dependant.header_params),
        ("cookie", dependant.cookie_params),
    ):
        plain[source] = _plain_params(fields)
    step = _Step(dependant, plain)
    subs = []
    for sub in dependant.dependencies:
        planned = _plan(sub)
        if planned is None:
            return None
        subs.append(planned)
    step.subs = tuple(subs)
    return step


def _early(step: _Step) -> tuple[_Step, ...]:
    """The steps under ``step`` marked :func:`before_body` whose own tree reads no body."""
    found: list[_Step] = []

    def reads_body(s: _Step) -> bool:
        return bool(s.body_params) or any(reads_body(sub) for sub in s.subs)

    def walk(s: _Step) -> None:
        for sub in s.subs:
            if sub.call in _BEFORE_BODY and sub.use_cache and not reads_body(sub):
                if all(f.cache_key != sub.cache_key for f in found):
                    found.append(sub)
            else:
                walk(sub)

    walk(step)
    return tuple(found)


def _received(request: Request, source: str) -> _Received:
    if source == "path":
        return request.path_params
    if source == "query":
        # no query string: no parsing (the same empty parameters)
        return request.query_params if request.scope["query_string"] else _NO_QUERY
    if source == "header":
        return request.headers
    return request.cookies


_NO_QUERY: Final = QueryParams()
_NOTHING: Final[Mapping[str, Any]] = {}  # no value of any name: read as absent, as from _NO_QUERY


class _Solved:
    __slots__ = ("answered", "cache")

    def __init__(self) -> None:
        self.cache: dict[Any, Any] = {}
        self.answered: Response | None = None  # made when a dependency takes it

    @property
    def response(self) -> Response:
        """FastAPI's sub-response: the ``Response`` a dependency or the endpoint may
        set a status and headers on (one per request)."""
        response = self.answered
        if response is None:
            response = self.answered = Response()
            del response.headers["content-length"]
            response.status_code = None  # type: ignore[assignment]
        return response


async def _solve(
    step: _Step,
    request: Request,
    body: Any,
    solved: _Solved,
    embed_body_fields: bool,
) -> tuple[dict[str, Any], list[Any]]:
    """``fastapi.dependencies.utils.solve_dependencies`` for a planned step."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    cache = solved.cache
    for sub in step.subs:
        sub_values, sub_errors = await _solve(sub, request, body, solved, embed_body_fields)
        if sub_errors:
            errors.extend(sub_errors)
            continue
        key = sub.cache_key
        if sub.use_cache and key in cache:
            value = cache[key]
        else:
            assert sub.call is not None
            if sub.coroutine:
                value = await sub.call(**sub_values)
            else:
                value = await run_in_threadpool(sub.call, **sub_values)
        if sub.name is not None:
            values[sub.name] = value
        if key not in cache:
            cache[key] = value
    param_errors: list[Any] = []
    for source in _PARAM_SOURCES:
        fields = step.fields[source]
        if not fields:
            continue
        plain = step.plain[source]
        if plain is not None:
            if source == "query" and not request.scope["query_string"]:
                _read_params(plain, _NOTHING, values, param_errors)  # every one absent
            else:
                _read_params(plain, _received(request, source), values, param_errors)
        else:
            received = _received(request, source)
            found_values, found_errors = request_params_to_args(fields, received)
            values.update(found_values)
            param_errors += found_errors
    errors += param_errors
    if step.body_params:
        body_values, body_errors = await request_body_to_args(
            body_fields=step.body_params, received_body=body, embed_body_fields=embed_body_fields
        )
        values.update(body_values)
        errors.extend(body_errors)
    if step.connection_name:
        values[step.connection_name] = request
    if step.request_name:
        values[step.request_name] = request
    if step.response_name:
        values[step.response_name] = solved.response
    return values, errors


def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


async def _read_body(request: Request, strict_content_type: bool, endpoint_ctx: Any) -> Any:
    """The body as FastAPI's handler reads it for a JSON (not form) body field."""
    try:
        body_bytes = await request.body()
        if not body_bytes:
            return Undefined
        content_type = request.headers.get("content-type")
        if not content_type:
            return body_bytes if strict_content_type else await request.json()
        if _is_json(content_type):
            return await request.json()
        return body_bytes
    except json.JSONDecodeError as e:
        error = RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", e.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": e.msg},
                }
            ],
            body=e.doc,
            endpoint_ctx=endpoint_ctx,
        )
        _validation_failed(error)
        raise error from e
    except HTTPException:
        raise
    except Exception as e:
        if MAX_BODY_SIZE_SCOPE_KEY in request.scope and (limit := get_body_limit_error(e)):
            raise limit from e
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from e


def _model_class(field: ModelField | None) -> type[BaseModel] | None:
    """The response model's class when an instance of it needs no validation."""
    if field is None:
        return None
    annotation = field.field_info.annotation
    if (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and annotation.model_config.get("revalidate_instances", "never") == "never"
        and not field.field_info.metadata
    ):
        return annotation
    return None


def compiled_handler(route: Any, fallback: Handler) -> Handler | None:
    """The planned handler of ``route`` (an ``APIRoute`` or FastAPI's effective
    context of one), answering as ``fallback`` (FastAPI's handler of it) does;
    None if the route uses what the plan does not cover."""
    dependant: Dependant = route.dependant
    body_field: ModelField | None = route.body_field
    response_class = route.response_class
    if (
        not _is_coroutine_callable(dependant.call)
        or _is_gen_callable(dependant.call)
        or _is_async_gen_callable(dependant.call)
        or route.stream_item_field is not None
        or getattr(route, "is_json_stream", False)
        or getattr(route, "is_sse_stream", False)
        or not isinstance(response_class, DefaultPlaceholder)
        or response_class.value is not JSONResponse
        or (body_field is not None and isinstance(body_field.field_info, params.Form))
        or any(
            route_value
            for route_value in (
                route.response_model_include,
                route.response_model_exclude,
                route.response_model_exclude_unset,
                route.response_model_exclude_defaults,
                route.response_model_exclude_none,
            )
        )
        or not route.response_model_by_alias
    ):
        return None
    step = _plan(dependant)
    if step is None:
        return None
    early = tuple(g for g in _early(step) if g.coroutine)
    assert dependant.call is not None
    call = dependant.call
    status_code: int | None = route.status_code
    response_field: ModelField | None = route.response_field
    model_class = _model_class(response_field)
    embed_body_fields: bool = route._embed_body_fields
    strict = route.strict_content_type
    strict_content_type = bool(strict.value if isinstance(strict, DefaultPlaceholder) else strict)
    overrides = route.dependency_overrides_provider
    dependant_path = dependant.path

    def context(request: Request) -> Any:
        ctx = dict(_extract_endpoint_context(call))  # cached by FastAPI
        if dependant_path:
            mount_path = request.scope.get("root_path", "").rstrip("/")
            ctx["path"] = f"{request.method} {mount_path}{dependant_path}"
        return ctx

    async def handler(request: Request) -> Response:
        if (overrides is not None and overrides.dependency_overrides) or (
            get_telemetry_data() is not None
        ):
            return await fallback(request)
        body: Any = Undefined
        solved = _Solved()
        if body_field is not None:
            for guard in early:  # e.g. a 401 before the body is read
                if guard.cache_key in solved.cache:
                    continue
                found, problems = await _solve(guard, request, body, solved, embed_body_fields)
                if not problems:  # else solved again below, its errors reported once
                    assert guard.call is not None
                    solved.cache[guard.cache_key] = await guard.call(**found)
            body = await _read_body(request, strict_content_type, context(request))
        values, errors = await _solve(step, request, body, solved, embed_body_fields)
        if errors:
            error = RequestValidationError(
                errors, body=None if body is Undefined else body, endpoint_ctx=context(request)
            )
            _validation_failed(error)
            raise error
        raw = await call(**values)
        if isinstance(raw, Response):
            return raw
        answered = solved.answered
        code = status_code if status_code else None
        if answered is not None and answered.status_code:
            code = answered.status_code
        if response_field is not None:
            if model_class is not None and type(raw) is model_class:
                content = response_field.serialize_json(raw, by_alias=True)
            else:
                content = await serialize_response(
                    field=response_field,
                    response_content=raw,
                    endpoint_ctx=context(request),
                    dump_json=True,
                )
            response = (
                Response(content=content, media_type="application/json")
                if code is None
                else Response(content=content, status_code=code, media_type="application/json")
            )
        else:
            content = await serialize_response(response_content=raw)
            response = (
                JSONResponse(content) if code is None else JSONResponse(content, status_code=code)
            )
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        if answered is not None:
            response.headers.raw.extend(answered.headers.raw)
        return response

    return handler
