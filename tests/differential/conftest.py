"""The differential tier: our code against a reference implementation, run side by side.

``json0_reference`` is the reference json0 (npm ``ot-json0`` 1.1.0, fetched
once into the engines cache) in one node worker shared by the session
(:mod:`prework.testing.engines.json0_reference`), stopped at its end. It needs
``node`` and, for the first fetch, ``npm`` (``make system-deps``); a worker that
cannot start fails the tests that need it, it never skips them.

``differential_report`` collects what the tier's tests count rather than fail
(:mod:`tests.differential.report`); pytest's terminal summary shows it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prework.testing.engines.json0_reference import Json0Reference, start_json0_reference
from prework.testing.engines.process import EngineStartError
from tests.differential.report import DifferentialReport

_REPORT = pytest.StashKey[DifferentialReport]()


@pytest.fixture(scope="session")
def json0_reference() -> Iterator[Json0Reference]:
    """The reference json0 worker of the session."""
    try:
        engine = start_json0_reference()
    except EngineStartError as exc:
        pytest.fail(f"could not start the reference json0 worker: {exc}", pytrace=False)
    with engine:
        yield engine


@pytest.fixture(scope="session")
def differential_report(request: pytest.FixtureRequest) -> DifferentialReport:
    """The tier's report of the session, shown in the terminal summary."""
    return request.config.stash.setdefault(_REPORT, DifferentialReport())


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    report = config.stash.get(_REPORT, None)
    if report is None:
        return
    lines = report.render()
    if lines:
        terminalreporter.section("differential")
        for line in lines:
            terminalreporter.write_line(line)
