"""Whole numbers as DynamoDB takes them: at most 38 significant digits (trailing
zeros are not significant), a magnitude below 1e126; anything else is refused with
``invalid_value``, never another error (ints past 4,300 digits included)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prework.errors import ValidationFailed
from prework.store.codec import to_av

_wholes = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**45), max_value=10**45),
    st.builds(
        lambda digits, zeros: digits * 10**zeros,
        st.integers(min_value=-(10**40), max_value=10**40),
        st.integers(min_value=0, max_value=140),
    ),
)


def _takes(value: int) -> bool:
    significant = str(abs(value)).rstrip("0")
    return len(significant) <= 38 and abs(value) < 10**126


def _check(value: int) -> None:
    if _takes(value):
        assert to_av(value) == {"N": str(value)}
    else:
        with pytest.raises(ValidationFailed) as caught:
            to_av(value)
        assert caught.value.code == "invalid_value"


@settings(max_examples=500)
@given(value=_wholes)
def test_whole_numbers_are_taken_by_the_rules(value: int) -> None:
    _check(value)


@pytest.mark.parametrize(
    "value", [99 * 10**124, -(2**418), 2**418 + 1, 10**126 - 10**88, 10**126, 2**419]
)
def test_whole_numbers_near_1e126(value: int) -> None:  # ints of about 419 bits
    _check(value)


@pytest.mark.parametrize(
    "value", [10**5000, -(10**5000) - 7, 2**20_000], ids=["1e5000", "-1e5000", "2^20000"]
)
def test_ints_past_str_limits_are_refused_as_values(value: int) -> None:
    with pytest.raises(ValidationFailed):
        to_av(value)
