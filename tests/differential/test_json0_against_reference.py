"""Our json0 (``prework.sync.json0``) gives exactly what ot-json0 1.1.0 gives.

Each Hypothesis example is a random document, four strictly valid concurrent
ops on it and ops made after two of them (``json0_cases``): every pair of the
concurrent ops is a concurrent pair, each op with the one made after it a
sequential pair. For each example, in one round trip to the reference worker:

* apply of each op (and of each op made after another, on that one's result);
* transform of each concurrent pair both ways and on both sides, and transformX
  both ways;
* compose of each sequential pair; invert of every op; normalize of every op
  and of each sequential pair's concatenation;

must give the same JSON (numbers as doubles, exactly), or both refuse. Then,
with OUR apply: TP1 for each concurrent pair with either op on the left
(apply(apply(doc, a), transform(b, a, 'right')) == apply(apply(doc, b),
transform(a, b, 'left'))) and with transformX's pair; apply(doc, compose(a, c))
== apply(apply(doc, a), c); apply(apply(doc, a), invert(a)) == doc. Numbers may
differ there only by the rounding bound of the fractional adds involved
(``json_compare.float_tolerance``). The same properties are checked on the
reference's own results (its apply too), and any call the reference refuses
on these valid ops is reported: a fault of the reference fails the test as
loudly as one of ours.

One class of property failure is known and counted rather than failed (the
terminal summary lists how many and the smallest case): *rounding
refusals*. Fractional adds summed in another grouping (transformX merges a
pair of adds into one; invert subtracts what was added) round apart, and our
strict apply then refuses an ``od``/``ld`` whose number differs from the
document's by that rounding alone (or, next to 2**53, an add the rounding took
one step past the safe integer range). Such a refusal counts as one only if
the reference's lax apply of the same op gives, within the rounding bound, the
document the property expects; anything else fails.

``PREWORK_JSON0_PAIRS`` (default 10,000) is how many concurrent pairs of
non-empty ops are checked at least; the test fails if fewer were.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from prework.sync import json0
from prework.testing.engines.json0_reference import Call, Json0Reference, Outcome
from tests.differential.json0_cases import CONCURRENT, CONFLICTS, Case, Op, cases, conflicts
from tests.differential.json_compare import difference, float_tolerance
from tests.differential.report import DifferentialReport

PAIRS = int(os.environ.get("PREWORK_JSON0_PAIRS", "10000"))
# a case has CONCURRENT * (CONCURRENT - 1) / 2 concurrent pairs; some have an empty op
_PAIRS_PER_CASE = CONCURRENT * (CONCURRENT - 1) // 2
_NON_EMPTY_SHARE = 0.66
EXAMPLES = max(1, math.ceil(PAIRS / (_PAIRS_PER_CASE * _NON_EMPTY_SHARE)))
_ROUNDING_REFUSAL = re.compile(r"\b(od|ld) does not match\b|\bna takes the number beyond\b")
SIDES: tuple[json0.Side, json0.Side] = ("left", "right")


def _transform_x(left: Op, right: Op) -> list[Op]:
    return list(json0.transform_x(left, right))


def _ours(fn: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(value=fn())
    except json0.InvalidOp as exc:
        return Outcome(error=f"InvalidOp: {exc}")


def _show(value: Any, limit: int = 600) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _outcome_text(outcome: Outcome) -> str:
    return _show(outcome.value) if outcome.ok else f"error {outcome.error!r}"


def _compare(name: str, left: Outcome, right: Outcome, tolerance: float) -> str | None:
    """None if both are the same document, else what went wrong."""
    if not left.ok or not right.ok:
        return f"{name}: refused: {left.error or right.error}"
    found = difference(left.value, right.value, tolerance=tolerance)
    if found is None:
        return None
    path, x, y = found
    return f"{name}: at {list(path)!r}: {_show(x)} != {_show(y)}"


@dataclass
class _Claim:
    """``apply(*left) == apply(*right)`` (or ``== expected``) with OUR apply."""

    name: str
    left: tuple[Any, Op]
    right: tuple[Any, Op] | None
    expected: Any
    tolerance: float


@dataclass
class _Run:
    """The calls of one case: each probe is run by the reference and by us."""

    calls: list[Call] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    ours: list[Outcome | None] = field(default_factory=list)

    def both(self, label: str, call: Call, ours: Callable[[], Any]) -> int:
        self.calls.append(call)
        self.labels.append(label)
        self.ours.append(_ours(ours))
        return len(self.calls) - 1

    def reference_only(self, label: str, call: Call) -> int:
        self.calls.append(call)
        self.labels.append(label)
        self.ours.append(None)
        return len(self.calls) - 1

    def value(self, index: int) -> Any | None:
        """Our value of a probe, or None if we refused it (a mismatch reported already)."""
        outcome = self.ours[index]
        return outcome.value if outcome is not None and outcome.ok else None


def _check_claims(
    ref: Json0Reference, claims: list[_Claim], report: DifferentialReport, case_text: str
) -> list[str]:
    """Our apply on each claim; the broken ones, rounding refusals aside (counted)."""
    broken: list[str] = []
    deferred: list[tuple[_Claim, Outcome, Outcome]] = []
    for claim in claims:
        left = _ours(partial(json0.apply, *claim.left))
        right = (
            _ours(partial(json0.apply, *claim.right))
            if claim.right is not None
            else Outcome(value=claim.expected)
        )
        problem = _compare(claim.name, left, right, claim.tolerance)
        if problem is None:
            continue
        refusals = [o.error for o in (left, right) if not o.ok]
        if (
            claim.tolerance > 0
            and refusals
            and all(_ROUNDING_REFUSAL.search(e or "") for e in refusals)
        ):
            deferred.append((claim, left, right))
        else:
            broken.append(problem)
    if not deferred:
        return broken
    # a refused od/ld: was it the rounding alone? the reference's lax apply says
    calls: list[Call] = []
    for claim, _left, _right in deferred:
        calls.append(Call("apply", claim.left))
        if claim.right is not None:
            calls.append(Call("apply", claim.right))
    lax = iter(ref.run(calls))
    for claim, _left, _right in deferred:
        lax_left = next(lax)
        lax_right = next(lax) if claim.right is not None else Outcome(value=claim.expected)
        problem = _compare(claim.name + " (lax)", lax_left, lax_right, claim.tolerance)
        if problem is None:
            report.rounding_refusal(claim.name, case_text)
        else:
            broken.append(f"{claim.name}: refused, and not for rounding: {problem}")
    return broken


def _check_case(
    ref: Json0Reference, case: Case, seen: Counter[str], report: DifferentialReport
) -> None:
    run = _Run()
    doc, ops, afters = case.doc, case.ops, case.afters

    # ------------------------------------------------------------ one op at a time
    applied: list[int] = []
    inverted: list[int] = []
    ref_undone: list[int] = []
    for i, op in enumerate(ops):
        applied.append(
            run.both(f"apply(doc, op{i})", Call("apply", (doc, op)), partial(json0.apply, doc, op))
        )
        inverted.append(
            run.both(f"invert(op{i})", Call("invert", (op,)), partial(json0.invert, op))
        )
        run.both(f"normalize(op{i})", Call("normalize", (op,)), partial(json0.normalize, op))
        ref_undone.append(
            run.reference_only(
                f"reference apply(apply(doc, op{i}), invert(op{i}))",
                Call("apply", (case.docs[i], None), refs={1: inverted[i]}),
            )
        )

    # ------------------------------------------------------------ concurrent pairs
    # transform(x, y, side) of each ordered pair (x, y) of ops, by their indexes
    transformed: dict[tuple[int, int, str], int] = {}
    transformed_x: dict[tuple[int, int], int] = {}
    ref_tp1: list[tuple[str, int, int, float]] = []
    for i, j in case.concurrent_pairs():
        for x, y in ((i, j), (j, i)):
            for side in SIDES:
                transformed[(x, y, side)] = run.both(
                    f"transform(op{x}, op{y}, {side!r})",
                    Call("transform", (ops[x], ops[y], side)),
                    partial(json0.transform, ops[x], ops[y], side),
                )
            transformed_x[(x, y)] = run.both(
                f"transformX(op{x}, op{y})",
                Call("transformX", (ops[x], ops[y])),
                partial(_transform_x, ops[x], ops[y]),
            )
        tolerance = float_tolerance(doc, ops[i], ops[j])
        for left, right in ((i, j), (j, i)):
            # the reference's own TP1: its apply on its transforms, op{left} on the left
            on_left = run.reference_only(
                f"reference apply(apply(doc, op{left}), transform(op{right}, op{left}, 'right'))",
                Call(
                    "apply", (case.docs[left], None), refs={1: transformed[(right, left, "right")]}
                ),
            )
            on_right = run.reference_only(
                f"reference apply(apply(doc, op{right}), transform(op{left}, op{right}, 'left'))",
                Call(
                    "apply", (case.docs[right], None), refs={1: transformed[(left, right, "left")]}
                ),
            )
            ref_tp1.append(
                (f"reference TP1 (op{left} left, op{right} right)", on_left, on_right, tolerance)
            )

    # ------------------------------------------------------------ sequential pairs
    stepwise: list[int] = []
    composed: list[int] = []
    ref_composed: list[int] = []
    for k, after in enumerate(afters):
        a = ops[k]
        stepwise.append(
            run.both(
                f"apply(apply(doc, op{k}), after{k})",
                Call("apply", (case.docs[k], after)),
                partial(json0.apply, case.docs[k], after),
            )
        )
        composed.append(
            run.both(
                f"compose(op{k}, after{k})",
                Call("compose", (a, after)),
                partial(json0.compose, a, after),
            )
        )
        run.both(
            f"normalize(op{k} + after{k})",
            Call("normalize", ([*a, *after],)),
            partial(json0.normalize, [*a, *after]),
        )
        run.both(f"invert(after{k})", Call("invert", (after,)), partial(json0.invert, after))
        ref_composed.append(
            run.reference_only(
                f"reference apply(doc, compose(op{k}, after{k}))",
                Call("apply", (doc, None), refs={1: composed[k]}),
            )
        )

    theirs = ref.run(run.calls)

    # ------------------------------------------------------------ ours == the reference
    mismatches: list[str] = []
    ref_errors: list[str] = []
    for label, o, t in zip(run.labels, run.ours, theirs, strict=True):
        if o is None:
            continue
        if not t.ok:
            ref_errors.append(f"{label}: {t.error}")
        if o.ok != t.ok or (o.ok and difference(o.value, t.value) is not None):
            mismatches.append(
                f"{label}:\n      ours:      {_outcome_text(o)}\n"
                f"      reference: {_outcome_text(t)}"
            )

    # ------------------------------------------------------------ properties: ours
    claims: list[_Claim] = []
    for i, op in enumerate(ops):
        mine, inverse = run.value(applied[i]), run.value(inverted[i])
        if mine is not None and inverse is not None:
            claims.append(
                _Claim(
                    f"apply(apply(doc, op{i}), invert(op{i})) == doc",
                    (mine, inverse),
                    None,
                    doc,
                    float_tolerance(doc, op, op),
                )
            )
    for i, j in case.concurrent_pairs():
        seen["pairs"] += 1
        seen["non-empty pairs"] += bool(ops[i] and ops[j])
        for kind in conflicts(ops[i], ops[j]):
            seen[kind] += 1
        doc_of = {i: run.value(applied[i]), j: run.value(applied[j])}
        tolerance = float_tolerance(doc, ops[i], ops[j])
        for left, right in ((i, j), (j, i)):
            t_right = run.value(transformed[(right, left, "right")])
            t_left = run.value(transformed[(left, right, "left")])
            doc_left, doc_right = doc_of[left], doc_of[right]
            if doc_left is None or doc_right is None or t_left is None or t_right is None:
                continue  # a mismatch or a refusal, reported as such
            claims.append(
                _Claim(
                    f"TP1 (op{left} left, op{right} right): apply(apply(doc, op{left}), "
                    f"transform(op{right}, op{left}, 'right')) == apply(apply(doc, op{right}), "
                    f"transform(op{left}, op{right}, 'left'))",
                    (doc_left, t_right),
                    (doc_right, t_left),
                    None,
                    tolerance,
                )
            )
        pair = run.value(transformed_x[(i, j)])
        if pair is not None and doc_of[i] is not None and doc_of[j] is not None:
            claims.append(
                _Claim(
                    f"TP1 of transformX(op{i}, op{j}) = (left', right'): "
                    f"apply(apply(doc, op{i}), right') == apply(apply(doc, op{j}), left')",
                    (doc_of[i], pair[1]),
                    (doc_of[j], pair[0]),
                    None,
                    tolerance,
                )
            )
    for k, after in enumerate(afters):
        seen["sequential pairs"] += 1
        whole, steps = run.value(composed[k]), run.value(stepwise[k])
        if whole is not None and steps is not None:
            claims.append(
                _Claim(
                    f"apply(doc, compose(op{k}, after{k})) == apply(apply(doc, op{k}), after{k})",
                    (doc, whole),
                    None,
                    steps,
                    float_tolerance(doc, ops[k], after),
                )
            )

    case_text = "\n".join(
        [
            f"doc = {doc!r}",
            *(f"op{i} = {op!r}" for i, op in enumerate(ops)),
            *(f"after{k} = {op!r}" for k, op in enumerate(afters)),
        ]
    )
    ours_broken = _check_claims(ref, claims, report, case_text)

    # ------------------------------------------------------------ properties: the reference
    ref_broken: list[str] = []
    for i in range(len(ops)):
        problem = _compare(
            f"reference: apply(apply(doc, op{i}), invert(op{i})) == doc",
            theirs[ref_undone[i]],
            Outcome(value=doc),
            float_tolerance(doc, ops[i], ops[i]),
        )
        if problem:
            ref_broken.append(problem)
    for name, on_left, on_right, tolerance in ref_tp1:
        problem = _compare(name, theirs[on_left], theirs[on_right], tolerance)
        if problem:
            ref_broken.append(problem)
    for k, after in enumerate(afters):
        problem = _compare(
            f"reference: apply(doc, compose(op{k}, after{k})) == "
            f"apply(apply(doc, op{k}), after{k})",
            theirs[ref_composed[k]],
            theirs[stepwise[k]],
            float_tolerance(doc, ops[k], after),
        )
        if problem:
            ref_broken.append(problem)

    seen["reference calls"] += len(run.calls)
    if mismatches or ours_broken or ref_broken or ref_errors:
        lines = [case_text]
        if mismatches:
            lines += ["ours differs from the reference:", *(f"  {m}" for m in mismatches)]
        if ours_broken:
            lines += ["our json0 breaks:", *(f"  {m}" for m in ours_broken)]
        if ref_broken:
            lines += ["the reference itself breaks:", *(f"  {m}" for m in ref_broken)]
        if ref_errors:
            lines += ["the reference throws on valid ops:", *(f"  {m}" for m in ref_errors)]
        raise AssertionError("\n".join(lines))


@pytest.mark.timeout(max(120, PAIRS // 40))
def test_our_json0_gives_what_the_reference_gives(
    json0_reference: Json0Reference, differential_report: DifferentialReport
) -> None:
    seen: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=cases())
    def check(case: Case) -> None:
        _check_case(json0_reference, case, seen, differential_report)

    check()
    differential_report.line(
        f"json0 against ot-json0 1.1.0: {EXAMPLES} cases, "
        + ", ".join(f"{n} {what}" for what, n in seen.items())
    )
    assert seen["non-empty pairs"] >= PAIRS, dict(seen)
    # the cases are what they are for: conflicts of every kind, often
    rare = {kind: seen[kind] for kind in CONFLICTS if seen[kind] < PAIRS // 100}
    assert not rare, f"too few pairs hold these conflicts: {rare}"
