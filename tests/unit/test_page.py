"""``Page[X].of``: a service's page of records as the page of read models, in one call.

It must give what building each item with ``X.of`` (``model_validate`` of the
record) gave: the same models, the same JSON, the same validation errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from prework.core.paging import Paged
from prework.http.schemas import Page


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    colour: Colour
    size: int
    note: str | None
    extra: dict[str, Any]
    hidden: str = "not in the read model"


class Event(NamedTuple):
    id: str
    colour: Colour
    size: int
    note: str | None
    extra: dict[str, Any]


class ThingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    colour: Colour
    size: int
    note: str | None
    extra: dict[str, Any]

    @classmethod
    def of(cls, record: Record | Event) -> ThingRead:
        return cls.model_validate(record)


RECORDS = [
    Record("a", Colour.RED, 1, None, {}),
    Record("b", Colour.BLUE, 2, "x", {"k": [1, {"n": None}]}),
]


def _astuple(record: Record) -> tuple[Any, ...]:
    return (record.id, record.colour, record.size, record.note, record.extra)


@pytest.mark.parametrize("records", [RECORDS, [Event(*_astuple(r)) for r in RECORDS]])
@pytest.mark.parametrize("cursor", [None, "next"])
def test_the_same_page_as_one_model_per_item(records: list[Any], cursor: str | None) -> None:
    paged = Paged(records, cursor)
    one_by_one = Page[ThingRead](items=[ThingRead.of(r) for r in records], next_cursor=cursor)
    built = Page[ThingRead].of(paged)
    assert type(built) is Page[ThingRead]
    assert all(type(item) is ThingRead for item in built.items)
    assert built == one_by_one
    assert built.model_fields_set == one_by_one.model_fields_set
    assert [i.model_fields_set for i in built.items] == [
        i.model_fields_set for i in one_by_one.items
    ]
    assert built.model_dump_json() == one_by_one.model_dump_json()


def test_an_empty_page() -> None:
    built = Page[ThingRead].of(Paged([], None))
    assert built.model_dump_json() == '{"items":[],"next_cursor":null}'


def test_a_record_of_the_wrong_shape_is_still_refused() -> None:
    @dataclass
    class Broken:
        id: str
        colour: str
        size: str

    with pytest.raises(ValidationError) as caught:
        Page[ThingRead].of(Paged([Broken("a", "green", "many")], None))
    assert {(e["loc"], e["type"]) for e in caught.value.errors()} == {
        (("items", 0, "colour"), "enum"),
        (("items", 0, "size"), "int_parsing"),
        (("items", 0, "note"), "missing"),
        (("items", 0, "extra"), "missing"),
    }
