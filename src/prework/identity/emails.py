"""Finding an account by its email, and moving guards off the old normalisation.

The first releases keyed the email guard (``EMAIL#<email>``) by the address
trimmed, NFKC-normalised and case-folded, domain included
(:func:`prework.identity.models.legacy_email_form`): ``x@example。com`` and
``x@example.com``, or ``p@bücher.example`` and ``p@xn--bcher-kva.example``,
were two guards, so two accounts for one mailbox. Guards are now keyed by
:func:`prework.identity.models.normalize_email`.

The store cannot scan, so the guards move lazily: a login reads the
canonical guard and the guards of the address's legacy spellings (the one
typed, and its Unicode and ASCII domain forms: the same reads whether or not
an account exists), and a successful login on a legacy guard moves it in the
login's own transaction (new guard put if absent, old guard deleted if it
still names the user, the user's ``email`` rewritten, the change in the
``auth.login`` event). Registration and invitation acceptance refuse an
address whose canonical guard or any legacy guard exists, atomically
(:func:`guards_absent`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from prework.identity import repository as repo
from prework.identity.models import legacy_email_form, legacy_email_forms, normalize_email
from prework.store.base import (
    AttrEquals,
    Check,
    Delete,
    Item,
    ItemNotExists,
    Put,
    Store,
    TransactOp,
)

__all__ = ["EmailLookup", "find_email_guard", "guards_absent", "mailbox_taken"]


@dataclass(frozen=True, slots=True)
class EmailLookup:
    """The guard an address resolves to, and whether it is to be moved."""

    address: str  # canonical
    guard: Item | None
    # the legacy spelling that keys ``guard``, when the login moves it to ``address``
    migrate_from: str | None = None

    def user_set(self) -> dict[str, Any]:
        """What the login's update of the user item sets for the move."""
        return {"email": self.address} if self.migrate_from is not None else {}

    def changes(self) -> dict[str, dict[str, Any]]:
        """The move, for the ``auth.login`` event's ``changes``."""
        if self.migrate_from is None:
            return {}
        return {"email": {"old": self.migrate_from, "new": self.address}}

    def migration_ops(self) -> list[TransactOp]:
        """The guard writes of the move (the user item changes by :meth:`user_set`)."""
        if self.migrate_from is None or self.guard is None:
            return []
        org_id, user_id = self.guard["org_id"], self.guard["user_id"]
        return [
            Put(
                repo.USERS,
                repo.email_guard_item(email=self.address, org_id=org_id, user_id=user_id),
                condition=ItemNotExists(),
            ),
            Delete(
                repo.USERS,
                repo.email_guard_key(self.migrate_from),
                condition=AttrEquals("user_id", user_id),
            ),
        ]


async def find_email_guard(store: Store, raw: str) -> EmailLookup:
    """The guard of the account ``raw`` (a valid address) names, canonical or legacy.

    The legacy guard of the very spelling typed comes first (two accounts the
    first releases let exist for one mailbox both stay reachable), then the
    canonical guard, then the other legacy spellings. A legacy guard is moved
    only if the canonical guard is free.
    """
    address = normalize_email(raw)
    forms = legacy_email_forms(raw)
    found = await asyncio.gather(
        store.get(repo.USERS, repo.email_guard_key(address)),
        *(store.get(repo.USERS, repo.email_guard_key(form)) for form in forms),
    )
    canonical, legacy = found[0], dict(zip(forms, found[1:], strict=True))
    typed = legacy_email_form(raw)
    if typed in legacy and legacy[typed] is not None:
        return EmailLookup(address, legacy[typed], typed if canonical is None else None)
    if canonical is not None:
        return EmailLookup(address, canonical)
    for form, guard in legacy.items():
        if guard is not None:
            return EmailLookup(address, guard, form)
    return EmailLookup(address, None)


async def mailbox_taken(store: Store, raw: str) -> bool:
    """Whether an account exists under ``raw``'s canonical guard or a legacy one."""
    return (await find_email_guard(store, raw)).guard is not None


def guards_absent(raw: str) -> list[TransactOp]:
    """Checks, for a transaction creating ``raw``'s canonical guard, that no legacy
    guard of the mailbox exists (a login could be moving it right now)."""
    return [
        Check(repo.USERS, repo.email_guard_key(form), ItemNotExists())
        for form in legacy_email_forms(raw)
    ]
