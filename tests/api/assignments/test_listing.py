"""Listing assignments through HTTP on both engines: the organization's and a
member's own (their own, their teams', the crews they are on), every filter
(state, team, template, job reference, due range), due-time order, and cursor
paging without duplicates or gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from prework.core.paging import encode_cursor
from prework.core.principal import Role

from ..identity.helpers import Member, error_code, join, make_tenant
from .helpers import assign, iso, ok, published_template, team_of


async def _listed(
    client: httpx.AsyncClient, by: Member, url: str = "/api/assignments", **params: Any
) -> list[str]:
    """Every id of the listing, page after page (``limit`` per page if given)."""
    ids: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = await ok(client, "GET", url, by, params=query)
        ids += [x["id"] for x in body["items"]]
        if "limit" in params:
            assert len(body["items"]) <= int(params["limit"])
        cursor = body["next_cursor"]
        pages += 1
        assert pages < 50, "the cursor does not end"
        if cursor is None:
            return ids


@pytest.fixture(scope="module")
async def jobs(module_client: httpx.AsyncClient) -> dict[str, Any]:
    """An organization with six assignments, created out of due-time order."""
    client = module_client
    tenant = await make_tenant(client, "List Org", roles=(Role.OWNER, Role.SUPERVISOR))
    owner, sup = tenant.owner, tenant.members[Role.SUPERVISOR]
    w1, w2, w3 = [await join(client, owner, role=Role.WORKER) for _ in range(3)]
    team = await team_of(client, sup, w1, w2)
    t1 = await published_template(client, owner)
    t2 = await published_template(client, owner)
    now = datetime.now(UTC)
    specs = {  # name: (template, assignee, hours until due, job ref)
        "team_late": (t1, {"type": "team", "id": team}, 5, "WO-A"),
        "w1_own": (t2, {"type": "user", "id": w1.user_id}, 1, "WO-B"),
        "team_early": (t2, {"type": "team", "id": team}, 2, "WO-A"),
        "w3_own": (t1, {"type": "user", "id": w3.user_id}, 3, "WO-C"),
        "w2_own": (t1, {"type": "user", "id": w2.user_id}, 4, "WO-B"),
        "w3_crewed": (t1, {"type": "user", "id": w3.user_id}, 6, "WO-D"),
    }
    ids: dict[str, str] = {}
    for name, (template, assignee, hours, job_ref) in specs.items():
        a = await assign(
            client,
            sup,
            template,
            assignee,
            due_in=timedelta(hours=hours),
            job_ref=job_ref,
        )
        ids[name] = a["id"]
    # w3 starts theirs, then w1 joins its crew (w1 is on it, not its assignee)
    crewed = f"/api/assignments/{ids['w3_crewed']}"
    await ok(client, "POST", f"{crewed}/start", w3)
    await ok(client, "POST", f"{crewed}/crew", sup, json={"user_ids": [w3.user_id, w1.user_id]})
    await ok(client, "POST", f"/api/assignments/{ids['w2_own']}/cancel", sup)
    return {
        "client": client,
        "sup": sup,
        "w1": w1,
        "w2": w2,
        "w3": w3,
        "team": team,
        "t1": t1,
        "t2": t2,
        "now": now,
        "ids": ids,
    }


BY_DUE = ["w1_own", "team_early", "w3_own", "w2_own", "team_late", "w3_crewed"]


def _names(jobs: dict[str, Any], ids: list[str]) -> list[str]:
    by_id = {v: k for k, v in jobs["ids"].items()}
    return [by_id.get(i, i) for i in ids]


async def test_the_organization_s_list_by_due_time_with_every_filter(jobs: dict[str, Any]) -> None:
    client, sup, now = jobs["client"], jobs["sup"], jobs["now"]

    async def names(**params: Any) -> list[str]:
        return _names(jobs, await _listed(client, sup, **params))

    assert await names() == BY_DUE
    assert await names(scope="org") == BY_DUE
    assert await names(state="in_progress") == ["w3_crewed"]
    assert await names(state=["cancelled", "in_progress"]) == ["w2_own", "w3_crewed"]
    assert await names(state="assigned") == ["w1_own", "team_early", "w3_own", "team_late"]
    assert await names(team_id=jobs["team"]) == ["team_early", "team_late"]
    assert await names(template_id=jobs["t2"]) == ["w1_own", "team_early"]
    assert await names(job_ref="WO-B") == ["w1_own", "w2_own"]
    window = {
        "due_from": iso(now + timedelta(hours=1, minutes=30)),
        "due_to": iso(now + timedelta(hours=4, minutes=30)),
    }
    assert await names(**window) == ["team_early", "w3_own", "w2_own"]
    assert await names(**window, template_id=jobs["t1"], state="assigned") == ["w3_own"]
    assert await names(due_to=iso(now)) == []
    assert await names(team_id=jobs["team"], job_ref="WO-A", state="assigned") == [
        "team_early",
        "team_late",
    ]
    # both bounds are inclusive
    r = await ok(client, "GET", f"/api/assignments/{jobs['ids']['w3_own']}", sup)
    due = r["due_at"]
    assert await names(due_from=due, due_to=due) == ["w3_own"]


async def test_my_list_has_my_teams_and_my_crews(jobs: dict[str, Any]) -> None:
    client = jobs["client"]

    async def names(who: str, **params: Any) -> list[str]:
        return _names(jobs, await _listed(client, jobs[who], **params))

    # w1: their own, their team's, and the one whose crew they joined
    assert await names("w1") == ["w1_own", "team_early", "team_late", "w3_crewed"]
    assert await names("w1", scope="mine") == ["w1_own", "team_early", "team_late", "w3_crewed"]
    assert await names("w1", team_id=jobs["team"]) == ["team_early", "team_late"]
    assert await names("w1", state="in_progress") == ["w3_crewed"]
    assert await names("w2") == ["team_early", "w2_own", "team_late"]
    assert await names("w3") == ["w3_own", "w3_crewed"]
    assert await names("sup", scope="mine") == []
    # a worker asks only for their own
    r = await client.get("/api/assignments", headers=jobs["w1"].headers, params={"scope": "org"})
    assert (r.status_code, error_code(r)) == (403, "forbidden")


@pytest.mark.parametrize("limit", [1, 2, 4])
async def test_cursor_paging_has_no_duplicates_nor_gaps(jobs: dict[str, Any], limit: int) -> None:
    client = jobs["client"]
    for who, params, expected in (
        ("sup", {}, BY_DUE),
        ("sup", {"state": "assigned"}, ["w1_own", "team_early", "w3_own", "team_late"]),
        ("w1", {}, ["w1_own", "team_early", "team_late", "w3_crewed"]),
    ):
        ids = await _listed(client, jobs[who], limit=limit, **params)
        assert _names(jobs, ids) == expected, (who, params, limit)


async def test_bad_listing_parameters(jobs: dict[str, Any]) -> None:
    client, sup = jobs["client"], jobs["sup"]
    for params, code in (
        ({"scope": "everyone"}, "validation_failed"),
        ({"state": "done"}, "validation_failed"),
        ({"limit": 0}, "validation_failed"),
        ({"due_from": "yesterday"}, "validation_failed"),
        ({"due_from": "2030-01-01T00:00:00"}, "validation_failed"),  # no time zone
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        # a cursor of the right form whose sort key is no text (a lone surrogate)
        ({"cursor": encode_cursor({"after": "\ud800"})}, "invalid_cursor"),
        ({"cursor": encode_cursor({"after": "2030\n"})}, "invalid_cursor"),
        (
            {"due_from": "2030-01-02T00:00:00Z", "due_to": "2030-01-01T00:00:00Z"},
            "invalid_filter",
        ),
    ):
        r = await client.get("/api/assignments", headers=sup.headers, params=params)
        assert (r.status_code, error_code(r)) == (422, code), (params, r.text)
