"""Optimistic locking of one versioned item, with its audit event.

An item carries an integer ``version``. A change names the version it was made
against (``expected_version``, from ``If-Match`` or a ``version`` field) and
fails with ``stale_version`` if the item moved on; a change that names none
applies to whatever version is current. Either way the read, the comparison
and the write (with its audit event: one transaction) are one
:meth:`~prework.store.base.Store.modify_item`: on SQLite and in memory nothing
lands between them, so a change without an expected version always applies;
on DynamoDB the write is conditioned on the version read and the store reads
and plans again when another change landed in between (a few times; then
``keeps changing``). A write that met another one in flight (``WriteConflict``,
DynamoDB's ``TransactionConflict``) wrote nothing and is planned again on a fresh
read, with or without an expected version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from prework.core import audit
from prework.core.audit import Actor
from prework.core.clock import Clock, iso
from prework.core.principal import Principal, RequestContext
from prework.errors import StaleVersion, TransactionCanceled, WriteConflict
from prework.store.base import (
    All,
    ItemExists,
    Key,
    Store,
    TransactOp,
    Update,
    UpdateSpec,
    version_equals,
)

__all__ = ["UNVERSIONED_ATTEMPTS", "check_version", "keeps_changing", "stale", "update_versioned"]

# a change without an expected version is read and written again this many
# times when other changes keep landing between its read and its write (where
# the store cannot make them one step; see modify_item)
UNVERSIONED_ATTEMPTS = 5


def stale(current: int, expected: int) -> StaleVersion:
    """The ``stale_version`` answer: the change was made against ``expected``."""
    return StaleVersion(details={"current_version": current, "expected_version": expected})


def check_version(item: Mapping[str, Any], expected: int | None) -> int:
    """The item's version; :func:`stale` if the caller expected another one."""
    current = int(item["version"])
    if expected is not None and expected != current:
        raise stale(current, expected)
    return current


def keeps_changing(what: str) -> StaleVersion:
    """A change without an expected version lost every race it ran."""
    return StaleVersion(f"The {what} keeps changing; try again.")


async def update_versioned(
    store: Store,
    *,
    table: str,
    key: Key,
    load: Callable[[], Awaitable[dict[str, Any]]],
    new_values: Mapping[str, Any],
    expected_version: int | None,
    principal: Principal,
    ctx: RequestContext,
    action: str,
    target_type: str,
    target_id: str,
    what: str,
    clock: Clock,
) -> dict[str, Any]:
    """Set ``new_values`` on the item at ``key``; the item as it is now.

    Nothing is written (and no event) when no value changes. ``load`` reads
    the item the caller's way (its not-found answer is what a missing item
    gets). ``what`` names the object in the message of a change that kept
    losing races.
    """

    def plan(item: dict[str, Any] | None) -> tuple[Sequence[TransactOp], dict[str, Any] | None]:
        if item is None:
            return [], None
        version = check_version(item, expected_version)
        delta = audit.diff(item, new_values)
        if not delta:
            return [], item
        changed = {name: change["new"] for name, change in delta.items()}
        changed |= {"updated_at": iso(clock()), "version": version + 1}
        ops: list[TransactOp] = [
            Update(
                table,
                key,
                UpdateSpec(set=changed),
                condition=All(ItemExists(), version_equals(version)),
            ),
            audit.event_op(
                org_id=principal.org_id,
                action=action,
                actor=Actor.of(principal),
                ctx=ctx,
                target_type=target_type,
                target_id=target_id,
                changes=delta,
                clock=clock,
            ),
        ]
        return ops, {**item, **changed}

    for _ in range(UNVERSIONED_ATTEMPTS):
        try:
            result = await store.modify_item(table, key, plan)
        except WriteConflict:
            continue  # another write to the item was in flight: nothing written, read again
        except TransactionCanceled as exc:
            if expected_version is not None:
                raise stale(int((await load())["version"]), expected_version) from exc
            continue
        if result is not None:
            return result
        await load()  # missing: the caller's not-found answer (or it is there now: again)
    raise keeps_changing(what)
