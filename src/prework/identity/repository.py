"""Where identity data lives: every key shape of the identity tables, in one place.

``docs/data-model.md`` describes the same shapes; change both together.
Tenant data always has the organization id in its partition key
(``ORG#<org>``); the only items keyed otherwise are the global email guard
(``EMAIL#<email>``, unique by design), auth sessions and rate-limit counters
(``SESSION#<id>``, ``RATE#...``), which carry the organization as an attribute.
"""

from __future__ import annotations

from prework.store.base import Key

ORGS = "organizations"
USERS = "users"
PROFILES = "profiles"
SESSIONS = "sessions"
AUDIT = "audit-log"


def org_pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def org_key(org_id: str) -> Key:
    return {"pk": org_pk(org_id), "sk": "ORG"}


def invitation_key(org_id: str, invitation_id: str) -> Key:
    return {"pk": org_pk(org_id), "sk": f"INVITE#{invitation_id}"}


def user_key(org_id: str, user_id: str) -> Key:
    return {"pk": org_pk(org_id), "sk": f"USER#{user_id}"}


def email_guard_key(email: str) -> Key:
    return {"pk": f"EMAIL#{email}", "sk": "EMAIL"}


def user_status_index(org_id: str, status: str) -> dict[str, str]:
    """gsi1 attributes of a user item (users of an org by status)."""
    return {"gsi1pk": f"ORG#{org_id}#STATUS#{status}"}


def user_role_index(org_id: str, role: str) -> dict[str, str]:
    """gsi2 partition of a user item (users of an org by role)."""
    return {"gsi2pk": f"ORG#{org_id}#ROLE#{role}"}


def user_index_attrs(org_id: str, user_id: str, *, role: str, status: str) -> dict[str, str]:
    return {
        "gsi1pk": f"ORG#{org_id}#STATUS#{status}",
        "gsi1sk": f"USER#{user_id}",
        "gsi2pk": f"ORG#{org_id}#ROLE#{role}",
        "gsi2sk": f"STATUS#{status}#USER#{user_id}",
    }


def profile_key(org_id: str, user_id: str) -> Key:
    return {"pk": org_pk(org_id), "sk": f"PROFILE#{user_id}"}


def session_key(session_id: str) -> Key:
    return {"pk": f"SESSION#{session_id}", "sk": "SESSION"}


def user_sessions_pk(org_id: str, user_id: str) -> str:
    """gsi1 of ``sessions``: the auth sessions of one user."""
    return f"ORG#{org_id}#USER#{user_id}#SESSIONS"


def audit_sk(at: str, event_id: str) -> str:
    return f"{at}#{event_id}"


def audit_actor_pk(org_id: str, actor_id: str) -> str:
    return f"ORG#{org_id}#ACTOR#{actor_id}"


def audit_target_pk(org_id: str, target_type: str, target_id: str) -> str:
    return f"ORG#{org_id}#TARGET#{target_type}#{target_id}"


def audit_action_pk(org_id: str, action: str) -> str:
    return f"ORG#{org_id}#ACTION#{action}"
