"""The pure rules of answers: saving, submitting, scoring, comparing (whether work
may start is :mod:`prework.checklists.clearance`).

No I/O, no store, no clock: every time is passed in. A *definition* here is a
template version's stored definition (it passed ``definition_problems`` and the
schema; fields at their default may be absent, and the defaults of
``docs/templates.md`` apply). The answers document the crew saves is::

    {"answers": {item_id: {"value": <json>, "by": user_id, "at": iso_time}},
     "signoffs": {user_id: {"at": iso_time}}}

* :func:`value_problems` -- the rules of a **save** (partial): each given value is
  a valid answer of a known, answerable item (``None`` removes an answer).
* :func:`evaluate` -- the rules of a **submit**: visibility (answers of hidden items
  are cleared, in document order, so a chain of conditions hides transitively),
  every value problem, ``required`` and the minimum counts, the failed critical
  items and the score.
* :func:`condition_holds` -- the condition semantics (``visible_when``, ``fail_when``).
* :func:`diff_answers` -- what changed between two submissions.

**No answer.** An item is *unanswered* when its answer is absent or ``None``, an
empty list (multiple choice, photo), or text of only whitespace; everywhere
(required, conditions, score) such an answer counts as none.

**Conditions on no answer.** Every comparison (``equals``, ``not_equals``,
``any_of``, ``in_range``, ``outside_range``) is false when the compared item is
unanswered: ``not_equals`` holds only for an answer that differs, ``outside_range``
only for a number outside the range. Comparisons are type-strict (``true`` is not
``1``; ``1`` is ``1.0``). A multiple choice ``equals`` / ``any_of`` when it
*includes* the value(s), ``not_equals`` when it does not include the value.

**Score.** Over visible, weighted items with a valid answer other than ``"na"``:
``score_weight`` is the sum of their weights, ``passed_weight`` the sum of those
whose answer passes, ``score = passed_weight / score_weight`` (0..1), ``None``
when ``score_weight`` is 0. An answer *passes* unless it meets its item's
``fail_when`` (only critical items have one, so an answered weighted item without
``fail_when`` always passes).
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

__all__ = [
    "ITEM_CODES",
    "MISSING",
    "NUMBER_BOUND",
    "Evaluation",
    "ItemProblem",
    "condition_holds",
    "diff_answers",
    "evaluate",
    "media_uses",
    "value_problems",
]

# every code an ItemProblem carries
ITEM_CODES: Final = frozenset(
    {
        "unknown_item",  # no item of the definition has this id
        "not_answerable",  # an instruction item
        "invalid_entry",  # a stored answer entry that is not an object {value, by, at}
        "wrong_type",  # the value is not of the item's answer type
        "too_long",  # text over max_length characters
        "invalid_text",  # text with a control character (or a newline, not multiline)
        "out_of_range",  # a number outside min..max (or past +-10^15)
        "too_precise",  # a number with more decimal places than `decimals`
        "not_a_choice",  # not one of the choice values (or yes/no/na; na not allowed)
        "duplicate_choice",  # a multiple choice repeats a value
        "too_many_selected",  # more than max_selected
        "too_few_selected",  # (submit) an answered multiple choice under min_selected
        "invalid_date",  # not a real YYYY-MM-DD date
        "invalid_time",  # not HH:MM, 00:00..23:59
        "invalid_media_id",  # a photo / signature that is not 32 lowercase hex digits
        "duplicate_media_id",  # a photo list repeats a media id
        "too_many_photos",  # more than max_count
        "too_few_photos",  # (submit) some photos, fewer than min_count
        "required",  # (submit) a visible required item without an answer
        # a photo / signature naming a file it may not (prework.media.lookup)
        "media_not_found",  # no such file of this assignment
        "media_not_ready",  # pending, rejected or deleted
        "media_wrong_purpose",  # a signature's file as a photo, or the other way
    }
)

# a number answer's bound when the item sets none (the bound of a template's numbers)
NUMBER_BOUND: Final = 1e15


class _Missing:
    """The marker of "no value given" (distinct from ``None``)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

_MEDIA_ID = re.compile(r"[0-9a-f]{32}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")
# C0 controls but tab and newline, and lone surrogates (not encodable: never storable)
_BAD_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\ud800-\udfff]")
_BAD_LINE = re.compile(r"[\x00-\x08\x0a-\x1f\ud800-\udfff]")  # ... and newline
_YES_NO: Final = ("yes", "no")
_YES_NO_NA: Final = ("yes", "no", "na")
_GROUP_OPS: Final = frozenset({"all", "any"})


# --------------------------------------------------------------------------- problems
@dataclass(frozen=True, slots=True)
class ItemProblem:
    """One problem with one answer: the item's id, a stable code (see
    :data:`ITEM_CODES`) and a human message (never the answer itself)."""

    item_id: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"item_id": self.item_id, "code": self.code, "message": self.message}


def _items(definition: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every item of ``definition``, in document order (across sections)."""
    for section in definition.get("sections") or ():
        yield from section.get("items") or ()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _decimal_places(value: int | float) -> int:
    """Decimal places ``value`` is written with (``1.10`` -> 1, ``100.0`` -> 0)."""
    if isinstance(value, int):
        return 0
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _choice_values(item: Mapping[str, Any]) -> set[str]:
    return {str(c.get("value")) for c in item.get("choices") or ()}


def _value_problem(item: Mapping[str, Any], value: Any) -> tuple[str, str] | None:
    """Why ``value`` (not None) is not a valid answer of ``item``: (code, message)."""
    kind = item.get("type")
    if kind == "checkbox":
        return (
            None
            if isinstance(value, bool)
            else ("wrong_type", "a checkbox answer is true or false")
        )
    if kind == "yes_no_na":
        allowed = _YES_NO_NA if item.get("allow_na", True) else _YES_NO
        if not isinstance(value, str):
            return "wrong_type", f"the answer is one of {', '.join(allowed)}"
        if value not in allowed:
            return "not_a_choice", f"the answer is one of {', '.join(allowed)}"
        return None
    if kind == "text":
        return _text_problem(item, value)
    if kind == "number":
        return _number_problem(item, value)
    if kind == "single_choice":
        if not isinstance(value, str):
            return "wrong_type", "a single choice answer is one choice value"
        return None if value in _choice_values(item) else ("not_a_choice", "not a choice")
    if kind == "multiple_choice":
        return _multiple_problem(item, value)
    if kind == "date":
        if not isinstance(value, str):
            return "wrong_type", "a date answer is text YYYY-MM-DD"
        if _DATE.fullmatch(value) is None:
            return "invalid_date", "a date is written YYYY-MM-DD"
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            return "invalid_date", "not a real date"
        return None
    if kind == "time":
        if not isinstance(value, str):
            return "wrong_type", "a time answer is text HH:MM"
        return None if _TIME.fullmatch(value) else ("invalid_time", "a time is HH:MM, 00:00..23:59")
    if kind == "photo":
        return _photo_problem(item, value)
    if kind == "signature":
        if not isinstance(value, str):
            return "wrong_type", "a signature answer is one media id"
        if _MEDIA_ID.fullmatch(value) is None:
            return "invalid_media_id", "a media id is 32 lowercase hex digits"
        return None
    return "not_answerable", "this item takes no answer"


def _text_problem(item: Mapping[str, Any], value: Any) -> tuple[str, str] | None:
    if not isinstance(value, str):
        return "wrong_type", "a text answer is text"
    max_length = item.get("max_length", 2000)
    if len(value) > max_length:
        return "too_long", f"at most {max_length} characters"
    multiline = item.get("multiline", False)
    if (_BAD_TEXT if multiline else _BAD_LINE).search(value):
        if multiline:
            return "invalid_text", "no control characters (but tab and newline)"
        return "invalid_text", "one line, no control characters (but tab)"
    return None


def _number_problem(item: Mapping[str, Any], value: Any) -> tuple[str, str] | None:
    if not _is_number(value):
        return "wrong_type", "a number answer is a number"
    if isinstance(value, float) and not math.isfinite(value):
        return "wrong_type", "a number answer is a finite number"
    lo, hi = item.get("min"), item.get("max")
    lo = -NUMBER_BOUND if lo is None else lo
    hi = NUMBER_BOUND if hi is None else hi
    if not lo <= value <= hi:
        return "out_of_range", f"between {lo:g} and {hi:g}"
    decimals = item.get("decimals", 0)
    if _decimal_places(value) > decimals:
        return "too_precise", f"at most {decimals} decimal places"
    return None


def _multiple_problem(item: Mapping[str, Any], value: Any) -> tuple[str, str] | None:
    if not isinstance(value, list):
        return "wrong_type", "a multiple choice answer is a list of choice values"
    choices = _choice_values(item)
    seen: set[str] = set()
    for chosen in value:
        if not isinstance(chosen, str) or chosen not in choices:
            return "not_a_choice", "not a choice"
        if chosen in seen:
            return "duplicate_choice", "a choice is selected twice"
        seen.add(chosen)
    hi = item.get("max_selected")
    if hi is not None and len(value) > hi:
        return "too_many_selected", f"at most {hi} selected"
    return None


def _photo_problem(item: Mapping[str, Any], value: Any) -> tuple[str, str] | None:
    if not isinstance(value, list):
        return "wrong_type", "a photo answer is a list of media ids"
    seen: set[str] = set()
    for media_id in value:
        if not isinstance(media_id, str) or _MEDIA_ID.fullmatch(media_id) is None:
            return "invalid_media_id", "a media id is 32 lowercase hex digits"
        if media_id in seen:
            return "duplicate_media_id", "a photo is listed twice"
        seen.add(media_id)
    hi = item.get("max_count", 5)
    if len(value) > hi:
        return "too_many_photos", f"at most {hi} photos"
    return None


def _answered(value: Any) -> bool:
    """Whether ``value`` is an answer (see "No answer" in the module's docstring)."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, list):
        return bool(value)
    if isinstance(value, str):
        return bool(value.strip())
    return True


def value_problems(definition: Mapping[str, Any], values: Mapping[str, Any]) -> list[ItemProblem]:
    """Every problem of a **save** of ``values`` ({item_id: value}).

    In document order, then the unknown item ids (sorted): ``unknown_item``;
    ``not_answerable`` for an instruction item (whatever the value); for every
    other value the first rule it breaks (type, length, text, range, decimals,
    choices, date / time format, media ids, the photo maximum). ``None`` removes
    an answer and is always fine for a known answerable item. Required items,
    visibility and the minimum counts are submit rules (:func:`evaluate`).
    """
    problems: list[ItemProblem] = []
    known: set[str] = set()
    for item in _items(definition):
        item_id = str(item.get("id"))
        known.add(item_id)
        if item_id not in values:
            continue
        value = values[item_id]
        if item.get("type") == "instruction":
            problems.append(
                ItemProblem(item_id, "not_answerable", "an instruction takes no answer")
            )
        elif value is not None:
            found = _value_problem(item, value)
            if found is not None:
                problems.append(ItemProblem(item_id, *found))
    problems.extend(
        ItemProblem(str(item_id), "unknown_item", "no item of the checklist has this id")
        for item_id in sorted(map(str, values))
        if item_id not in known
    )
    return problems


# --------------------------------------------------------------------------- conditions
def _same_scalar(a: Any, b: Any) -> bool | None:
    """Type-strict equality of two JSON scalars (None: both are containers)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return None if len(a) == len(b) else False
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return None if a.keys() == b.keys() else False
    return a is None and b is None


def _same(a: Any, b: Any) -> bool:
    """JSON equality, type-strict: booleans equal only booleans, numbers compare by
    value (``1`` is ``1.0``); iterative, so any nesting depth is fine."""
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        same = _same_scalar(x, y)
        if same is False:
            return False
        if same is None:
            pending.extend(
                zip(x, y, strict=True) if isinstance(x, list) else ((x[k], y[k]) for k in x)
            )
    return True


def _includes(answer: Any, target: Any) -> bool:
    """``answer`` is ``target`` (a list answer, a multiple choice: includes it)."""
    if isinstance(answer, list):
        return any(_same(chosen, target) for chosen in answer)
    return _same(answer, target)


def _in_range(value: Any, cond: Mapping[str, Any]) -> bool:
    lo, hi = cond.get("min"), cond.get("max")
    return (lo is None or lo <= value) and (hi is None or value <= hi)


def condition_holds(
    cond: Mapping[str, Any], answers_by_id: Mapping[str, Any], *, own_value: Any = MISSING
) -> bool:
    """Whether ``cond`` holds on the answer values ``answers_by_id`` ({item_id: value}).

    A comparison without ``item`` (a ``fail_when``) compares ``own_value``. See the
    module's docstring for the semantics of no answer, type-strict equality and
    multiple choices. Never raises on any JSON value.
    """
    op = cond.get("op")
    if op in _GROUP_OPS:
        results = (
            condition_holds(sub, answers_by_id, own_value=own_value)
            for sub in cond.get("conditions") or ()
        )
        return all(results) if op == "all" else any(results)
    ref = cond.get("item")
    value = own_value if ref is None else answers_by_id.get(ref, MISSING)
    if not _answered(value):
        return False
    if op == "equals":
        return _includes(value, cond.get("value"))
    if op == "not_equals":
        return not _includes(value, cond.get("value"))
    if op == "any_of":
        return any(_includes(value, target) for target in cond.get("values") or ())
    if op in ("in_range", "outside_range"):
        if not _is_number(value) or not math.isfinite(value):
            return False
        return _in_range(value, cond) is (op == "in_range")
    return False


# --------------------------------------------------------------------------- submit
@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of :func:`evaluate`."""

    answers: dict[str, Any]  # the kept answer entries (the input's, hidden ones removed)
    cleared: tuple[str, ...]  # ids of answers removed because their item is hidden
    visible: frozenset[str]  # ids of the visible answerable items
    problems: tuple[ItemProblem, ...]  # every problem at once, document order
    failed_critical: tuple[str, ...]  # visible critical items whose answer fails fail_when
    score: float | None  # passed_weight / score_weight; None when score_weight is 0
    score_weight: float  # weights of visible, weighted items with a valid non-"na" answer
    passed_weight: float  # ... of those whose answer passes

    @property
    def ok(self) -> bool:
        """Whether the answers may be submitted (no problem)."""
        return not self.problems


def _count_problem(item: Mapping[str, Any], value: Any) -> tuple[str, str] | None:
    """The submit rules of a valid answer: required, and the minimum counts."""
    kind = item.get("type")
    if not _answered(value):
        return ("required", "an answer is required") if item.get("required") else None
    if kind == "multiple_choice":
        lo = item.get("min_selected") or 0
        if len(value) < lo:
            return "too_few_selected", f"at least {lo} selected"
    elif kind == "photo":
        lo = item.get("min_count", 0)
        if len(value) < lo:
            return "too_few_photos", f"at least {lo} photos"
    return None


def evaluate(definition: Mapping[str, Any], answers: Mapping[str, Mapping[str, Any]]) -> Evaluation:
    """The rules of a **submit** of the stored answer entries ``answers``
    ({item_id: {"value", "by", "at"}}).

    Items are walked in document order; an item is visible when it has no
    ``visible_when`` or its condition holds on the answers kept so far, so the
    answer of a hidden item is cleared before any later condition looks at it.
    Problems (document order, then unknown ids sorted): every value problem of a
    visible item's answer (as :func:`value_problems`), ``unknown_item``,
    ``not_answerable``, ``invalid_entry``; then for a visible item with a valid
    answer, ``required`` when it has none, ``too_few_selected`` / ``too_few_photos``
    for some but fewer than the minimum. ``failed_critical`` and the score count
    the valid answers of visible items. Never raises on any JSON for a valid
    definition.
    """
    kept: dict[str, Any] = {}
    kept_values: dict[str, Any] = {}
    cleared: list[str] = []
    visible: set[str] = set()
    problems: list[ItemProblem] = []
    failed: list[str] = []
    score_weight = passed_weight = 0.0
    known: set[str] = set()
    for item in _items(definition):
        item_id = str(item.get("id"))
        known.add(item_id)
        entry = answers.get(item_id, MISSING)
        if item.get("type") == "instruction":
            if entry is not MISSING:
                problems.append(
                    ItemProblem(item_id, "not_answerable", "an instruction takes no answer")
                )
                kept[item_id] = entry
            continue
        condition = item.get("visible_when")
        if condition is not None and not condition_holds(condition, kept_values):
            if entry is not MISSING:
                cleared.append(item_id)
            continue
        visible.add(item_id)
        value: Any = None
        if entry is not MISSING:
            kept[item_id] = entry
            if not isinstance(entry, Mapping):
                problems.append(
                    ItemProblem(item_id, "invalid_entry", "an answer entry is {value, by, at}")
                )
                continue
            value = entry.get("value")
        found = None if value is None else _value_problem(item, value)
        if found is not None:
            problems.append(ItemProblem(item_id, *found))
            continue
        kept_values[item_id] = value
        found = _count_problem(item, value)
        if found is not None:
            problems.append(ItemProblem(item_id, *found))
        if not _answered(value):
            continue
        fails = item.get("critical", False) and condition_holds(
            item.get("fail_when") or {}, kept_values, own_value=value
        )
        if fails:
            failed.append(item_id)
        weight = item.get("weight")
        if weight is not None and not (item.get("type") == "yes_no_na" and value == "na"):
            score_weight += weight
            if not fails:
                passed_weight += weight
    for item_id in sorted(map(str, answers)):
        if item_id not in known:
            problems.append(
                ItemProblem(item_id, "unknown_item", "no item of the checklist has this id")
            )
            kept[item_id] = answers[item_id]
    return Evaluation(
        answers=kept,
        cleared=tuple(cleared),
        visible=frozenset(visible),
        problems=tuple(problems),
        failed_critical=tuple(failed),
        score=passed_weight / score_weight if score_weight > 0 else None,
        score_weight=score_weight,
        passed_weight=passed_weight,
    )


def media_uses(
    definition: Mapping[str, Any], values: Mapping[str, Any]
) -> dict[str, tuple[str, list[str]]]:
    """The files the valid photo and signature answers among ``values``
    ({item_id: value}) name: ``{item_id: (kind, [media id, ...])}``."""
    uses: dict[str, tuple[str, list[str]]] = {}
    for item in _items(definition):
        item_id = str(item.get("id"))
        kind = item.get("type")
        value = values.get(item_id)
        if kind not in ("photo", "signature") or value is None:
            continue
        if _value_problem(item, value) is not None:
            continue
        ids = [value] if kind == "signature" else list(value)
        if ids:
            uses[item_id] = (str(kind), ids)
    return uses


def _entry_value(entry: Any) -> Any:
    return entry.get("value") if isinstance(entry, Mapping) else None


def diff_answers(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> dict[str, list[str]]:
    """What changed from the answers ``old`` to ``new`` (entries {value, by, at}):
    ``{"added": [...], "removed": [...], "changed": [...]}``, item ids sorted.
    Values are compared (type-strict JSON equality); who and when are not, and an
    entry whose value is ``None`` counts as no answer."""
    before = {k: v for k, v in ((k, _entry_value(e)) for k, e in old.items()) if v is not None}
    after = {k: v for k, v in ((k, _entry_value(e)) for k, e in new.items()) if v is not None}
    return {
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "changed": sorted(
            k for k in before.keys() & after.keys() if not _same(before[k], after[k])
        ),
    }
