"""The planned request handler answers exactly what FastAPI's handler answers.

Every request here is sent twice to the same app: once answered by the planned
handler (:mod:`prework.http.handler`), once by FastAPI's own (a non-empty
``app.dependency_overrides`` makes every route fall back to it), and the two
answers must be equal: status, headers and body, including FastAPI's
validation errors in full (locations, messages, inputs) and their order.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Cookie, Depends, FastAPI, Header, HTTPException, Path, Query, Response
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field

from prework.http.handler import before_body
from prework.http.routing import APIRouter, PlannedRoute

calls = itertools.count()


class Item(BaseModel):
    id: int
    name: str = Field(serialization_alias="label")
    tags: list[str] = []
    flag: bool = False
    seen: int = 0


class ItemCreate(BaseModel):
    name: str = Field(min_length=1, max_length=5)
    size: int = Field(ge=0)


class Page(BaseModel):
    items: list[Item]


async def counted() -> int:
    return next(calls)


async def flagged(flag: bool = False, n: Annotated[int, Query(ge=0)] = 0) -> bool:
    return flag and n >= 0


def sync_agent(user_agent: Annotated[str | None, Header()] = None) -> str:
    return user_agent or ""


async def refusing(deny: Annotated[str | None, Header()] = None) -> None:
    if deny:
        raise HTTPException(status_code=403, detail="denied", headers={"X-Why": deny})


async def unused() -> None:  # pragma: no cover - only its presence in the overrides counts
    return None


router = APIRouter(prefix="/p", dependencies=[Depends(refusing)])


@router.get("/items/{item_id}")
async def get_item(
    item_id: Annotated[int, Path(ge=1)],
    response: Response,
    first: Annotated[int, Depends(counted)],
    again: Annotated[int, Depends(counted)],
    flag: Annotated[bool, Depends(flagged)],
    agent: Annotated[str, Depends(sync_agent)],
    q: int | None = None,
    limit: Annotated[int, Query(ge=1, le=10)] = 5,
    tags: Annotated[list[str] | None, Query()] = None,
    x_token: Annotated[str | None, Header()] = None,
    session: Annotated[str | None, Cookie()] = None,
) -> Item:
    if q == 7:
        response.status_code = 202
        response.headers["X-Seven"] = "yes"
    return Item(
        id=item_id,
        name=f"{agent}:{x_token}:{session}:{limit}",
        tags=tags or [],
        flag=flag,
        seen=again - first,  # one call for both: the per-request cache
    )


class Kind(StrEnum):
    A = "a"
    B = "b"


@router.get("/lists")
async def lists(
    ids: Annotated[list[int], Query()],
    kinds: Annotated[list[Kind] | None, Query(alias="kind")] = None,
    labels: Annotated[list[str], Query(max_length=2)] = ["x"],  # noqa: B006 - FastAPI copies it
    x_tag: Annotated[list[str] | None, Header()] = None,
) -> dict[str, Any]:
    return {"ids": ids, "kinds": kinds, "labels": labels, "x_tag": x_tag}


@router.get("/dicts")
async def as_dict(bad: bool = False) -> Item:
    return {"id": "x" if bad else 3, "name": "from a dict"}  # type: ignore[return-value]


@router.get("/page")
async def page() -> Page:
    return Page(items=[Item(id=1, name="a"), Item(id=2, name="b")])


@router.post("/items", status_code=201)
async def create_item(body: ItemCreate, x_mode: Annotated[str, Header()] = "a") -> Item:
    return Item(id=body.size, name=body.name + x_mode)


@router.post("/pair")
async def pair(first: ItemCreate, second: ItemCreate) -> list[str]:
    return [first.name, second.name]


@router.delete("/items/{item_id}", status_code=204)
async def delete_item(item_id: int) -> None:
    return None


@router.get("/raw")
async def raw() -> Response:
    return Response(b"raw", media_type="text/plain", headers={"X-Raw": "1"})


@router.get("/untyped")
async def untyped(n: int = 1) -> Any:
    return {"n": n, "list": list(range(n))}


@pytest.fixture(scope="module")
def app() -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


JSON = {"Content-Type": "application/json"}
GOOD = b'{"name":"ab","size":1}'
A, B = {"name": "a", "size": 1}, {"name": "b", "size": 2}
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/p/items/3", {}),
    ("GET", "/p/items/3?q=7&limit=9&tags=a&tags=b&flag=true&n=2", {}),
    ("GET", "/p/items/3", {"headers": {"X-Token": "t", "User-Agent": "ua"}}),
    ("GET", "/p/items/3", {"headers": {"Cookie": "session=s1"}}),
    ("GET", "/p/items/0?q=x&limit=11&n=-1&flag=maybe", {}),
    ("GET", "/p/items/zero?limit=", {}),
    ("GET", "/p/items/3", {"headers": {"Deny": "because"}}),
    ("GET", "/p/items/0", {"headers": {"Deny": "first"}}),
    ("GET", "/p/dicts", {}),
    ("GET", "/p/page", {}),
    ("POST", "/p/items", {"json": {"name": "ab", "size": 2}}),
    ("POST", "/p/items", {"json": {"name": "ab", "size": 2}, "headers": {"X-Mode": "z"}}),
    ("POST", "/p/items", {"json": {"name": "", "size": -1, "extra": 1}}),
    ("POST", "/p/items", {"json": [1, 2]}),
    ("POST", "/p/items", {"content": b"{not json", "headers": JSON}),
    ("POST", "/p/items", {"content": b'{"name": "ab", "size": 1}'}),
    ("POST", "/p/items", {"content": GOOD, "headers": {"Content-Type": "text/plain"}}),
    ("POST", "/p/items", {"content": GOOD, "headers": {"Content-Type": "application/merge+json"}}),
    ("POST", "/p/items", {}),
    ("POST", "/p/pair", {"json": {"first": A, "second": B}}),
    ("POST", "/p/pair", {"json": {"first": A}}),
    ("POST", "/p/pair", {"json": 3}),
    ("DELETE", "/p/items/4", {}),
    ("DELETE", "/p/items/four", {}),
    ("GET", "/p/lists?ids=1&ids=2&kind=a&kind=b&labels=p", {}),
    ("GET", "/p/lists?ids=1", {"headers": {"X-Tag": "t1"}}),
    ("GET", "/p/lists?ids=1&ids=two&kind=c&labels=1&labels=2&labels=3", {}),
    ("GET", "/p/lists", {}),
    ("GET", "/p/lists?ids=&kind=", {}),
    ("GET", "/p/lists?ids=3&ids=3&labels=", {}),
    ("GET", "/p/raw", {}),
    ("GET", "/p/untyped?n=3", {}),
]  # fmt: skip


def test_the_routes_are_planned(app: FastAPI) -> None:
    routes = [ctx.original_route for ctx in iter_route_contexts(app.routes)]
    planned = [r for r in routes if isinstance(r, APIRoute)]
    assert planned
    assert all(isinstance(r, PlannedRoute) and r.planned for r in planned)


@pytest.mark.parametrize(("method", "url", "kwargs"), REQUESTS)
async def test_planned_answers_as_fastapi_does(
    app: FastAPI, client: httpx.AsyncClient, method: str, url: str, kwargs: dict[str, Any]
) -> None:
    planned = await client.request(method, url, **kwargs)
    app.dependency_overrides[unused] = unused
    try:
        theirs = await client.request(method, url, **kwargs)
    finally:
        app.dependency_overrides.clear()
    assert planned.status_code == theirs.status_code
    assert planned.headers.multi_items() == theirs.headers.multi_items()
    assert planned.content == theirs.content


# ------------------------------------------------------------------ before_body
guard_calls: list[str] = []


@before_body
async def guard(x_user: Annotated[str | None, Header()] = None) -> str:
    guard_calls.append(x_user or "")
    if x_user is None:
        raise HTTPException(status_code=401, detail="who?")
    return x_user


async def parent(user: Annotated[str, Depends(guard)]) -> str:
    return f"parent of {user}"


guarded = APIRouter(prefix="/g")


@guarded.post("/items", status_code=201)
async def create_guarded(
    body: ItemCreate,
    user: Annotated[str, Depends(guard)],
    via: Annotated[str, Depends(parent)],
) -> Item:
    return Item(id=body.size, name=f"{user}/{via}/{body.name}")


@pytest.fixture
async def guarded_client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(guarded)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


async def test_a_before_body_guard_refuses_before_the_body_is_read(
    guarded_client: httpx.AsyncClient,
) -> None:
    guard_calls.clear()
    # FastAPI would answer the malformed body first (422); the guard's 401 comes first
    r = await guarded_client.post("/g/items", content=b"{not json", headers=JSON)
    assert (r.status_code, r.json()) == (401, {"detail": "who?"})
    r = await guarded_client.post("/g/items", content=b"[" * 5000, headers=JSON)
    assert r.status_code == 401
    assert guard_calls == ["", ""]


async def test_a_before_body_guard_runs_once_however_often_it_is_depended_on(
    guarded_client: httpx.AsyncClient,
) -> None:
    guard_calls.clear()
    r = await guarded_client.post(
        "/g/items", json={"name": "ab", "size": 2}, headers={"X-User": "u"}
    )
    assert (r.status_code, r.json()["label"]) == (201, "u/parent of u/ab")
    assert guard_calls == ["u"]
    # with a valid caller, the body's own errors are answered as FastAPI answers them
    r = await guarded_client.post("/g/items", content=b"{not json", headers={**JSON, "X-User": "u"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["type"] == "json_invalid"
