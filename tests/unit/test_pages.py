"""``page_answer``: a page of records answered as FastAPI answers ``Page[X].of(paged)``.

For random records (nested maps of every JSON kind, non-BMP text, big and
negative numbers, floats past the exact range, NaN), the bytes must be the ones
the route's response model gives; an item model outside the plain rule (an alias,
a validator, an enum of other values) is validated, and answers the same too; an
enum of text or whole numbers is plain (a member renders as its value either way).
"""

from __future__ import annotations

from enum import Enum, IntEnum, StrEnum
from typing import Any, NamedTuple

from fastapi._compat import ModelField
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.fields import FieldInfo

from prework.audit.schemas import AuditEventRead
from prework.audit.service import AuditEvent
from prework.core.paging import Paged
from prework.http.pages import _mirror, page_answer
from prework.http.schemas import Page


def _route_bytes(model: type[Page[Any]], paged: Paged[Any]) -> bytes:
    """What a route declaring ``model`` sends for ``model.of(paged)`` (FastAPI's field)."""
    field = ModelField(field_info=FieldInfo(annotation=model), name="Response")
    return field.serialize_json(model.of(paged), by_alias=True)


_text = st.text(st.characters(codec="utf-8"), max_size=12)  # non-BMP included
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _text
    | st.frozensets(_text, max_size=1),  # one: a set's order is its own
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_maybe = st.none() | _text
_events = st.builds(
    AuditEvent,
    _text, _text, _text, _text, _text, _text, _maybe, _maybe, _maybe,
    st.dictionaries(_text, _json, max_size=4), st.dictionaries(_text, _json, max_size=4),
    _maybe, _maybe, _maybe,
)  # fmt: skip

AuditPage = Page[AuditEventRead]


def test_the_audit_page_is_served_without_validation() -> None:
    assert _mirror(AuditPage) is not None


@settings(max_examples=100, deadline=None)
@given(events=st.lists(_events, max_size=6), cursor=_maybe)
def test_audit_pages_answer_as_the_route_model_does(
    events: list[AuditEvent], cursor: str | None
) -> None:
    paged = Paged(events, cursor)
    answer = page_answer(AuditPage, paged)
    assert answer.body == _route_bytes(AuditPage, paged)
    assert answer.media_type == "application/json"


def test_pages_of_json_kinds_and_of_others_answer_the_same() -> None:
    plain = AuditEvent(
        "e1", "o", "2026-01-01T00:00:00Z", "a", "success", "user", None, "t", "1",
        {"n": 2**63 - 1, "f": 0.1, "x": [1e16, -0.0, None, True, "\U0001f600"]},
        {}, None, None, None,
    )  # fmt: skip
    others = [  # values orjson refuses: pydantic renders them
        plain._replace(changes={"big": 2**64}),
        plain._replace(details={"bytes": b"raw"}),
        plain._replace(details={"set": frozenset({"a"})}),
    ]
    for events in ([plain], [plain, *others], *([plain, o] for o in others)):
        paged = Paged(events, "next")
        assert page_answer(AuditPage, paged).body == _route_bytes(AuditPage, paged)


class Colour(StrEnum):
    RED = "red"


class Size(IntEnum):
    SMALL = 1
    LARGE = 2


class Shape(Enum):  # a value neither text nor a whole number
    SQUARE = (1, 1)


class Record(NamedTuple):
    id: str
    colour: Colour
    n: int


class WithEnum(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    colour: Colour
    n: int


class WithSize(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    colour: Colour | None
    n: Size


class WithShape(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    colour: Shape
    n: int


class WithAlias(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str = Field(serialization_alias="ident")
    colour: str
    n: int


class WithValidator(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    colour: str
    n: int

    @field_validator("id")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class WithFloat(BaseModel):  # an int record value would become 1.0
    model_config = ConfigDict(from_attributes=True)
    id: str
    colour: str
    n: float


def test_enums_of_text_and_whole_numbers_are_plain_and_answer_as_the_route_model_does() -> None:
    paged = Paged([Record("a", Colour.RED, Size.SMALL), Record("b", None, Size.LARGE)], "next")  # type: ignore[arg-type]
    for model in (WithEnum, WithSize):
        page = Page[model]  # type: ignore[valid-type]
        assert _mirror(page) is not None, model
    one = Paged([Record("a", Colour.RED, 1)], None)
    assert page_answer(Page[WithEnum], one).body == _route_bytes(Page[WithEnum], one)
    assert page_answer(Page[WithSize], paged).body == _route_bytes(Page[WithSize], paged)
    assert page_answer(Page[WithSize], paged).body == (
        b'{"items":[{"id":"a","colour":"red","n":1},{"id":"b","colour":null,"n":2}],'
        b'"next_cursor":"next"}'
    )


def test_models_outside_the_rule_are_validated_and_answer_the_same() -> None:
    paged = Paged([Record("a", Colour.RED, 1), Record("b", Colour.RED, 2)], "next")
    shapes = Paged([Record("a", Shape.SQUARE, 1)], None)  # type: ignore[arg-type]
    assert _mirror(Page[WithShape]) is None
    assert page_answer(Page[WithShape], shapes).body == _route_bytes(Page[WithShape], shapes)
    for model in (WithAlias, WithValidator, WithFloat):
        page = Page[model]  # type: ignore[valid-type]
        assert _mirror(page) is None, model
        assert page_answer(page, paged).body == _route_bytes(page, paged), model
    assert b'"ident":"a"' in page_answer(Page[WithAlias], paged).body
    assert b'"id":"A"' in page_answer(Page[WithValidator], paged).body
    assert b'"n":1.0' in page_answer(Page[WithFloat], paged).body
