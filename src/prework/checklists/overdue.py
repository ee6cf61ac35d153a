"""The overdue check: open assignments whose due time has passed, marked once each.

Each open assignment has a due watch in the partition of its due date
(``DUEWATCH#<day>``), so a sweep finds what fell due in every organization
without a scan; every server sweeps (``PREWORK_OVERDUE_CHECK_INTERVAL_SECONDS``).
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime, timedelta

from prework.checklists import work_repository as repo
from prework.checklists._work import Raced, WorkBase
from prework.checklists.workflow import OPEN, AssignmentState
from prework.core.clock import iso
from prework.core.principal import RequestContext
from prework.store.base import (
    All,
    AttrEquals,
    Delete,
    Item,
    TransactOp,
    Update,
    UpdateSpec,
    version_equals,
)

__all__ = ["OverdueCheck"]


class OverdueCheck(WorkBase):
    # ------------------------------------------------------------------ overdue
    async def sweep_overdue(self, *, lookback_days: int = 30, limit: int = 500) -> int:
        """Mark the open assignments whose due time has passed as overdue (once each,
        audited as the system, announced); returns how many. Safe to run on every node
        at once: each is one conditional transaction."""
        now_ts = self.clock()
        now = iso(now_ts)
        today = datetime.fromtimestamp(now_ts, UTC).date()
        marked = 0
        for back in range(lookback_days, -1, -1):
            day = (today - timedelta(days=back)).isoformat()
            page = await self.store.query(
                repo.ASSIGNMENTS, pk=repo.watch_pk(day), sk_lte=f"{now}#~", limit=limit
            )
            for watch in page.items:
                if watch.get("due_at", "~") > now:
                    continue
                if await self._mark_overdue(watch, now):
                    marked += 1
        return marked

    async def _mark_overdue(self, watch: Item, now: str) -> bool:
        org, assignment_id = watch["org_id"], watch["assignment_id"]
        item = await self.store.get(repo.ASSIGNMENTS, repo.assignment_key(org, assignment_id))
        drop = Delete(repo.ASSIGNMENTS, {"pk": watch["pk"], "sk": watch["sk"]})
        if (
            not repo.is_assignment(item, org)
            or item is None
            or AssignmentState(item["state"]) not in OPEN
            or item["due_at"] != watch["due_at"]
            or item.get("overdue_at") is not None
        ):
            await self.store.delete(repo.ASSIGNMENTS, drop.key)
            return False
        ops: builtins.list[TransactOp] = [
            Update(
                repo.ASSIGNMENTS,
                repo.assignment_key(org, assignment_id),
                UpdateSpec(set={"overdue_at": now, "version": int(item["version"]) + 1}),
                condition=All(
                    version_equals(int(item["version"])), AttrEquals("due_at", item["due_at"])
                ),
            ),
            drop,
            self._event(
                None,
                RequestContext(),
                org,
                "assignment.overdue",
                assignment_id,
                changes={"version": {"old": int(item["version"]), "new": int(item["version"]) + 1}},
                details={"due_at": item["due_at"], "state": item["state"]},
            ),
        ]
        try:
            await self._write(ops)
        except Raced:
            return False  # changed meanwhile: the next sweep judges it again
        await self._announce(
            org, "assignment.overdue", assignment_id=assignment_id, due_at=item["due_at"]
        )
        return True
