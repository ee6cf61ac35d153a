"""The comparison the differential tests rely on: JSON as JavaScript sees it."""

from __future__ import annotations

import math

from tests.differential.json_compare import difference, float_tolerance, same


def test_numbers_are_doubles_and_a_bool_is_no_number() -> None:
    assert same(1, 1.0)
    assert same(-0.0, 0)
    assert same({"a": [1, 2.5]}, {"a": [1.0, 2.5]})
    assert difference(True, 1) == ((), True, 1)
    assert difference([0], [False]) == ((0,), 0, False)
    assert difference(None, 0) == ((), None, 0)


def test_the_first_difference_is_located() -> None:
    assert difference({"a": [1, {"b": "x"}]}, {"a": [1, {"b": "y"}]}) == (("a", 1, "b"), "x", "y")
    assert difference({"a": 1}, {"a": 1, "b": 2}) == ((), {"a": 1}, {"a": 1, "b": 2})
    assert difference([1, 2], [1]) == ((), [1, 2], [1])
    assert difference("\ud83d", "\ud83d") is None  # a lone surrogate, as JavaScript may give
    assert difference("\ud83d", "\ud83e") == ((), "\ud83d", "\ud83e")


def test_numbers_differ_by_the_tolerance_only_when_one_is_given() -> None:
    x, y = 0.1 + 0.7 + 1, 0.1 + (0.7 + 1)
    assert x != y
    assert not same(x, y)
    assert same(
        x,
        y,
        tolerance=float_tolerance({"n": 0.1}, [{"p": ["n"], "na": 0.7}, {"p": ["n"], "na": 1}]),
    )
    assert not same(1.8, 1.9, tolerance=1e-15)


def test_the_rounding_bound_is_zero_for_ints_and_tight_for_fractions() -> None:
    assert float_tolerance({"n": 1}, [{"p": ["n"], "na": 2}], [{"p": ["n"], "na": -5}]) == 0
    assert float_tolerance({"n": 0.5}, [{"p": ["x"], "oi": 1}]) == 0  # no add at all
    bound = float_tolerance({"n": 1}, [{"p": ["n"], "na": 0.5}], [{"p": ["n"], "na": 2}])
    assert bound == 3 * math.ulp(3.5)
    # a number inserted by an op counts towards the magnitude
    assert float_tolerance({}, [{"p": ["n"], "oi": 1e6}, {"p": ["n"], "na": 0.1}]) == 2 * math.ulp(
        1e6 + 0.1
    )
