"""Submit validation of a 300-item checklist, in milliseconds (pure rules, one core).

A generated, valid 300-item template (every answer type, 30 conditional items,
20 critical ones, most items weighted) and a full answer set (an entry for every
answerable item, as the crew saves it). Timed, interleaved round by round so that
each round shares the machine's load:

* evaluate: ``answers.evaluate`` (what ``POST .../submit`` runs: visibility,
  every value and submit rule, failed critical items, the score);
* value_problems: ``answers.value_problems`` of every value at once (a save of
  the whole set);

against two baselines of the same run: ``definition_problems`` of the template
(what publishing a template runs) and ``orjson.loads`` of the answers document
(the floor of reading it back). Prints median, p99 and max of each, and evaluate /
each baseline. Run: ``python bench/bench_submit.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from prework.checklists.answers import evaluate, value_problems
from prework.checklists.models import definition_problems

ITEMS = 300
COMPARABLE = frozenset(
    {"yes_no_na", "number", "checkbox", "text", "single_choice", "multiple_choice"}
)
KINDS = (
    "yes_no_na",
    "number",
    "checkbox",
    "text",
    "single_choice",
    "multiple_choice",
    "date",
    "time",
    "photo",
    "signature",
    "instruction",
    "yes_no_na",
)


def definition() -> dict[str, Any]:
    """300 items in 10 sections: every type, 30 conditional, 20 critical, weights."""
    sections = []
    conditional = critical = 0
    for s in range(10):
        items: list[dict[str, Any]] = []
        for i in range(30):
            n = s * 30 + i
            kind = KINDS[n % len(KINDS)]
            item: dict[str, Any] = {"id": f"q{n}", "type": kind, "label": f"Check {n}"}
            if kind == "instruction":
                item["text"] = "Read the permit and the isolation list before answering."
                items.append(item)
                continue
            item |= {"required": n % 2 == 0, "weight": float(1 + n % 4)}
            if kind == "number":
                item |= {"min": 0, "max": 100, "decimals": 1, "unit": "%"}
            elif kind in ("single_choice", "multiple_choice"):
                item["choices"] = [{"value": f"c{k}", "label": f"Choice {k}"} for k in range(6)]
                if kind == "multiple_choice":
                    item |= {"min_selected": 1, "max_selected": 4}
            elif kind == "text":
                item |= {"max_length": 500, "multiline": n % 2 == 1}
            elif kind == "photo":
                item |= {"min_count": 1, "max_count": 5}
            if critical < 20 and kind in ("yes_no_na", "number"):
                critical += 1
                item["critical"] = True
                item["fail_when"] = (
                    {"op": "equals", "value": "no"}
                    if kind == "yes_no_na"
                    else {"op": "outside_range", "min": 19.5, "max": 23.5}
                )
            if conditional < 30 and i % 10 == 9:
                conditional += 1
                earlier = next(x for x in reversed(items) if x["type"] in COMPARABLE)
                item["visible_when"] = _visible_when(earlier)
            items.append(item)
        sections.append({"id": f"s{s}", "title": f"Section {s}", "items": items})
    assert (conditional, critical) == (30, 20), (conditional, critical)
    return {"sections": sections, "required_certifications": [{"name": "Working at height"}]}


def _visible_when(earlier: dict[str, Any]) -> dict[str, Any]:
    ref = earlier["id"]
    kind = earlier["type"]
    if kind == "number":
        return {"op": "in_range", "item": ref, "min": 0, "max": 100}
    if kind == "single_choice":
        return {"op": "any_of", "item": ref, "values": ["c0", "c1", "c2"]}
    if kind == "multiple_choice":
        return {"op": "any_of", "item": ref, "values": ["c2", "c4"]}
    if kind == "checkbox":
        return {"op": "equals", "item": ref, "value": True}
    if kind == "yes_no_na":
        return {"op": "not_equals", "item": ref, "value": "na"}
    return {
        "op": "all",
        "conditions": [
            {"op": "not_equals", "item": ref, "value": "skip"},
            {"op": "any", "conditions": [{"op": "equals", "item": ref, "value": "x"}]},
        ],
    }


def answer(item: dict[str, Any], n: int) -> Any:
    media = f"{n:032x}"
    return {
        "yes_no_na": "no" if n % 48 == 0 else "yes",  # some critical items fail
        "number": 21.5,
        "checkbox": n % 24 != 2,  # some conditional items are hidden
        "text": f"Checked with the site lead at step {n}; isolation tags in place.",
        "single_choice": "c1",
        "multiple_choice": ["c0", "c2", "c5"] if n % 24 == 5 else ["c1", "c3"],
        "date": "2026-03-10",
        "time": "07:30",
        "photo": [media, f"{n + 1000:032x}"],
        "signature": media,
    }[item["type"]]


def answers(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for n, item in enumerate(i for s in d["sections"] for i in s["items"]):
        if item["type"] != "instruction":
            out[item["id"]] = {
                "value": answer(item, n),
                "by": f"{n % 4:032x}",
                "at": "2026-03-10T07:31:00.000000Z",
            }
    return out


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main(quick: bool) -> None:
    rounds = 200 if quick else 2000
    d = definition()
    entries = answers(d)
    values = {k: e["value"] for k, e in entries.items()}
    document = orjson.dumps({"answers": entries, "signoffs": {}})
    # the set is what the bench says it is: valid, full, with hidden and critical items
    assert definition_problems(d) == []
    result = evaluate(d, entries)
    assert result.problems == (), result.problems[:3]
    assert value_problems(d, values) == []
    calls: dict[str, Callable[[], Any]] = {
        "evaluate": lambda: evaluate(d, entries),
        "value_problems": lambda: value_problems(d, values),
        "definition_problems": lambda: definition_problems(d),
        "orjson.loads": lambda: orjson.loads(document),
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    for r in range(rounds + 20):  # 20 rounds warm up
        for name, call in calls.items():
            ms = timed(call)
            if r >= 20:
                times[name].append(ms)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(
        f"{ITEMS} items ({len(entries)} answered, {len(result.cleared)} cleared as hidden, "
        f"{len(result.failed_critical)} failed critical, score {result.score:.3f}), "
        f"answers document {len(document) / 1024:.0f} KB, {rounds} rounds"
    )
    print(f"{'':>20}{'median ms':>11}{'p99 ms':>9}{'max ms':>9}")
    for name, values_ms in times.items():
        print(
            f"{name:>20}{statistics.median(values_ms):>11.3f}{p99(values_ms):>9.3f}"
            f"{max(values_ms):>9.3f}"
        )
    med = {name: statistics.median(v) for name, v in times.items()}
    print(
        f"  evaluate / definition_problems = {med['evaluate'] / med['definition_problems']:.2f}x, "
        f"evaluate / orjson.loads = {med['evaluate'] / med['orjson.loads']:.1f}x, "
        f"value_problems / definition_problems = "
        f"{med['value_problems'] / med['definition_problems']:.2f}x"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    main(parser.parse_args().quick)
