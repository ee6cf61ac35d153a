"""Session-wide engines for every test tier.

``dynamodb_endpoint`` (a URL) and ``s3_endpoint`` (an :class:`S3Endpoint`) use
running engines named by ``PREWORK_TEST_DYNAMODB_ENDPOINT`` /
``PREWORK_TEST_S3_ENDPOINT`` (+ ``PREWORK_TEST_S3_ACCESS_KEY``,
``PREWORK_TEST_S3_SECRET_KEY``, ``PREWORK_TEST_S3_REGION``), else start their
own on free loopback ports on first use and stop them at the end of the
session. An engine that cannot start or be reached fails the tests that need
it; it never skips them.

Keep this file small: fixtures of one tier or port live in that folder's
conftest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from prework.testing.engines.dynamodb_local import start_dynamodb_local, wait_dynamodb_ready
from prework.testing.engines.process import EngineStartError
from prework.testing.engines.seaweedfs import S3Endpoint, start_seaweedfs, wait_s3_ready

_REACH_TIMEOUT = 10.0


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """URL of a DynamoDB (Local) engine shared by the session."""
    given = os.environ.get("PREWORK_TEST_DYNAMODB_ENDPOINT")
    if given:
        try:
            wait_dynamodb_ready(given, timeout=_REACH_TIMEOUT)
        except EngineStartError as exc:
            pytest.fail(f"PREWORK_TEST_DYNAMODB_ENDPOINT: {exc}", pytrace=False)
        yield given
        return
    try:
        engine = start_dynamodb_local()
    except EngineStartError as exc:
        pytest.fail(f"could not start DynamoDB Local: {exc}", pytrace=False)
    with engine:
        yield engine.endpoint


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """An S3 engine shared by the session (``.url``, ``.access_key``, ``.secret_key``...)."""
    given = os.environ.get("PREWORK_TEST_S3_ENDPOINT")
    if given:
        access_key = os.environ.get("PREWORK_TEST_S3_ACCESS_KEY")
        secret_key = os.environ.get("PREWORK_TEST_S3_SECRET_KEY")
        if not access_key or not secret_key:
            pytest.fail(
                "PREWORK_TEST_S3_ENDPOINT needs PREWORK_TEST_S3_ACCESS_KEY and "
                "PREWORK_TEST_S3_SECRET_KEY",
                pytrace=False,
            )
        endpoint = S3Endpoint(
            url=given,
            access_key=access_key,
            secret_key=secret_key,
            region=os.environ.get("PREWORK_TEST_S3_REGION", "us-east-1"),
        )
        try:
            wait_s3_ready(
                endpoint.url,
                access_key=endpoint.access_key,
                secret_key=endpoint.secret_key,
                region=endpoint.region,
                timeout=_REACH_TIMEOUT,
            )
        except EngineStartError as exc:
            pytest.fail(f"PREWORK_TEST_S3_ENDPOINT: {exc}", pytrace=False)
        yield endpoint
        return
    try:
        engine = start_seaweedfs()
    except EngineStartError as exc:
        pytest.fail(f"could not start SeaweedFS: {exc}", pytrace=False)
    with engine:
        yield engine.s3
