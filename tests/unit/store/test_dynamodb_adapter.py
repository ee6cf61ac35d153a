"""DynamoStore parts DynamoDB Local cannot exercise: the bounded loops over
unprocessed batch items (Local processes everything at once) and the
translation of throttling and other vendor errors. The contract suite in
``tests/contract/store`` covers the rest against DynamoDB Local."""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from prework import errors
from prework.store.base import Check, Delete, ItemExists, Put, TransactOp, Update, UpdateSpec
from prework.store.dynamodb import store as dynamodb
from prework.store.dynamodb.store import DynamoStore

TABLE = "p-teams"


class ScriptedStore(DynamoStore):
    """A DynamoStore whose calls to DynamoDB answer from a script."""

    def __init__(self, answers: Sequence[dict[str, Any] | Exception]) -> None:
        super().__init__(endpoint="http://127.0.0.1:9", region="us-east-1", prefix="p-")
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def _send(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append((operation, copy.deepcopy(dict(params))))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamodb, "_backoff", lambda attempt: 0.0)


def client_error(code: str, message: str = "", status: int = 400, **extra: Any) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **extra,
    }
    return ClientError(response, "Op")


def put_request(i: int) -> dict[str, Any]:
    return {"PutRequest": {"Item": {"pk": {"S": f"P{i}"}, "sk": {"S": "S"}}}}


async def test_batch_write_resends_only_the_unprocessed_items() -> None:
    leftover = [put_request(3), put_request(7)]
    store = ScriptedStore([{"UnprocessedItems": {TABLE: leftover}}, {"UnprocessedItems": {}}])
    await store.batch_write("teams", puts=[{"pk": f"P{i}", "sk": "S"} for i in range(10)])
    assert [op for op, _ in store.calls] == ["batch_write_item", "batch_write_item"]
    assert len(store.calls[0][1]["RequestItems"][TABLE]) == 10
    assert store.calls[1][1]["RequestItems"] == {TABLE: leftover}


async def test_batch_write_sends_chunks_of_25() -> None:
    store = ScriptedStore([{}] * 3)
    await store.batch_write(
        "teams",
        puts=[{"pk": f"P{i}", "sk": "S"} for i in range(60)],
        deletes=[{"pk": "D", "sk": "S"}],
    )
    sizes = sorted(len(params["RequestItems"][TABLE]) for _, params in store.calls)
    assert sizes == [11, 25, 25]


async def test_batch_write_gives_up_after_bounded_attempts() -> None:
    stuck = {"UnprocessedItems": {TABLE: [put_request(1)]}}
    store = ScriptedStore([stuck] * dynamodb._BATCH_ATTEMPTS)
    with pytest.raises(errors.Unavailable):
        await store.batch_write("teams", puts=[{"pk": "P1", "sk": "S"}])
    assert len(store.calls) == dynamodb._BATCH_ATTEMPTS


async def test_batch_get_resends_unprocessed_keys_and_merges() -> None:
    key = {"pk": {"S": "P2"}, "sk": {"S": "S"}}
    store = ScriptedStore(
        [
            {
                "Responses": {TABLE: [{"pk": {"S": "P1"}, "sk": {"S": "S"}, "n": {"N": "1"}}]},
                "UnprocessedKeys": {TABLE: {"Keys": [key], "ConsistentRead": True}},
            },
            {"Responses": {TABLE: [{"pk": {"S": "P2"}, "sk": {"S": "S"}}]}},
        ]
    )
    got = await store.batch_get("teams", [{"pk": "P1", "sk": "S"}, {"pk": "P2", "sk": "S"}])
    assert sorted(got, key=lambda i: i["pk"]) == [
        {"pk": "P1", "sk": "S", "n": 1},
        {"pk": "P2", "sk": "S"},
    ]
    assert store.calls[1][1]["RequestItems"] == {TABLE: {"Keys": [key], "ConsistentRead": True}}


async def test_a_failed_chunk_surfaces_as_a_prework_error() -> None:
    throttled = client_error("ProvisionedThroughputExceededException", status=400)
    store = ScriptedStore([throttled] + [{}] * 3)
    with pytest.raises(errors.Unavailable) as caught:
        await store.batch_write("teams", puts=[{"pk": f"P{i}", "sk": "S"} for i in range(100)])
    assert isinstance(caught.value.__cause__, ClientError)


@pytest.mark.parametrize(
    ("vendor", "expected", "code"),
    [
        (client_error("ConditionalCheckFailedException"), errors.ConditionFailed, None),
        (client_error("ResourceNotFoundException"), errors.Unavailable, None),
        (client_error("ThrottlingException"), errors.Unavailable, None),
        (client_error("ProvisionedThroughputExceededException"), errors.Unavailable, None),
        (client_error("RequestLimitExceeded"), errors.Unavailable, None),
        (client_error("InternalServerError", status=500), errors.Unavailable, None),
        (client_error("UnrecognizedClientException"), errors.Unavailable, None),
        (
            client_error("ValidationException", "Item size has exceeded the maximum allowed size"),
            errors.TooLarge,
            None,
        ),
        (
            client_error(
                "ValidationException", "Item size to update has exceeded the maximum allowed size"
            ),
            errors.TooLarge,
            None,
        ),
        (
            client_error(
                "ValidationException", "The provided starting key does not match the range key"
            ),
            errors.ValidationFailed,
            "invalid_cursor",
        ),
        (
            client_error(
                "ValidationException",
                "An operand in the update expression has an incorrect data type",
            ),
            errors.ValidationFailed,
            "invalid_update",
        ),
        (
            client_error(
                "ValidationException",
                "Hash primary key values must be under 2048 bytes, and range primary key "
                "values must be under 1024 bytes",
            ),
            errors.ValidationFailed,
            "invalid_key",
        ),
        (
            client_error(
                "ValidationException",
                "One or more parameter values were invalid: Size limit exceeded",
            ),
            errors.ValidationFailed,
            "invalid_key",
        ),
        (
            client_error(
                "ValidationException",
                "One or more parameter values were invalid: Aggregated size of all range keys "
                "has exceeded the size limit of 1024 bytes",
            ),
            errors.ValidationFailed,
            "invalid_key",
        ),
        (
            client_error(
                "ValidationException",
                "One or more parameter values were invalid: Type mismatch for Index Key",
            ),
            errors.ValidationFailed,
            "invalid_key",
        ),
        (
            client_error(
                "ValidationException",
                "The provided starting key is invalid: One or more parameter values are not "
                "valid. The AttributeValue for a key attribute cannot contain an empty string "
                "value. Key: sk",
            ),
            errors.ValidationFailed,
            "invalid_cursor",
        ),
        (
            client_error("ValidationException", "Something DynamoDB says of a new rule"),
            errors.ValidationFailed,
            "validation_failed",
        ),
        (client_error("SomethingNew", "internal details", status=400), errors.Internal, None),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), errors.Unavailable, None),
        (OSError("connection reset"), errors.Unavailable, None),
    ],
)
async def test_vendor_errors_are_translated(
    vendor: Exception, expected: type[errors.PreworkError], code: str | None
) -> None:
    store = ScriptedStore([vendor])
    with pytest.raises(expected) as caught:
        await store.get("teams", {"pk": "P", "sk": "S"})
    assert caught.value.__cause__ is vendor
    if code is not None:
        assert caught.value.code == code
    # DynamoDB's own words stay in the cause (and the log), never in our message
    if isinstance(vendor, ClientError):
        said = vendor.response["Error"]["Message"]
        assert not said or said not in caught.value.message
        assert "DynamoDB rejected" not in caught.value.message


async def test_an_unexpected_rejection_is_logged_with_dynamodb_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = ScriptedStore([client_error("ValidationException", "Something new: XYZZY")])
    with (
        caplog.at_level(logging.WARNING, logger="prework.store.dynamodb"),
        pytest.raises(errors.ValidationFailed) as caught,
    ):
        await store.get("teams", {"pk": "P", "sk": "S"})
    assert "XYZZY" not in caught.value.message
    assert any("XYZZY" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("reason", "expected", "code"),
    [
        ("TransactionConflict", errors.WriteConflict, "transaction_conflict"),
        ("ThrottlingError", errors.Unavailable, "unavailable"),
        ("ValidationError", errors.ValidationFailed, "validation_failed"),
    ],
)
async def test_transaction_cancellation_reasons(
    reason: str, expected: type[errors.PreworkError], code: str
) -> None:
    canceled = client_error(
        "TransactionCanceledException",
        CancellationReasons=[{"Code": "None"}, {"Code": reason, "Message": "Vendor words 42"}],
    )
    store = ScriptedStore([canceled])
    ops: list[TransactOp] = [
        Put("teams", {"pk": "A", "sk": "S"}),
        Update("teams", {"pk": "B", "sk": "S"}, UpdateSpec(set={"n": 1})),
    ]
    with pytest.raises(expected) as caught:
        await store.transact_write(ops)
    assert caught.value.code == code
    assert not isinstance(caught.value, errors.ConditionFailed)
    assert "Vendor words" not in caught.value.message


# ---------------------------------------------------------------------------- nothing sent
LONG_PK = "p" * 2049
LONG_SK = "s" * 1025


def _bad_calls(store: DynamoStore) -> list[Callable[[], Awaitable[Any]]]:
    """Calls DynamoDB would refuse for a key value; the shared validation must
    refuse them first (DynamoDB Local lets some through: an index key of
    another type or size set by an update, a query's long partition key)."""
    long_pk = {"pk": LONG_PK, "sk": "S"}
    long_sk = {"pk": "P", "sk": LONG_SK}
    ok = {"pk": "P", "sk": "S"}
    return [
        lambda: store.get("teams", long_pk),
        lambda: store.get("teams", long_sk),
        lambda: store.put("teams", {**long_sk}),
        lambda: store.put("teams", {**ok, "gsi1pk": LONG_PK}),
        lambda: store.put("teams", {**ok, "gsi1sk": LONG_SK}),
        lambda: store.put("teams", {**ok, "gsi1pk": ""}),
        lambda: store.update("teams", long_pk, UpdateSpec(set={"a": 1})),
        lambda: store.update("teams", ok, UpdateSpec(set={"gsi1pk": LONG_PK})),
        lambda: store.update("teams", ok, UpdateSpec(set={"gsi1pk": 5})),
        lambda: store.update("teams", ok, UpdateSpec(set={"gsi1sk": ""})),
        lambda: store.update("teams", ok, UpdateSpec(add={"gsi1pk": 1})),
        lambda: store.delete("teams", long_sk),
        lambda: store.batch_get("teams", [ok, long_pk]),
        lambda: store.batch_write("teams", puts=[ok], deletes=[long_sk]),
        lambda: store.transact_write([Put("teams", ok), Check("teams", long_pk, ItemExists())]),
        lambda: store.transact_write(
            [Put("teams", ok), Update("teams", {**ok, "pk": "Q"}, UpdateSpec(set={"gsi1pk": ""}))]
        ),
        lambda: store.transact_write([Delete("teams", long_sk)]),
        lambda: store.query("teams", pk=LONG_PK),
        lambda: store.query("teams", index="gsi1", pk=LONG_PK),
        lambda: store.query("teams", pk="P", sk_prefix=LONG_SK),
        lambda: store.query("teams", pk="P", sk_gte="a", sk_lte=LONG_SK),
    ]


async def test_bad_key_values_never_reach_dynamodb() -> None:
    store = ScriptedStore([])  # any request sent would fail with IndexError
    for call in _bad_calls(store):
        with pytest.raises(errors.ValidationFailed) as caught:
            await call()
        assert caught.value.code == "invalid_key"
    assert store.calls == []


def _forge(cursor: str, position: list[Any]) -> str:
    data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    data["k"] = position
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_forged_cursors_never_reach_dynamodb() -> None:
    items = [{"pk": {"S": "P"}, "sk": {"S": f"A#{i}"}} for i in range(2)]
    first = ScriptedStore([{"Items": items}])
    page = await first.query("teams", pk="P", sk_prefix="A#", limit=1)
    assert page.cursor is not None
    store = ScriptedStore([])  # any request sent would fail with IndexError
    for position in ([""], ["\x00"], ["B#1"], ["A#" + LONG_SK], ["A#1", "x"], [5], []):
        forged = _forge(page.cursor, position)
        with pytest.raises(errors.ValidationFailed) as caught:
            await store.query("teams", pk="P", sk_prefix="A#", limit=1, cursor=forged)
        assert caught.value.code == "invalid_cursor", position
    assert store.calls == []
