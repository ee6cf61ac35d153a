"""The answers document's json0 content, and the operations the server makes on it.

The content is ``{"answers": {item_id: value}, "signoffs": {user_id: {"at",
"version"}}}`` (:mod:`prework.checklists.editing` says why ``by``/``at`` stay out).
Every write of a new document version logs the operation that made it
(:func:`prework.sync.oplog.entry_put`), so real-time clients see every version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from prework.checklists import work_repository as repo
from prework.checklists.workflow import DOC_MAX_BYTES
from prework.core.clock import iso
from prework.store.base import All, ItemExists, TransactOp, Update, UpdateSpec, version_equals
from prework.store.codec import item_size
from prework.sync.json0 import Op
from prework.sync.oplog import LoggedOp, entry_put

__all__ = ["answers_op", "clearing_ops", "content_of", "over_doc_limit", "signoffs_cleared"]


def content_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The json0 content of a stored answers document."""
    answers = doc.get("answers") or {}
    return {
        "answers": {k: entry.get("value") for k, entry in answers.items()},
        "signoffs": dict(doc.get("signoffs") or {}),
    }


def answers_op(old: Mapping[str, Any], new: Mapping[str, Any]) -> Op:
    """The operation from stored answers ``old`` to ``new`` ({item_id: {"value",
    ...}}), one component per changed answer, in item id order."""
    op: Op = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        component: dict[str, Any] = {"p": ["answers", key]}
        if before is not None:
            component["od"] = before.get("value")
        if after is not None:
            component["oi"] = after.get("value")
        op.append(component)
    return op


def signoffs_cleared(signoffs: Mapping[str, Any]) -> Op:
    """The operation removing every sign-off."""
    return [{"p": ["signoffs", user], "od": entry} for user, entry in sorted(signoffs.items())]


def clearing_ops(
    org_id: str, doc: Mapping[str, Any], *, kind: str, by: str | None, now: float
) -> tuple[list[TransactOp], list[LoggedOp]]:
    """What clears every sign-off of ``doc`` as read (a crew amendment, a
    rejection): the document's next version and its operation; nothing when no one
    has signed off."""
    signoffs = doc.get("signoffs") or {}
    if not signoffs:
        return [], []
    version = int(doc["version"])
    put, logged = entry_put(
        org_id, doc["assignment_id"], version=version + 1, op=signoffs_cleared(signoffs),
        kind=kind, by=by, now=now,
    )  # fmt: skip
    update = Update(
        repo.ASSIGNMENTS,
        repo.doc_key(org_id, doc["assignment_id"]),
        UpdateSpec(
            set={"signoffs": {}, "version": version + 1, "updated_at": iso(now), "updated_by": by}
        ),
        condition=All(ItemExists(), version_equals(version)),
    )
    return [update, put], [logged]


# by DynamoDB's size rules an item is at most about 2.5 times its compact JSON (a
# one-digit number in a list: 3 bytes against 2 characters): 3 is a safe bound
_JSON_FACTOR: Final = 3


def over_doc_limit(item: Mapping[str, Any]) -> bool:
    """Whether an answers document item is over :data:`DOC_MAX_BYTES` by DynamoDB's
    rules; measured exactly only when its JSON is near the limit (an edit of a small
    document pays the encoding, not the walk)."""
    if _JSON_FACTOR * len(orjson.dumps(item, option=orjson.OPT_NON_STR_KEYS)) <= DOC_MAX_BYTES:
        return False
    return item_size(item) > DOC_MAX_BYTES
