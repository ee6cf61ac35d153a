"""Listing my assignments with 10,000 in the organization, against ``/healthz``.

Seeds, before the server starts, the SQLite database ``prework serve`` then opens
(the embedded default: a temporary data folder, ``prework init``):

* through the services (as the routes call them): an organization and its owner,
  an invited worker ("me"), a published template, and teams: three with me on
  them, ``OTHER_TEAMS`` without me (members seeded straight to the store, as the
  teams bench does);
* straight to the store with the repository's item builders
  (``checklists/work_repository.py``: ``assignment_item``, ``doc_item``,
  ``watch_item``, ``crew_entry``; writing 10,000 through the API would take
  minutes): ``TOTAL`` assignments, due from 90 days ago to 30 days ahead, in a
  plausible mix of states (past due mostly approved, future mostly assigned), a
  started one with its fixed crew and crew entries, a past-due open one marked
  overdue with its watch gone (as the overdue check leaves it, so that the
  server's check finds nothing to do during the runs). Mine are ``MINE_DIRECT``
  assigned to me and ``MINE_PER_TEAM`` to each of my teams (of the started team
  jobs, about one in seven has a crew without me: I joined later, so the listing
  must drop it); the rest, thousands, go to other teams and other users.

Prints what one first page reads from the store (queries, items, items fetched by
key; counted in-process at the port, steady on a busy machine). Then starts
``prework serve``, logs the worker in over HTTP, checks that
``GET /api/assignments?scope=mine`` answers the page the seed predicts (the first
50 by due time) and that following its cursors yields every one of mine exactly
once, and drives the server with ``wrk`` (bench/bench_http.py's runner) at 1, 16
and 64 connections: at each, ``/healthz`` then the listing, on the same server,
seconds apart, ``--rounds`` times. Printed per run: req/s, p50, p99, the
server's CPU time per request, and the listing's req/s as a fraction of the
``/healthz`` run's and its p99 as a multiple of it. Goal (checked at 64
connections, printed as ok/MISS): the listing >= 0.4x the ``/healthz`` req/s
and p99 <= 2x the ``/healthz`` p99. A benchmark, not a test: the figures depend
on the machine and its load; compare ratios within a run. ``--profile FILE``
also records the server with py-spy during one more listing run at the heaviest
load and prints where the samples fall (raw stacks in ``FILE``). Run: ``python
bench/bench_assignments.py [--quick] [--duration S] [--rounds N] [--profile FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench_http import READ_LUA, Result, Server, end_process, start, wrk
from prework.bootstrap import build_services, open_blobs, open_store
from prework.checklists import work_repository as repo
from prework.checklists.assignments import AssignmentFilter
from prework.checklists.workflow import OPEN, Assignee, AssignmentState
from prework.config import Settings
from prework.core.clock import iso_of
from prework.core.ids import new_id
from prework.core.principal import Principal, RequestContext, Role
from prework.identity import repository as identity_repo
from prework.pubsub.memory import MemoryPubSub
from prework.store.base import Item, Key, Page
from prework.store.sqlite import SqliteStore
from prework.teams.models import NewMember

PASSWORD = "correct horse battery staple"
CONNECTIONS = (1, 16, 64)
TOTAL = 10_000
MINE_DIRECT = 150
MY_TEAMS = 3
MINE_PER_TEAM = 100
OTHER_TEAMS = 40
TEAM_SIZE = 8
OTHER_USERS = 200  # besides the other teams' members
NOT_ON_CREW = 1 / 7  # of my teams' started jobs: crews fixed before I joined
PAGE = 50  # the listing's default page size
LISTING = "/api/assignments?scope=mine"
GOAL_RPS = 0.4
GOAL_P99 = 2.0
GOAL_AT = 64
CTX = RequestContext(request_id="bench", client_ip="127.0.0.1", user_agent="bench")


class CountingSqlite(SqliteStore):
    """SqliteStore counting what a listing reads at the port (a merged query counts
    as one query)."""

    queries = rows = point_reads = 0

    async def query(self, table: str, **kw: Any) -> Page:
        page = await super().query(table, **kw)
        self.queries += 1
        self.rows += len(page.items)
        return page

    async def query_merged(self, table: str, **kw: Any) -> Page:
        page = await super().query_merged(table, **kw)
        self.queries += 1
        self.rows += len(page.items)
        return page

    async def batch_get(self, table: str, keys: Sequence[Key]) -> list[Item]:
        self.point_reads += len(keys)
        return await super().batch_get(table, keys)


@dataclass
class Seeded:
    org_id: str
    worker_id: str
    worker_email: str
    mine: list[tuple[str, str]] = field(default_factory=list)  # (due_at, id), listing order
    items: int = 0
    seconds: float = 0.0


def prework_env(data: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREWORK_")},
        "PREWORK_DATA_DIR": str(data),
        "PREWORK_STORE": f"sqlite:///{data / 'prework.db'}",
        "PREWORK_BLOBS": f"file://{data / 'blobs'}",
    }


def _state(rng: random.Random, due: datetime, now: datetime) -> AssignmentState:
    s = AssignmentState
    if due < now:  # past due: mostly done
        states = [s.APPROVED, s.CANCELLED, s.SUBMITTED, s.REJECTED, s.IN_PROGRESS, s.ASSIGNED]
        return rng.choices(states, weights=[70, 8, 8, 4, 6, 4])[0]
    states = [s.ASSIGNED, s.IN_PROGRESS, s.SUBMITTED, s.CANCELLED]
    return rng.choices(states, weights=[60, 28, 9, 3])[0]


def assignment_items(
    rng: random.Random,
    *,
    org_id: str,
    template: tuple[str, int, str],
    assignee: Assignee,
    roster: Sequence[str],
    created_by: str,
    now: datetime,
    me: str | None = None,
) -> tuple[list[Item], str, str, bool]:
    """One assignment as the store holds it after its life so far: the assignment,
    its answers document, its due watch while open, its crew entries once started.
    Returns the items, its due time and id, and whether ``me`` is on its crew (or
    it is not started: the assignee's)."""
    template_id, template_version, name = template
    due = now + timedelta(minutes=rng.randrange(-90 * 24 * 60, 30 * 24 * 60))
    due_at = iso_of(due)
    planned = iso_of(due - timedelta(hours=rng.choice((2, 4, 8, 24))))
    created = iso_of(due - timedelta(days=rng.randrange(3, 21)))
    assignment_id = new_id()
    item = repo.assignment_item(
        org_id=org_id,
        assignment_id=assignment_id,
        template_id=template_id,
        template_version=template_version,
        title=f"{name}: job {rng.randrange(10_000, 99_999)}",
        assignee=assignee,
        job_ref=f"JOB-{rng.randrange(100_000, 999_999)}",
        location=rng.choice(("North yard", "Tank farm B", "Substation 4", None)),
        coordinates=rng.choice(({"lat": 51.5, "lon": -0.12}, None)),
        planned_start=planned,
        due_at=due_at,
        created_by=created_by,
        now=created,
    )
    state = _state(rng, due, now)
    items: list[Item] = [item, repo.doc_item(org_id, assignment_id, now=created)]
    on_crew = True
    if state is not AssignmentState.ASSIGNED and not (
        state is AssignmentState.CANCELLED and rng.random() < 0.5
    ):  # started (half of the cancelled ones were cancelled before the start)
        crew = list(roster)
        if me is not None and assignee.type == "team" and rng.random() < NOT_ON_CREW:
            crew.remove(me)
        on_crew = me is None or me in crew
        item["crew"] = crew
        item["version"] = rng.randrange(2, 9)
        if state in (AssignmentState.SUBMITTED, AssignmentState.APPROVED, AssignmentState.REJECTED):
            item["submission_count"] = rng.randrange(1, 3)
            item["latest_submission_id"] = new_id()
        if assignee.type == "team":  # the assignee user needs no crew entry
            items += [repo.crew_entry(org_id, assignment_id, u, due_at, assignee) for u in crew]
    item["state"] = state.value
    item["updated_at"] = iso_of(min(now, due))
    if state in OPEN and due > now:
        items.append(repo.watch_item(org_id, assignment_id, due_at))
    elif state in OPEN:  # what the overdue check leaves: marked, its watch gone
        item["overdue_at"] = iso_of(due + timedelta(minutes=1))
    return items, due_at, assignment_id, on_crew


async def seed(settings: Settings) -> Seeded:
    """The organization, its people, teams and ``TOTAL`` assignments (module doc)."""
    started = time.perf_counter()
    rng = random.Random(11)
    store = open_store(settings)
    bus = MemoryPubSub()
    services = build_services(settings, store, bus, open_blobs(settings))
    identity = services.identity
    try:
        owner = await identity.registration.register(
            ctx=CTX,
            organization_name="Bench Works",
            email="owner@example.com",
            password=PASSWORD,
            display_name="Owner",
        )
        org_id = owner.organization.id
        boss = Principal(
            user_id=owner.user.id,
            org_id=org_id,
            role=Role.OWNER,
            session_id=owner.tokens.session_id,
            email=owner.user.email,
        )
        invited = await identity.invitations.invite(
            principal=boss, ctx=CTX, email="me@example.com", role=Role.WORKER
        )
        worker = await identity.invitations.accept(
            ctx=CTX, token=invited.token, password=PASSWORD, display_name="Me"
        )
        me = worker.user.id

        templates = services.checklists.templates
        draft = await templates.create(
            principal=boss,
            ctx=CTX,
            name="Hot work permit",
            description=None,
            definition={
                "sections": [
                    {
                        "id": "area",
                        "title": "Work area",
                        "items": [
                            {"id": "clear", "type": "yes_no_na", "label": "Area cleared"},
                            {"id": "notes", "type": "text", "label": "Notes"},
                        ],
                    }
                ]
            },
        )
        _, version = await templates.publish(principal=boss, ctx=CTX, template_id=draft.id)
        template = (draft.id, version.number, version.name)

        others = [new_id() for _ in range(OTHER_USERS + (MY_TEAMS + OTHER_TEAMS) * TEAM_SIZE)]
        await store.batch_write(
            identity_repo.USERS,
            puts=[
                identity_repo.user_item(
                    org_id=org_id,
                    user_id=u,
                    email=f"{u}@example.com",
                    role=Role.WORKER,
                    password_hash="$argon2id$seeded-not-a-hash",
                    now=iso_of(datetime.now(UTC)),
                )
                for u in others
            ],
        )
        pool = iter(others)
        rosters: dict[str, list[str]] = {}
        for n in range(MY_TEAMS + OTHER_TEAMS):
            members = [next(pool) for _ in range(TEAM_SIZE - 1 if n < MY_TEAMS else TEAM_SIZE)]
            if n < MY_TEAMS:
                members.append(me)
            team = await services.teams.teams.create(
                principal=boss,
                ctx=CTX,
                name=f"Crew {n:02d}",
                members=[NewMember(u) for u in members],
            )
            rosters[team.id] = members
        team_ids = list(rosters)
        my_teams, other_teams = team_ids[:MY_TEAMS], team_ids[MY_TEAMS:]
        other_users = list(pool)

        now = datetime.now(UTC)
        out = Seeded(org_id=org_id, worker_id=me, worker_email=worker.user.email)
        puts: list[Item] = []

        def add(assignee: Assignee, roster: Sequence[str], mine: bool) -> None:
            items, due_at, assignment_id, on_crew = assignment_items(
                rng,
                org_id=org_id,
                template=template,
                assignee=assignee,
                roster=roster,
                created_by=boss.user_id,
                now=now,
                me=me if mine else None,
            )
            puts.extend(items)
            if mine and on_crew:
                out.mine.append((due_at, assignment_id))

        for _ in range(MINE_DIRECT):
            add(Assignee("user", me), [me], True)
        for team_id in my_teams:
            for _ in range(MINE_PER_TEAM):
                add(Assignee("team", team_id), rosters[team_id], True)
        for n in range(TOTAL - MINE_DIRECT - MY_TEAMS * MINE_PER_TEAM):
            if n % 2:
                team_id = rng.choice(other_teams)
                add(Assignee("team", team_id), rosters[team_id], False)
            else:
                user = rng.choice(other_users)
                add(Assignee("user", user), [user], False)
        for start_at in range(0, len(puts), 2_000):
            await store.batch_write(repo.ASSIGNMENTS, puts=puts[start_at : start_at + 2_000])
        out.mine.sort()
        out.items = len(puts)
        out.seconds = time.perf_counter() - started
        return out
    finally:
        identity.close()
        await store.close()
        await bus.close()


async def store_work(settings: Settings, seeded: Seeded) -> str:
    """What one first page of my assignments reads from the store (in-process, the
    service the route calls; steadier than timings on a shared machine)."""
    store = CountingSqlite(settings.data_dir / "prework.db")
    bus = MemoryPubSub()
    services = build_services(settings, store, bus, open_blobs(settings))
    me = Principal(
        user_id=seeded.worker_id,
        org_id=seeded.org_id,
        role=Role.WORKER,
        session_id="bench",
        email=seeded.worker_email,
    )
    try:
        page = await services.checklists.assignments.list(
            principal=me, ctx=CTX, where=AssignmentFilter(scope="mine")
        )
        return (
            f"one page of mine reads {store.queries} queries ({store.rows} items) and "
            f"{store.point_reads} items by key (crew entries resolved) to answer "
            f"{len(page.items)}"
        )
    finally:
        services.identity.close()
        await store.close()
        await bus.close()


def login(server: Server, email: str) -> str:
    r = httpx.post(
        server.base + "/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
    )
    if r.status_code != 200:
        raise SystemExit(f"login failed: {r.status_code} {r.text}")
    token: str = r.json()["access_token"]
    return token


def check_listing(server: Server, seeded: Seeded) -> int:
    """The listing answers what the seed predicts: its first page, then every one of
    mine exactly once along the cursors. Returns the first page's size in bytes."""
    headers = {"Authorization": f"Bearer {server.token}"}
    expected = [assignment_id for _, assignment_id in seeded.mine]
    with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
        first = client.get(LISTING)
        if first.status_code != 200:
            raise SystemExit(f"listing failed: {first.status_code} {first.text}")
        got = [a["id"] for a in first.json()["items"]]
        if got != expected[:PAGE]:
            raise SystemExit(f"first page: {len(got)} items, not the {PAGE} the seed predicts")
        seen = list(got)
        cursor = first.json()["next_cursor"]
        while cursor is not None:
            page = client.get(LISTING, params={"cursor": cursor})
            if page.status_code != 200:
                raise SystemExit(f"listing page failed: {page.status_code} {page.text}")
            seen += [a["id"] for a in page.json()["items"]]
            cursor = page.json()["next_cursor"]
        if seen != expected:
            raise SystemExit(
                f"following the cursors: {len(seen)} items ({len(set(seen))} distinct), "
                f"expected my {len(expected)}"
            )
    return len(first.content)


def settle(server: Server, timeout: float = 60) -> None:
    """Wait until the server is idle (requests wrk left in flight are answered)."""
    deadline = time.monotonic() + timeout
    before = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = server.cpu_seconds()
        if now - before < 0.025:  # under 10% of a core
            return
        before = now
    raise SystemExit(f"the server stayed busy for {timeout:g} s after a run")


def run(server: Server, path: str, conns: int, duration: float, script: Path) -> Result:
    settle(server)
    r = wrk(server, path, conns, duration, script)
    if r.rps <= 0:
        raise SystemExit(f"{path} at {conns} connections: no request answered")
    return r


def profile(server: Server, conns: int, duration: float, script: Path, out: Path) -> None:
    """py-spy on the server during one listing run: where its time goes, by function
    (inclusive share of the samples), and the raw stacks in ``out``."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    settle(server)
    recorder = subprocess.Popen(
        [spy, "record", "--pid", str(server.proc.pid), "--rate", "200", "--format", "raw",
         "--output", str(out), "--duration", str(max(1, round(duration)))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)  # attached
    r = wrk(server, LISTING, conns, duration, script)
    if recorder.wait(timeout=duration + 30) != 0 or not out.exists():
        raise SystemExit("py-spy failed (it needs ptrace: run as root or the server's user)")
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    samples = 0
    for line in out.read_text().splitlines():
        stack, _, text = line.rpartition(" ")
        count = int(text)
        samples += count
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        for name in set(frames):
            inclusive[name] = inclusive.get(name, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    print(f"py-spy, {LISTING} at {conns} connections ({r.rps:.0f} req/s): {samples} samples")
    ours = [kv for kv in sorted(inclusive.items(), key=lambda kv: -kv[1]) if "(prework/" in kv[0]]
    print("  in our code (inclusive):")
    for name, count in ours[2:24]:  # past <module> and serve
        print(f"  {count / samples:>6.1%}  {name}")
    print("  where the samples end (self):")
    for name, count in sorted(own.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {count / samples:>6.1%}  {name}")
    print(f"raw stacks: {out}")


def verdict(conns: int, r: Result, base: Result) -> str:
    if conns != GOAL_AT:
        return ""
    ok = r.rps / base.rps >= GOAL_RPS and r.p99 / base.p99 <= GOAL_P99
    return "ok" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s runs, one round")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each pair per load")
    parser.add_argument("--connections", type=int, nargs="*", default=list(CONNECTIONS))
    parser.add_argument(
        "--profile", type=Path, help="also py-spy the listing at the heaviest load, stacks here"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench installs the Debian package wrk)")
    duration = 2.0 if args.quick else args.duration
    rounds = 1 if args.quick else args.rounds

    with tempfile.TemporaryDirectory(prefix="prework-bench-assignments-") as tmp:
        root = Path(tmp)
        data = root / "data"
        env = prework_env(data)
        subprocess.run(
            [sys.executable, "-m", "prework", "init"],
            env=env,
            cwd=root,
            check=True,
            capture_output=True,
        )
        settings = Settings(
            _env_file=None,
            data_dir=data,
            store=env["PREWORK_STORE"],
            blobs=env["PREWORK_BLOBS"],
        )
        seeded = asyncio.run(seed(settings))
        work = asyncio.run(store_work(settings, seeded))
        (root / "read.lua").write_text(READ_LUA)
        script = root / "read.lua"
        server = start(
            "prework",
            [sys.executable, "-m", "prework", "serve", "--host", "127.0.0.1"],
            env,
            data / "server.log",
            data,
        )
        try:
            server.token = login(server, seeded.worker_email)
            size = check_listing(server, seeded)
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(
                f"CPUs: {os.cpu_count()}, load average: {load}, {duration:g} s a run, "
                f"{rounds} round(s)"
            )
            print(
                f"seeded {TOTAL:,} assignments ({seeded.items:,} items) in "
                f"{seeded.seconds:.1f} s; mine: {len(seeded.mine)} "
                f"({MINE_DIRECT} direct, {MY_TEAMS} teams x {MINE_PER_TEAM}, less the "
                f"crews without me); first page {PAGE} items, {size:,} bytes; checked"
            )
            print(work)
            # warm-up at the heaviest load
            for path in ("/healthz", LISTING):
                run(server, path, max(args.connections), 1, script)
            header = (
                f"{'route':<28} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
                f"{'CPU us/req':>10} {'x healthz':>9} {'p99 x':>6} {'2xx':>7}"
            )
            print(header)
            print("-" * len(header))
            for conns in args.connections:
                for _ in range(rounds):
                    base = run(server, "/healthz", conns, duration, script)
                    r = run(server, LISTING, conns, duration, script)
                    for shown, row, mark in (
                        ("/healthz", base, ""),
                        (LISTING, r, verdict(conns, r, base)),
                    ):
                        print(
                            f"{shown:<28} {conns:>5} {row.rps:>8.0f} {row.p50:>8.2f} "
                            f"{row.p99:>8.2f} {row.cpu_us:>10.0f} {row.rps / base.rps:>9.2f} "
                            f"{row.p99 / base.p99:>6.2f} {row.ok_share:>7.1%} {mark}",
                            flush=True,
                        )
                print()
            if args.profile is not None:
                profile(server, max(args.connections), duration, script, args.profile.resolve())
        finally:
            end_process(server.proc, 20)


if __name__ == "__main__":
    main()
