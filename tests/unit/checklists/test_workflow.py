"""The assignment life cycle: every (state, transition) pair, allowed or refused."""

from __future__ import annotations

import pytest

from prework.checklists.workflow import (
    AssignmentState,
    Transition,
    check_transition,
    missing_signoffs,
)
from prework.errors import Conflict

S, T = AssignmentState, Transition
ALLOWED = {
    (S.ASSIGNED, T.START): S.IN_PROGRESS,
    (S.REJECTED, T.START): S.IN_PROGRESS,
    (S.IN_PROGRESS, T.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, T.APPROVE): S.APPROVED,
    (S.SUBMITTED, T.REJECT): S.REJECTED,
    (S.ASSIGNED, T.CANCEL): S.CANCELLED,
    (S.IN_PROGRESS, T.CANCEL): S.CANCELLED,
    (S.SUBMITTED, T.CANCEL): S.CANCELLED,
    (S.REJECTED, T.CANCEL): S.CANCELLED,
    (S.ASSIGNED, T.EDIT): S.ASSIGNED,
    (S.IN_PROGRESS, T.EDIT): S.IN_PROGRESS,
    (S.REJECTED, T.EDIT): S.REJECTED,
    (S.IN_PROGRESS, T.ANSWER): S.IN_PROGRESS,
    (S.IN_PROGRESS, T.AMEND_CREW): S.IN_PROGRESS,
    (S.REJECTED, T.AMEND_CREW): S.REJECTED,
    (S.APPROVED, T.VOID): S.APPROVED,
}


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("transition", list(T))
def test_every_pair(state: AssignmentState, transition: Transition) -> None:
    expected = ALLOWED.get((state, transition))
    if expected is not None:
        assert check_transition(state, transition) is expected
        return
    with pytest.raises(Conflict) as caught:
        check_transition(state, transition)
    assert caught.value.code == "invalid_transition"
    assert caught.value.details["state"] == state.value
    assert caught.value.details["action"] == transition.value


def test_nothing_leaves_approved_or_cancelled_but_a_void() -> None:
    for state in (S.APPROVED, S.CANCELLED):
        assert [t for t in T if (state, t) in ALLOWED] == ([T.VOID] if state is S.APPROVED else [])


def test_missing_signoffs_keep_crew_order() -> None:
    assert missing_signoffs(["c", "a", "b"], {"a": {"at": "x"}}) == ["c", "b"]
