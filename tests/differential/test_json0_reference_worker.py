"""The reference json0 worker itself, and the generator's cases against it.

The worker answers a batch in one round trip, one result or the reference's
own error message per call, chains calls of a batch, and keeps calls apart
(the reference's apply mutates its snapshot). Every op the generator makes is
one the reference applies to the document the generator predicts: the cases
are what they claim to be before our json0 is held to the reference on them.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from prework.testing.engines.json0_reference import OT_JSON0, Call, Json0Reference
from tests.differential.json0_cases import Case, cases
from tests.differential.json_compare import difference


def test_the_worker_runs_the_pinned_package(json0_reference: Json0Reference) -> None:
    assert json0_reference.package == OT_JSON0.spec == "ot-json0@1.1.0"
    assert json0_reference.running


def test_a_batch_answers_each_call_with_its_result_or_the_reference_s_message(
    json0_reference: Json0Reference,
) -> None:
    doc = {"a": "x😀y", "l": [1, 2]}
    outcomes = json0_reference.run(
        [
            Call("apply", (doc, [{"p": ["a", 3], "si": "日"}])),
            Call("apply", (doc, [{"p": ["l", 0], "ld": 1}])),  # the same doc, not the one above
            Call("apply", (doc, [{"p": ["a"], "li": 1}])),
            Call("apply", (None, [{"p": ["b"], "oi": True}]), refs={0: 0}),
            Call("apply", (None, []), refs={0: 2}),
            Call("transform", ([{"p": [0], "li": "x"}], [{"p": [0], "li": "y"}], "right")),
            Call("transformX", ([{"p": [0], "li": "x"}], [{"p": [0], "li": "y"}])),
            Call("compose", ([{"p": ["n"], "na": 1}], [{"p": ["n"], "na": 2}])),
            Call("invert", ([{"p": [1], "lm": 0}],)),
            Call("normalize", ([{"p": ["a", 0], "si": "a"}, {"p": ["a", 1], "si": "b"}],)),
            Call("transform", ([], [], "middle")),
        ]
    )
    values = [o.value for o in outcomes]
    assert values[0] == {"a": "x😀日y", "l": [1, 2]}
    assert values[1] == {"a": "x😀y", "l": [2]}
    assert outcomes[2].error == "Referenced element not a list"
    assert values[3] == {"a": "x😀日y", "l": [1, 2], "b": True}
    assert outcomes[4].error == "call 2, an argument of this one, failed"
    assert values[5] == [{"p": [1], "li": "x"}]
    assert values[6] == [[{"p": [0], "li": "x"}], [{"p": [1], "li": "y"}]]
    assert values[7] == [{"p": ["n"], "na": 3}]
    assert values[8] == [{"p": [0], "lm": 1}]
    assert values[9] == [{"p": ["a", 0], "si": "ab"}]
    assert outcomes[10].error == "type must be 'left' or 'right'"
    assert doc == {"a": "x😀y", "l": [1, 2]}


@settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=cases())
def test_the_reference_applies_every_generated_op_as_the_generator_predicts(
    json0_reference: Json0Reference, case: Case
) -> None:
    calls = [Call("apply", (case.doc, op)) for op in case.ops]
    calls += [Call("apply", (case.docs[i], op)) for i, op in enumerate(case.afters)]
    predicted = [*case.docs, *case.after_docs]
    ops = [*case.ops, *case.afters]
    for op, want, got in zip(ops, predicted, json0_reference.run(calls), strict=True):
        assert got.ok, f"the reference refused {op}: {got.error}"
        assert difference(got.value, want) is None, (op, got.value, want)
