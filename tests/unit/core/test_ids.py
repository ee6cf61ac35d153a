"""Identifiers: fresh ones, and ones derived from what names an object."""

from __future__ import annotations

import re

from prework.core.ids import derived_id, new_id

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_new_ids_are_fresh_32_hex_digits() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(HEX32.fullmatch(i) for i in ids)


def test_derived_ids_are_stable_and_tell_their_inputs_apart() -> None:
    one = derived_id("team", "org1", "user1", "key-1")
    assert HEX32.fullmatch(one)
    assert derived_id("team", "org1", "user1", "key-1") == one
    others = {
        derived_id("team", "org1", "user1", "key-2"),
        derived_id("team", "org2", "user1", "key-1"),
        derived_id("template", "org1", "user1", "key-1"),
        derived_id("team", "org1", "user1key-1"),  # no ambiguity across part boundaries
        derived_id("team", "org1user1", "key-1"),
    }
    assert one not in others
    assert len(others) == 5
