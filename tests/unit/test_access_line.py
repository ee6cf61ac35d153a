"""The access line's cheap pieces give what the library calls they replace gave:
a new request id is a uuid4 hex, the timestamp is structlog's ISO form."""

from __future__ import annotations

import datetime
import os
import random
import re
import uuid

import pytest

from prework.http.middleware import new_request_id
from prework.logging import utc_timestamp


def test_a_new_request_id_is_uuid4_hex_of_the_same_random_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draw = random.Random(8)
    for raw in [draw.randbytes(16) for _ in range(2000)] + [b"\x00" * 16, b"\xff" * 16]:
        monkeypatch.setattr(os, "urandom", lambda n, raw=raw: raw[:n])
        assert new_request_id() == uuid.UUID(bytes=raw, version=4).hex


def test_new_request_ids_are_random_uuid4s() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    for value in ids:
        assert re.fullmatch(r"[0-9a-f]{32}", value)
        parsed = uuid.UUID(hex=value)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    "ns",
    [
        0,
        999,  # below a microsecond: no fraction, as isoformat writes it
        1_000,
        1_764_640_000_000_000_000,  # a whole second
        1_764_640_000_999_999_999,
        1_764_640_001_000_001_000,
        253_402_300_799_999_999_000,  # 9999-12-31T23:59:59.999999
    ],
)
def test_the_timestamp_is_structlogs_iso_form(ns: int) -> None:
    moment = _EPOCH + datetime.timedelta(microseconds=ns // 1000)
    assert utc_timestamp(ns) == moment.isoformat().replace("+00:00", "Z")


def test_the_timestamp_is_now() -> None:
    before = datetime.datetime.now(datetime.UTC)
    stamp = utc_timestamp()
    after = datetime.datetime.now(datetime.UTC)
    assert stamp.endswith("Z")
    assert before <= datetime.datetime.fromisoformat(stamp) <= after
    # within the same second, then in the next: each rendered from its own second
    assert utc_timestamp(1_764_640_000_500_000_000) == "2025-12-02T01:46:40.500000Z"
    assert utc_timestamp(1_764_640_001_500_000_000) == "2025-12-02T01:46:41.500000Z"
