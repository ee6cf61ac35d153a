"""The unit tier is pure: no engines, no child processes, no network.

Unit tests run in-process against in-memory fakes (``MemoryStore``, scripted
adapters) and at most ``tmp_path`` files. A unit test that asks for an engine,
starts a process or opens a connection fails here; such a test belongs in
``tests/contract``, ``tests/api``, ``tests/integration`` or ``tests/e2e``.
"""

from __future__ import annotations

import socket
import subprocess
from typing import Any, NoReturn

import pytest


def _impure(what: str) -> Any:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        pytest.fail(f"a unit test {what}; move it out of tests/unit", pytrace=False)

    return refuse


@pytest.fixture(autouse=True)
def _pure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess.Popen, "_execute_child", _impure("started a process"))
    for method in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, method, _impure("opened a network connection"))


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> NoReturn:
    pytest.fail("a unit test asked for DynamoDB; move it out of tests/unit", pytrace=False)


@pytest.fixture(scope="session")
def s3_endpoint() -> NoReturn:
    pytest.fail("a unit test asked for S3; move it out of tests/unit", pytrace=False)
