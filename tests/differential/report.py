"""What the differential tier tells at the end of a run (pytest's terminal summary).

Counted classes of known behaviour (such as rounding refusals, see
``test_json0_against_reference``) are not failures, but they are never silent:
each run's summary says how often each happened, with its smallest case.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class DifferentialReport:
    lines: list[str] = field(default_factory=list)
    rounding_refusals: Counter[str] = field(default_factory=Counter)
    smallest_rounding_case: str | None = None

    def line(self, text: str) -> None:
        self.lines.append(text)

    def rounding_refusal(self, claim: str, case_text: str) -> None:
        self.rounding_refusals[re.sub(r"\b(op|after)\d+", r"\1N", claim.split(":", 1)[0])] += 1
        smallest = self.smallest_rounding_case
        if smallest is None or len(case_text) < len(smallest):
            self.smallest_rounding_case = f"{claim}\n{case_text}"

    def render(self) -> list[str]:
        out = list(self.lines)
        if self.rounding_refusals:
            total = sum(self.rounding_refusals.values())
            out.append(
                "rounding refusals (our strict apply against a number that fractional adds "
                f"rounded apart): {total}"
            )
            out += [f"  {n} x {claim}" for claim, n in self.rounding_refusals.most_common()]
            if self.smallest_rounding_case:
                out.append("  the smallest case:")
                out += [f"    {line}" for line in self.smallest_rounding_case.splitlines()]
        return out
