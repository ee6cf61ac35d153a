"""Request and response models of the template routes, and the template JSON schema.

The definition's *shape* lives here (types, lengths, per-list caps: every bound
is explicit, so a body's worst case is known; see ``docs/templates.md``); the
rules a shape cannot say are :func:`prework.checklists.models.definition_problems`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from prework.checklists.models import LIMITS, Template, TemplateStatus, TemplateVersion
from prework.http.schemas import Name, ShortText, Strict, Version

__all__ = [
    "EXPORT_FORMAT",
    "SCHEMA_VERSION",
    "Definition",
    "TemplateCreate",
    "TemplateExport",
    "TemplateRead",
    "TemplateSummary",
    "TemplateUpdate",
    "TemplateVersionRead",
]

EXPORT_FORMAT: Final = "prework.template"
SCHEMA_VERSION: Final = 1

# control characters but newline, line/paragraph separators, bidi controls, BOM
_HIDDEN = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def _long_text(value: str) -> str:
    if _HIDDEN.search(value):
        raise ValueError("holds a control or invisible formatting character")
    return value


def _capped(limit: int) -> BeforeValidator:
    """Refuse a list over ``limit`` before validating any element (a 10,000-item list
    is refused in microseconds, not after validating every item)."""

    def check(value: Any) -> Any:
        if isinstance(value, list) and len(value) > limit:
            raise PydanticCustomError(
                "too_long", "List should have at most {max} items", {"max": limit}
            )
        return value

    return BeforeValidator(check)


ItemId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"),
    Field(description="Unique in the template: 1..64 of A-Z a-z 0-9 _ . - (not first)."),
]
Label = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=LIMITS.label_chars),
    AfterValidator(_long_text),
]
HelpText = Annotated[
    str, StringConstraints(min_length=1, max_length=LIMITS.help_chars), AfterValidator(_long_text)
]
InstructionText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=LIMITS.instruction_chars),
    AfterValidator(_long_text),
]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-1e15, le=1e15)]
ChoiceValue = Annotated[str, StringConstraints(min_length=1, max_length=120)]
# what a comparison compares an answer with (bool first: JSON true is no number)
Value = Annotated[
    StrictBool | Number | Annotated[str, StringConstraints(max_length=LIMITS.text_max_length)],
    Field(union_mode="left_to_right"),
]


# --------------------------------------------------------------------------- conditions
class ValueCondition(Strict):
    """The answer equals / does not equal ``value`` (a multiple choice: includes it)."""

    op: Literal["equals", "not_equals"]
    item: ItemId | None = Field(default=None, description="An earlier item (not in fail_when).")
    value: Value


class AnyOfCondition(Strict):
    """The answer is one of ``values`` (a multiple choice: includes one of them)."""

    op: Literal["any_of"]
    item: ItemId | None = None
    values: Annotated[list[Value], _capped(LIMITS.condition_values)] = Field(
        min_length=1, max_length=LIMITS.condition_values
    )


class RangeCondition(Strict):
    """A number answer within (or outside) ``min``..``max``, bounds included."""

    op: Literal["in_range", "outside_range"]
    item: ItemId | None = None
    min: Number | None = None
    max: Number | None = None


class GroupCondition(Strict):
    """All (or any) of ``conditions`` hold."""

    op: Literal["all", "any"]
    conditions: Annotated[list[Condition], _capped(LIMITS.condition_nodes_per_item)] = Field(
        min_length=1, max_length=LIMITS.condition_nodes_per_item
    )


Condition = Annotated[
    ValueCondition | AnyOfCondition | RangeCondition | GroupCondition,
    Field(discriminator="op"),
]


# --------------------------------------------------------------------------- items
class _ItemBase(Strict):
    id: ItemId
    label: Label
    help: HelpText | None = None
    required: StrictBool = False
    critical: StrictBool = Field(
        default=False, description="A failing answer flags the submission."
    )
    fail_when: Condition | None = Field(
        default=None, description="When the item's own answer fails (critical items)."
    )
    weight: Annotated[float, Field(strict=True, ge=0, le=1000, allow_inf_nan=False)] | None = Field(
        default=None, description="Score weight; unweighted items are not scored."
    )
    visible_when: Condition | None = Field(
        default=None, description="Shown only when this holds (earlier items only)."
    )


class CheckboxItem(_ItemBase):
    type: Literal["checkbox"]


class YesNoItem(_ItemBase):
    type: Literal["yes_no_na"]
    allow_na: StrictBool = True


class TextItem(_ItemBase):
    type: Literal["text"]
    max_length: int = Field(default=2000, ge=1, le=LIMITS.text_max_length, strict=True)
    multiline: StrictBool = False


class NumberItem(_ItemBase):
    type: Literal["number"]
    min: Number | None = None
    max: Number | None = None
    unit: Annotated[str, StringConstraints(min_length=1, max_length=20)] | None = None
    decimals: int = Field(default=0, ge=0, le=6, strict=True)


class Choice(Strict):
    value: ChoiceValue
    label: Label


class SingleChoiceItem(_ItemBase):
    type: Literal["single_choice"]
    choices: Annotated[list[Choice], _capped(LIMITS.choices_per_item)] = Field(
        max_length=LIMITS.choices_per_item
    )


class MultipleChoiceItem(_ItemBase):
    type: Literal["multiple_choice"]
    choices: Annotated[list[Choice], _capped(LIMITS.choices_per_item)] = Field(
        max_length=LIMITS.choices_per_item
    )
    min_selected: int | None = Field(default=None, ge=0, le=LIMITS.choices_per_item, strict=True)
    max_selected: int | None = Field(default=None, ge=1, le=LIMITS.choices_per_item, strict=True)


class DateItem(_ItemBase):
    type: Literal["date"]


class TimeItem(_ItemBase):
    type: Literal["time"]


class PhotoItem(_ItemBase):
    type: Literal["photo"]
    min_count: int = Field(default=0, ge=0, le=LIMITS.photos, strict=True)
    max_count: int = Field(default=5, ge=0, le=LIMITS.photos, strict=True)


class SignatureItem(_ItemBase):
    type: Literal["signature"]


class InstructionItem(_ItemBase):
    type: Literal["instruction"]
    text: InstructionText


Item = Annotated[
    CheckboxItem
    | YesNoItem
    | TextItem
    | NumberItem
    | SingleChoiceItem
    | MultipleChoiceItem
    | DateItem
    | TimeItem
    | PhotoItem
    | SignatureItem
    | InstructionItem,
    Field(discriminator="type"),
]


class Section(Strict):
    id: ItemId
    title: Label
    items: Annotated[list[Item], _capped(LIMITS.items)] = Field(max_length=LIMITS.items)


class RequiredCertification(Strict):
    name: ShortText = Field(description="Matched case-folded against verified certifications.")


def _bounded_definition(value: Any) -> Any:
    """The template-wide caps on items and choices, counted before anything is
    validated (each item costs microseconds to validate: a body of 20 sections of
    500 items is refused at once instead of after validating 10,000 of them)."""
    if not isinstance(value, dict) or not isinstance(value.get("sections"), list):
        return value
    sections = [s for s in value["sections"] if isinstance(s, dict)]
    items = [i for s in sections if isinstance(s.get("items"), list) for i in s["items"]]
    if len(items) > LIMITS.items:
        raise PydanticCustomError(
            "too_many_items", "At most {max} items in a template", {"max": LIMITS.items}
        )
    choices = sum(
        len(i["choices"])
        for i in items
        if isinstance(i, dict) and isinstance(i.get("choices"), list)
    )
    if choices > LIMITS.choices:
        raise PydanticCustomError(
            "too_many_choices", "At most {max} choices in a template", {"max": LIMITS.choices}
        )
    return value


class Definition(Strict):
    """A template's content: sections of items, and the qualifications a crew needs."""

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return _bounded_definition(value)

    sections: Annotated[list[Section], _capped(LIMITS.sections)] = Field(
        min_length=1, max_length=LIMITS.sections
    )
    required_certifications: list[RequiredCertification] = Field(
        default_factory=list, max_length=LIMITS.certifications
    )
    clearance_valid_days: int = Field(
        default=1,
        ge=1,
        le=LIMITS.clearance_valid_days,
        description="How many days, from the job's planned date (in the organization's "
        "time zone), an approved checklist clears the crew to start work",
    )

    def stored(self) -> dict[str, Any]:
        """The definition as stored (JSON form, defaults included)."""
        return self.model_dump(mode="json", exclude_none=True)


_EXAMPLE: dict[str, Any] = {
    "sections": [
        {
            "id": "isolation",
            "title": "Isolation",
            "items": [
                {
                    "id": "isolated",
                    "type": "yes_no_na",
                    "label": "Isolation verified",
                    "required": True,
                    "critical": True,
                    "fail_when": {"op": "equals", "value": "no"},
                    "weight": 5,
                },
                {
                    "id": "gas",
                    "type": "number",
                    "label": "O2 reading",
                    "unit": "%",
                    "decimals": 1,
                    "min": 0,
                    "max": 100,
                    "critical": True,
                    "fail_when": {"op": "outside_range", "min": 19.5, "max": 23.5},
                    "visible_when": {"op": "equals", "item": "isolated", "value": "yes"},
                },
            ],
        }
    ],
    "required_certifications": [{"name": "Confined space entry"}],
}


class TemplateCreate(Strict):
    name: Name
    description: HelpText | None = None
    definition: Definition

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Confined space entry", "definition": _EXAMPLE}]},
    )


class TemplateUpdate(Strict):
    """Fields to change in the draft (a definition replaces the whole draft)."""

    name: Name | None = None
    description: HelpText | None = None
    definition: Definition | None = None
    version: Version = None


class TemplateSource(Strict):
    template_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    version: int | None = Field(default=None, ge=1, le=999_999, strict=True)


class TemplateExport(Strict):
    """The export/import document (versioned: ``schema_version``)."""

    format: Literal["prework.template"] = EXPORT_FORMAT
    schema_version: Literal[1] = SCHEMA_VERSION
    name: Name
    description: HelpText | None = None
    definition: Definition
    source: TemplateSource | None = Field(
        default=None, description="Where it was exported from; ignored on import."
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "format": EXPORT_FORMAT,
                    "schema_version": 1,
                    "name": "Confined space entry",
                    "definition": _EXAMPLE,
                }
            ]
        },
    )


# --------------------------------------------------------------------------- answers
class TemplateSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    description: str | None
    status: TemplateStatus
    latest_version: int = Field(description="0: never published.")
    has_unpublished_changes: bool
    created_by: str
    created_at: str
    updated_at: str
    version: int

    @classmethod
    def of(cls, template: Template) -> TemplateSummary:
        return cls.model_validate(template)


class TemplateRead(TemplateSummary):
    definition: dict[str, Any] = Field(description="The draft.")

    @classmethod
    def of(cls, template: Template) -> TemplateRead:
        return cls.model_validate(template)


class TemplateVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    template_id: str
    number: int
    name: str
    description: str | None
    definition: dict[str, Any]
    published_by: str
    published_at: str

    @classmethod
    def of(cls, version: TemplateVersion) -> TemplateVersionRead:
        return cls.model_validate(version)


GroupCondition.model_rebuild()
