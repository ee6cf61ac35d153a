"""Optimistic-locking updates of one versioned item, with their audit event.

An item carries an integer ``version``. A change names the version it was made
against (``expected_version``, from ``If-Match`` or a ``version`` field) and
fails with ``stale_version`` if the item moved on; a change that names none
applies to whatever version is current: a change landing between our read and
our write makes us read again (at most ``UNVERSIONED_ATTEMPTS`` times).
The write and its audit event are one transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from prework.domain.identity import Principal, RequestContext
from prework.errors import StaleVersion, TransactionCanceled
from prework.services import audit
from prework.services.audit import Actor
from prework.services.common import UNVERSIONED_ATTEMPTS, Clock, iso
from prework.store.base import All, ItemExists, Key, Store, Update, UpdateSpec, version_equals

__all__ = ["update_versioned"]


def _stale(current: int, expected: int) -> StaleVersion:
    return StaleVersion(details={"current_version": current, "expected_version": expected})


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
        version = int(item["version"])
        if expected_version is not None and expected_version != version:
            raise _stale(version, expected_version)
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
        except TransactionCanceled as exc:
            if expected_version is not None:
                raise _stale(int((await load())["version"]), expected_version) from exc
            continue
        return {**item, **changed}
    raise StaleVersion(f"The {what} keeps changing; try again.")
