"""Audit coverage cases of the identity routes (see ``test_audit_coverage.py``).

For each mutating route: ``ok`` makes a call that succeeds and names the
events it must add (``expect(response) -> (org id, [(action, target type,
target id), ...])``); ``fail`` makes a call that fails and names the only
events it may add (``events``: failure events, in org ``org``). Both return
a dict with ``headers`` and the :class:`Call` keys. Loaded by file path (see
``coverage.py``): import only ``prework`` and libraries.
"""

from __future__ import annotations

from typing import Any

from prework.core.principal import Role

PASSWORD = "correct horse battery staple"


def _body(r: Any) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    return body


# --------------------------------------------------------------------------- auth
async def register_ok(world: Any) -> dict[str, Any]:
    email = f"coverage-{id(world)}-register@example.com"

    def expect(r: Any) -> tuple[str, list[tuple[str, str, str]]]:
        b = _body(r)
        org, user = b["organization"]["id"], b["user"]["id"]
        return org, [
            ("org.created", "organization", org),
            ("user.created", "user", user),
            ("auth.login", "user", user),
        ]

    return {
        "json": {
            "organization_name": "Coverage",
            "email": email,
            "password": PASSWORD,
            "display_name": "C",
        },
        "expect": expect,
    }


async def register_fail(world: Any) -> dict[str, Any]:
    return {
        "json": {
            "organization_name": "Dup",
            "email": world.a.owner.email,
            "password": PASSWORD,
            "display_name": "D",
        },
        "org": world.a.org_id,
        "events": [],
    }


async def login_ok(world: Any) -> dict[str, Any]:
    owner = world.a.owner
    return {
        "json": {"email": owner.email, "password": PASSWORD},
        "expect": lambda r: (owner.org_id, [("auth.login", "user", owner.user_id)]),
    }


async def login_fail(world: Any) -> dict[str, Any]:
    return {
        "json": {"email": world.a.owner.email, "password": "wrong password!!"},
        "org": world.a.org_id,
        "events": ["auth.login_failed"],
    }


async def refresh_ok(world: Any) -> dict[str, Any]:
    member = await world.join(world.a, Role.WORKER)
    return {
        "json": {"refresh_token": member.refresh_token},
        "expect": lambda r: (member.org_id, [("session.refreshed", "session", member.session_id)]),
    }


async def refresh_fail(world: Any) -> dict[str, Any]:
    member = await world.join(world.a, Role.WORKER)
    session_id = member.refresh_token.split(".")[0]
    return {
        "json": {"refresh_token": f"{session_id}.{'A' * 43}"},
        "org": member.org_id,
        "events": [],
    }


async def logout_ok(world: Any) -> dict[str, Any]:
    member = await world.join(world.a, Role.WORKER)
    return {
        "headers": member.headers,
        "expect": lambda r: (member.org_id, [("auth.logout", "session", member.session_id)]),
    }


async def logout_fail(world: Any) -> dict[str, Any]:
    return {"headers": {"Authorization": "Bearer nope"}, "org": world.a.org_id, "events": []}


async def accept_ok(world: Any) -> dict[str, Any]:
    invitation = await world.invite(world.a, Role.SUPERVISOR)

    def expect(r: Any) -> tuple[str, list[tuple[str, str, str]]]:
        user = _body(r)["user"]["id"]
        return world.a.org_id, [
            ("invitation.accepted", "invitation", invitation["id"]),
            ("user.created", "user", user),
            ("auth.login", "user", user),
        ]

    return {
        "json": {"token": invitation["token"], "password": PASSWORD, "display_name": "S"},
        "expect": expect,
    }


async def accept_fail(world: Any) -> dict[str, Any]:
    invitation = await world.invite(world.a, Role.SUPERVISOR)
    return {
        "json": {"token": invitation["token"], "password": "short", "display_name": "S"},
        "org": world.a.org_id,
        "events": [],
    }


# --------------------------------------------------------------------------- users
async def invite_ok(world: Any) -> dict[str, Any]:
    def expect(r: Any) -> tuple[str, list[tuple[str, str, str]]]:
        return world.a.org_id, [("invitation.created", "invitation", _body(r)["id"])]

    return {
        "headers": world.a.members[Role.ADMIN].headers,
        "json": {"email": f"invitee-{id(world)}@example.com", "role": "worker"},
        "expect": expect,
    }


async def invite_fail(world: Any) -> dict[str, Any]:
    return {
        "headers": world.a.members[Role.SUPERVISOR].headers,
        "json": {"email": "nobody@example.com", "role": "worker"},
        "org": world.a.org_id,
        "events": ["access.denied"],
    }


async def revoke_ok(world: Any) -> dict[str, Any]:
    invitation = await world.invite(world.a, Role.WORKER)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"invitation_id": invitation["id"]},
        "expect": lambda r: (
            world.a.org_id,
            [("invitation.revoked", "invitation", invitation["id"])],
        ),
    }


async def revoke_fail(world: Any) -> dict[str, Any]:
    invitation = await world.invite(world.a, Role.WORKER)
    return {
        "headers": world.a.members[Role.WORKER].headers,
        "path_params": {"invitation_id": invitation["id"]},
        "org": world.a.org_id,
        "events": ["access.denied"],
    }


async def role_ok(world: Any) -> dict[str, Any]:
    member = await world.join(world.a, Role.WORKER)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"user_id": member.user_id},
        "json": {"role": "auditor"},
        "expect": lambda r: (world.a.org_id, [("user.role_changed", "user", member.user_id)]),
    }


async def role_fail(world: Any) -> dict[str, Any]:
    member = await world.join(world.a, Role.WORKER)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"user_id": member.user_id},
        "json": {"role": "auditor", "version": 99},
        "org": world.a.org_id,
        "events": [],
    }


async def deactivate_ok(world: Any) -> dict[str, Any]:
    member = await world.join(world.a, Role.WORKER)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"user_id": member.user_id},
        "expect": lambda r: (world.a.org_id, [("user.deactivated", "user", member.user_id)]),
    }


async def deactivate_fail(world: Any) -> dict[str, Any]:
    return {
        "headers": world.a.owner.headers,
        "path_params": {"user_id": world.a.owner.user_id},  # the last owner
        "org": world.a.org_id,
        "events": [],
    }


async def reactivate_ok(world: Any) -> dict[str, Any]:
    member = await world.join(world.a, Role.WORKER)
    r = await world.client.post(
        f"/api/users/{member.user_id}/deactivate", headers=world.a.owner.headers
    )
    assert r.status_code == 200, r.text
    return {
        "headers": world.a.owner.headers,
        "path_params": {"user_id": member.user_id},
        "expect": lambda r: (world.a.org_id, [("user.reactivated", "user", member.user_id)]),
    }


async def reactivate_fail(world: Any) -> dict[str, Any]:
    member = await world.join(world.a, Role.WORKER)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"user_id": member.user_id},  # already active
        "org": world.a.org_id,
        "events": [],
    }


# --------------------------------------------------------------------------- profiles, orgs
async def profile_ok(world: Any) -> dict[str, Any]:
    member = world.a.members[Role.WORKER]
    return {
        "headers": member.headers,
        "json": {"job_title": f"Rigger {id(world)}"},
        "expect": lambda r: (world.a.org_id, [("profile.updated", "profile", member.user_id)]),
    }


async def profile_fail(world: Any) -> dict[str, Any]:
    return {
        "headers": world.a.members[Role.WORKER].headers,
        "json": {"time_zone": "Atlantis/Lost"},
        "org": world.a.org_id,
        "events": [],
    }


async def org_ok(world: Any) -> dict[str, Any]:
    return {
        "headers": world.a.owner.headers,
        "json": {"locale": "en-GB"},
        "expect": lambda r: (world.a.org_id, [("org.updated", "organization", world.a.org_id)]),
    }


async def org_fail(world: Any) -> dict[str, Any]:
    return {
        "headers": world.a.members[Role.AUDITOR].headers,
        "json": {"locale": "en-GB"},
        "org": world.a.org_id,
        "events": ["access.denied"],
    }


# --------------------------------------------------------------------------- certifications
async def _certified_worker(world: Any, name: str) -> Any:
    member = await world.join(world.a, Role.WORKER)
    r = await world.client.patch(
        "/api/profiles/me", headers=member.headers, json={"certifications": [{"name": name}]}
    )
    assert r.status_code == 200, r.text
    return member


async def verify_ok(world: Any) -> dict[str, Any]:
    member = await _certified_worker(world, "Confined Space Entry")
    return {
        "headers": world.a.members[Role.SUPERVISOR].headers,
        "path_params": {"user_id": member.user_id, "name": "confined space entry"},
        "expect": lambda r: (
            world.a.org_id,
            [("certification.verified", "user", member.user_id)],
        ),
    }


async def verify_fail(world: Any) -> dict[str, Any]:
    member = await _certified_worker(world, "Rigging")
    return {
        "headers": member.headers,  # a worker cannot vouch for anyone, least of all themself
        "path_params": {"user_id": member.user_id, "name": "Rigging"},
        "org": world.a.org_id,
        "events": ["access.denied"],
    }


CASES = {
    ("POST", "/api/auth/register"): {"ok": register_ok, "fail": register_fail},
    ("POST", "/api/auth/login"): {"ok": login_ok, "fail": login_fail},
    ("POST", "/api/auth/refresh"): {"ok": refresh_ok, "fail": refresh_fail},
    ("POST", "/api/auth/logout"): {"ok": logout_ok, "fail": logout_fail},
    ("POST", "/api/auth/accept-invitation"): {"ok": accept_ok, "fail": accept_fail},
    ("POST", "/api/users/invitations"): {"ok": invite_ok, "fail": invite_fail},
    ("DELETE", "/api/users/invitations/{invitation_id}"): {"ok": revoke_ok, "fail": revoke_fail},
    ("PATCH", "/api/users/{user_id}"): {"ok": role_ok, "fail": role_fail},
    ("POST", "/api/users/{user_id}/deactivate"): {"ok": deactivate_ok, "fail": deactivate_fail},
    ("POST", "/api/users/{user_id}/reactivate"): {"ok": reactivate_ok, "fail": reactivate_fail},
    ("PATCH", "/api/profiles/me"): {"ok": profile_ok, "fail": profile_fail},
    ("PATCH", "/api/orgs/current"): {"ok": org_ok, "fail": org_fail},
    # certification verification
    ("POST", "/api/users/{user_id}/certifications/{name}/verify"): {
        "ok": verify_ok,
        "fail": verify_fail,
    },
}

EXEMPT = {
    ("POST", "/api/blobs/upload"): (
        "the file backend's stand-in for S3's presigned POST: on AWS this request never "
        "reaches Prework, so the media routes that issue and confirm uploads audit them"
    ),
}
