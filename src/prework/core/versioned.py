"""Optimistic locking of one versioned item, with its audit event.

An item carries an integer ``version``. A change names the version it was made
against (``expected_version``, from ``If-Match`` or a ``version`` field) and
fails with ``stale_version`` if the item moved on; a change that names none
applies to whatever version is current: a change landing between our read and
our write makes us read again (at most :data:`UNVERSIONED_ATTEMPTS` times). A
write that met another one in flight (``WriteConflict``, DynamoDB's
``TransactionConflict``) wrote nothing and is read and judged again the same way.
The write and its audit event are one transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from prework.core import audit
from prework.core.audit import Actor
from prework.core.clock import Clock, iso
from prework.core.principal import Principal, RequestContext
from prework.errors import StaleVersion, TransactionCanceled, WriteConflict
from prework.store.base import All, ItemExists, Key, Store, Update, UpdateSpec, version_equals

__all__ = ["UNVERSIONED_ATTEMPTS", "check_version", "keeps_changing", "stale", "update_versioned"]

# a change without an expected version is read and written again this many
# times when other changes keep landing between its read and its write
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
    """Set ``new_values`` on the item ``load`` reads; the item as it is now.

    Nothing is written (and no event) when no value changes. ``what`` names
    the object in the message of a change that kept losing races.
    """
    for _ in range(UNVERSIONED_ATTEMPTS):
        item = await load()
        version = check_version(item, expected_version)
        delta = audit.diff(item, new_values)
        if not delta:
            return item
        changed = {name: change["new"] for name, change in delta.items()}
        changed |= {"updated_at": iso(clock()), "version": version + 1}
        try:
            await store.transact_write(
                [
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
            )
        except WriteConflict:
            continue  # another write to the item was in flight: nothing written, read again
        except TransactionCanceled as exc:
            if expected_version is not None:
                raise stale(int((await load())["version"]), expected_version) from exc
            continue
        return {**item, **changed}
    raise keeps_changing(what)
