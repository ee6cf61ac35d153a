"""Checklist templates: records and the pure rules of a template definition.

A definition is plain JSON (the form it is stored, exported and imported in):
``{"sections": [...], "required_certifications": [...]}``; see
``docs/templates.md``. Its *shape* (types, lengths, per-list caps) is checked
by the request schemas; the *rules* here check what a shape cannot say, and
report every problem at once, each with the path of the offending part
(``sections[2].items[5].fail_when``): unique ids, conditions that refer only to
earlier items and to values those items can have, no cycles, choice lists
unique, limits consistent, the template-wide caps and the stored size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from prework.identity.models import certification_key

__all__ = [
    "ANSWER_TYPES",
    "LIMITS",
    "Limits",
    "Problem",
    "Template",
    "TemplateStatus",
    "TemplateVersion",
    "cert_key",
    "definition_problems",
]


class TemplateStatus(StrEnum):
    DRAFT = "draft"  # never published
    PUBLISHED = "published"  # has at least one version; new assignments may use it
    RETIRED = "retired"  # no new assignments; existing ones keep working


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound a definition is held to (the schemas enforce the per-list ones)."""

    sections: int = 50
    items: int = 500  # across all sections
    choices_per_item: int = 200
    choices: int = 10_000  # across the template
    condition_nodes_per_item: int = 20  # visible_when + fail_when of one item
    condition_nodes: int = 2_000  # across the template
    condition_depth: int = 4  # nested all/any
    condition_values: int = 200  # values of one any_of
    condition_values_total: int = 10_000  # across the template
    certifications: int = 20
    label_chars: int = 500
    help_chars: int = 2_000
    instruction_chars: int = 10_000
    text_max_length: int = 10_000
    photos: int = 20
    clearance_valid_days: int = 30
    stored_bytes: int = 350 * 1024  # a stored version, well under the 400 KB item limit


LIMITS: Final = Limits()

# item types that take an answer, and whether conditions may compare against them
ANSWER_TYPES: Final = frozenset(
    {
        "checkbox",
        "yes_no_na",
        "text",
        "number",
        "single_choice",
        "multiple_choice",
        "date",
        "time",
        "photo",
        "signature",
    }
)
_COMPARABLE: Final = frozenset(
    {"checkbox", "yes_no_na", "text", "number", "single_choice", "multiple_choice", "date", "time"}
)
_VALUE_OPS: Final = frozenset({"equals", "not_equals", "any_of"})
_RANGE_OPS: Final = frozenset({"in_range", "outside_range"})
_GROUP_OPS: Final = frozenset({"all", "any"})


@dataclass(frozen=True, slots=True)
class Problem:
    """One rule a definition breaks: where, a stable code, and what is wrong."""

    path: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Template:
    """A template's head and its editable draft."""

    id: str
    org_id: str
    name: str
    description: str | None
    status: TemplateStatus
    latest_version: int  # 0: never published
    has_unpublished_changes: bool
    definition: Mapping[str, Any]
    created_by: str
    created_at: str
    updated_at: str
    version: int  # the optimistic lock of head and draft


@dataclass(frozen=True, slots=True)
class TemplateVersion:
    """One published, immutable version."""

    template_id: str
    org_id: str
    number: int
    name: str
    description: str | None
    definition: Mapping[str, Any]
    published_by: str
    published_at: str


def cert_key(name: str) -> str:
    """A certification name as matched (identity's rule: case-folded)."""
    return certification_key(name)


# --------------------------------------------------------------------------- rules
@dataclass
class _Item:
    index: int  # document order across sections
    path: str
    raw: Mapping[str, Any]


@dataclass
class _Check:
    limits: Limits
    problems: list[Problem] = field(default_factory=list)
    nodes: int = 0
    values: int = 0

    def add(self, path: str, code: str, message: str) -> None:
        self.problems.append(Problem(path, code, message))


def _items(definition: Mapping[str, Any]) -> Iterator[_Item]:
    index = 0
    for s, section in enumerate(definition.get("sections") or ()):
        for i, item in enumerate(section.get("items") or ()):
            yield _Item(index, f"sections[{s}].items[{i}]", item)
            index += 1


def _leaves(
    cond: Mapping[str, Any], path: str, depth: int = 0, max_depth: int = LIMITS.condition_depth
) -> Iterator[tuple[str, Any, int]]:
    """Every node of a condition, (path, node, depth), down to one level past
    ``max_depth`` (deeper nodes are not visited: the one past is an error)."""
    yield path, cond, depth
    if cond.get("op") in _GROUP_OPS and depth <= max_depth:
        for n, sub in enumerate(cond.get("conditions") or ()):
            yield from _leaves(sub, f"{path}.conditions[{n}]", depth + 1, max_depth)


def _possible(target: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` can never be an answer of ``target`` (None: it can)."""
    kind = target.get("type")
    if kind == "checkbox":
        return None if isinstance(value, bool) else "a checkbox answer is true or false"
    if kind == "yes_no_na":
        allowed = {"yes", "no", "na"} if target.get("allow_na", True) else {"yes", "no"}
        return None if value in allowed else f"the answer is one of {sorted(allowed)}"
    if kind in ("single_choice", "multiple_choice"):
        values = {c.get("value") for c in target.get("choices") or ()}
        return None if value in values else "not one of the item's choices"
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "a number answer is a number"
        lo, hi = target.get("min"), target.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return "outside the item's min..max"
        return None
    if kind == "text":
        if not isinstance(value, str):
            return "a text answer is text"
        max_length = target.get("max_length")
        return (
            "longer than the item's max_length" if max_length and len(value) > max_length else None
        )
    if kind in ("date", "time"):
        return None if isinstance(value, str) else f"a {kind} answer is text"
    return "this item type cannot be compared"


def _check_leaf(
    check: _Check,
    path: str,
    node: Mapping[str, Any],
    *,
    owner: _Item,
    by_id: Mapping[str, _Item],
    own: bool,
) -> str | None:
    """Check one comparison; the id of the item it refers to (None: itself / none)."""
    op = node.get("op")
    ref = node.get("item")
    if own:
        if ref is not None and ref != owner.raw.get("id"):
            check.add(f"{path}.item", "fail_when_other_item", "fail_when judges the item itself")
            return None
        target = owner
    else:
        if ref is None:
            check.add(path, "missing_item", "a visibility condition names an earlier item")
            return None
        found = by_id.get(ref)
        if found is None:
            check.add(f"{path}.item", "unknown_item", "no item has this id")
            return None
        target = found
    kind = target.raw.get("type")
    if kind not in _COMPARABLE:
        check.add(path, "not_comparable", f"a {kind} item cannot be compared")
        return None
    if op in _RANGE_OPS:
        if kind != "number":
            check.add(path, "range_needs_number", "a range compares a number item")
        lo, hi = node.get("min"), node.get("max")
        if lo is None and hi is None:
            check.add(path, "empty_range", "a range needs min, max or both")
        elif lo is not None and hi is not None and lo > hi:
            check.add(path, "inverted_range", "min is greater than max")
    elif op in _VALUE_OPS:
        values = node.get("values") if op == "any_of" else [node.get("value")]
        if op == "any_of" and len(set(map(repr, values or ()))) != len(values or ()):
            check.add(f"{path}.values", "duplicate_value", "values repeat")
        for n, value in enumerate(values or ()):
            why = _possible(target.raw, value)
            if why is not None:
                where = f"{path}.values[{n}]" if op == "any_of" else f"{path}.value"
                check.add(where, "impossible_value", why)
    return None if own else str(ref)


def _check_condition(
    check: _Check,
    cond: Mapping[str, Any],
    path: str,
    *,
    owner: _Item,
    by_id: Mapping[str, _Item],
    own: bool,
) -> tuple[int, set[str]]:
    """Check a condition tree; (its node count, the ids it refers to)."""
    refs: set[str] = set()
    count = 0
    for where, node, depth in _leaves(cond, path, max_depth=check.limits.condition_depth):
        count += 1
        check.values += len(node.get("values") or ())
        if depth > check.limits.condition_depth:
            check.add(where, "condition_too_deep", "all/any nest too deep")
            continue
        if node.get("op") in _GROUP_OPS:
            if not node.get("conditions"):
                check.add(where, "empty_group", "all/any needs conditions")
            continue
        ref = _check_leaf(check, where, node, owner=owner, by_id=by_id, own=own)
        if ref is not None:
            refs.add(ref)
    return count, refs


def _check_item(check: _Check, item: _Item) -> None:
    raw, path = item.raw, item.path
    kind = raw.get("type")
    if kind == "instruction":
        for name in ("required", "critical", "weight", "fail_when"):
            if raw.get(name) not in (None, False):
                check.add(f"{path}.{name}", "not_answerable", "an instruction takes no answer")
        return
    if raw.get("critical") and raw.get("fail_when") is None:
        check.add(
            f"{path}.fail_when", "critical_without_fail_when", "a critical item says when it fails"
        )
    if raw.get("fail_when") is not None and not raw.get("critical"):
        check.add(f"{path}.critical", "fail_when_not_critical", "fail_when needs critical: true")
    if kind in ("single_choice", "multiple_choice"):
        choices = raw.get("choices") or ()
        if not choices:
            check.add(f"{path}.choices", "no_choices", "a choice item needs choices")
        seen: set[Any] = set()
        for n, choice in enumerate(choices):
            if choice.get("value") in seen:
                check.add(f"{path}.choices[{n}].value", "duplicate_choice", "choice values repeat")
            seen.add(choice.get("value"))
        if kind == "multiple_choice":
            lo, hi = raw.get("min_selected"), raw.get("max_selected")
            if hi is not None and hi > len(choices):
                check.add(
                    f"{path}.max_selected", "inconsistent_limits", "more than there are choices"
                )
            if lo is not None and hi is not None and lo > hi:
                check.add(
                    f"{path}.min_selected", "inconsistent_limits", "min_selected > max_selected"
                )
    elif kind == "number":
        lo, hi = raw.get("min"), raw.get("max")
        if lo is not None and hi is not None and lo > hi:
            check.add(f"{path}.min", "inconsistent_limits", "min is greater than max")
    elif kind == "photo":
        lo, hi = raw.get("min_count", 0), raw.get("max_count")
        if hi is not None and lo > hi:
            check.add(f"{path}.min_count", "inconsistent_limits", "min_count > max_count")
        if raw.get("required") and hi == 0:
            check.add(f"{path}.max_count", "inconsistent_limits", "a required photo item takes one")


def _cycles(edges: Mapping[str, set[str]]) -> set[str]:
    """Ids on a reference cycle (Tarjan's strongly connected components, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: set[str] = set()
    counter = 0
    for root in edges:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1 or node in edges.get(node, ()):
                        out.update(component)
            elif child not in edges:
                continue
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def definition_problems(
    definition: Mapping[str, Any],
    *,
    stored_size: int | None = None,
    limits: Limits = LIMITS,
) -> list[Problem]:
    """Every rule ``definition`` (already of the right shape) breaks, in document order.

    ``stored_size`` is the size of the item that would store it (DynamoDB's rules);
    past ``limits.stored_bytes`` the definition is refused as a whole.
    """
    check = _Check(limits)
    sections: Sequence[Mapping[str, Any]] = definition.get("sections") or ()
    if len(sections) > limits.sections:
        check.add("sections", "too_many_sections", f"at most {limits.sections} sections")
    section_ids: set[str] = set()
    for s, section in enumerate(sections):
        if section.get("id") in section_ids:
            check.add(f"sections[{s}].id", "duplicate_id", "section ids repeat")
        section_ids.add(section.get("id", ""))
    items = list(_items(definition))
    if len(items) > limits.items:
        check.add("sections", "too_many_items", f"at most {limits.items} items in a template")
    by_id: dict[str, _Item] = {}
    for item in items:
        item_id = item.raw.get("id")
        if item_id in by_id:
            check.add(f"{item.path}.id", "duplicate_id", "item ids repeat")
        else:
            by_id[str(item_id)] = item
    choices = sum(len(i.raw.get("choices") or ()) for i in items)
    if choices > limits.choices:
        check.add("sections", "too_many_choices", f"at most {limits.choices} choices in a template")
    edges: dict[str, set[str]] = {}
    forward: list[tuple[_Item, str, str]] = []
    for item in items:
        _check_item(check, item)
        item_nodes = 0
        for name, own in (("visible_when", False), ("fail_when", True)):
            cond = item.raw.get(name)
            if cond is None:
                continue
            count, refs = _check_condition(
                check, cond, f"{item.path}.{name}", owner=item, by_id=by_id, own=own
            )
            item_nodes += count
            item_id = str(item.raw.get("id"))
            edges.setdefault(item_id, set()).update(refs)
            for ref in sorted(refs):
                if by_id[ref].index >= item.index:
                    forward.append((item, ref, f"{item.path}.{name}"))
        if item_nodes > limits.condition_nodes_per_item:
            check.add(item.path, "condition_too_large", "too many condition nodes in one item")
        check.nodes += item_nodes
    if check.nodes > limits.condition_nodes:
        check.add(
            "sections", "too_many_conditions", f"at most {limits.condition_nodes} condition nodes"
        )
    if check.values > limits.condition_values_total:
        check.add(
            "sections",
            "too_many_values",
            f"at most {limits.condition_values_total} any_of values in a template",
        )
    on_cycle = _cycles(edges)
    for item, ref, path in forward:
        if str(item.raw.get("id")) in on_cycle and ref in on_cycle:
            check.add(
                path, "condition_cycle", f"conditions of this item and {ref!r} refer to each other"
            )
        else:
            check.add(path, "forward_reference", f"{ref!r} is not an earlier item")
    names: set[str] = set()
    for n, cert in enumerate(definition.get("required_certifications") or ()):
        key = cert_key(str(cert.get("name", "")))
        if key in names:
            check.add(
                f"required_certifications[{n}].name", "duplicate_certification", "names repeat"
            )
        names.add(key)
    if stored_size is not None and stored_size > limits.stored_bytes:
        check.add(
            "", "template_too_large", f"the stored template is over {limits.stored_bytes} bytes"
        )
    return check.problems
