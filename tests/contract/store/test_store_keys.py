"""Key values: DynamoDB's limits and types, on every backend, for every call.

A partition key (``pk``, ``gsiNpk``, a query's ``pk``) holds at most 2048 bytes
of UTF-8, a sort key (``sk``, ``gsiNsk``, a query's bounds) at most 1024, and
every one is a non-empty string. Anything else is ``invalid_key`` with the same
message on every backend, raised before anything is read or sent; on
DynamoDB the limits are exactly where the engine puts them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from prework.errors import ConditionFailed, ValidationFailed
from prework.store.base import (
    MAX_PARTITION_KEY_BYTES,
    MAX_SORT_KEY_BYTES,
    AttrEquals,
    Check,
    Delete,
    Item,
    ItemExists,
    Put,
    Store,
    Update,
    UpdateSpec,
)
from prework.store.dynamodb.store import DynamoStore

T = "profiles"  # keys pk/sk, index gsi1 only


def sized(prefix: str, size: int, char: str = "é") -> str:
    """``prefix`` filled up to exactly ``size`` UTF-8 bytes with ``char``
    (several bytes each, so that bytes and characters differ) and ``x``."""
    rest = size - len(prefix.encode("utf-8"))
    width = len(char.encode("utf-8"))
    text = prefix + char * (rest // width) + "x" * (rest % width)
    assert len(text.encode("utf-8")) == size
    return text


def _message(name: str, size: int, limit: int) -> str:
    return f"{name} is {size} bytes long; at most {limit} bytes are allowed"


async def _rejected(call: Awaitable[Any], message: str | None = None) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        await call
    assert caught.value.code == "invalid_key", caught.value
    if message is not None:
        assert caught.value.message == message
    return caught.value


# ---------------------------------------------------------------------------- the limits
async def test_keys_at_the_limits_work_everywhere(store: Store, ns: str) -> None:
    pk = sized(f"{ns}#", MAX_PARTITION_KEY_BYTES)
    sk = sized("", MAX_SORT_KEY_BYTES, "𝄞")  # four bytes a character
    gpk = sized(f"{ns}#G", MAX_PARTITION_KEY_BYTES)
    gsk = sized("", MAX_SORT_KEY_BYTES, "✓")  # three bytes a character
    item: Item = {"pk": pk, "sk": sk, "gsi1pk": gpk, "gsi1sk": gsk, "n": 1}
    await store.put(T, item)
    assert await store.get(T, {"pk": pk, "sk": sk}) == item
    assert await store.batch_get(T, [{"pk": pk, "sk": sk}]) == [item]
    assert (await store.query(T, pk=pk, sk_prefix=sk)).items == [item]
    assert (await store.query(T, pk=pk, sk_gte=sk, sk_lte=sk)).items == [item]
    assert (await store.query(T, index="gsi1", pk=gpk, sk_prefix=gsk)).items == [item]
    updated = await store.update(
        T, {"pk": pk, "sk": sk}, UpdateSpec(set={"gsi1sk": gsk, "n": 2}), condition=ItemExists()
    )
    assert updated == {**item, "n": 2}
    await store.transact_write(
        [Check(T, {"pk": pk, "sk": sk}, AttrEquals("n", 2)), Delete(T, {"pk": pk, "sk": "S"})]
    )
    await store.delete(T, {"pk": pk, "sk": sk}, condition=AttrEquals("n", 2))
    assert await store.get(T, {"pk": pk, "sk": sk}) is None


async def test_pages_of_items_with_the_longest_keys(store: Store, ns: str) -> None:
    pk = sized(f"{ns}#", MAX_PARTITION_KEY_BYTES)
    g = f"{ns}#G"
    sks = [sized(f"{i}", MAX_SORT_KEY_BYTES) for i in range(3)]
    await store.batch_write(T, puts=[{"pk": pk, "sk": sk, "gsi1pk": g, "gsi1sk": sk} for sk in sks])
    queries: list[dict[str, Any]] = [{"pk": pk}, {"pk": g, "index": "gsi1"}]
    for kwargs in queries:
        seen: list[str] = []
        cursor = None
        for _ in range(3):
            page = await store.query(T, limit=1, cursor=cursor, **kwargs)
            seen += [i["sk"] for i in page.items]
            cursor = page.cursor
        assert seen == sks
        assert cursor is None


def _long_keys(ns: str) -> list[tuple[dict[str, str], str]]:
    """Keys one byte over a limit, each with the message it is rejected with."""
    pk = sized(f"{ns}#", MAX_PARTITION_KEY_BYTES + 1)
    sk = sized("S", MAX_SORT_KEY_BYTES + 1, "𝄞")
    return [
        ({"pk": pk, "sk": "S"}, _message("key attribute pk", 2049, 2048)),
        ({"pk": f"{ns}#P", "sk": sk}, _message("key attribute sk", 1025, 1024)),
    ]


def _every_call(
    store: Store, good: Item, bad: dict[str, str]
) -> list[Callable[[], Awaitable[Any]]]:
    """Each call of the port that takes the key ``bad`` (next to a valid ``good``)."""
    good_key = {"pk": good["pk"], "sk": good["sk"]}
    return [
        lambda: store.get(T, bad),
        lambda: store.put(T, {**bad, "a": 1}),
        lambda: store.update(T, bad, UpdateSpec(set={"a": 1})),
        lambda: store.delete(T, bad),
        lambda: store.batch_get(T, [good_key, bad]),
        lambda: store.batch_write(T, puts=[good, {**bad}]),
        lambda: store.batch_write(T, puts=[good], deletes=[bad]),
        lambda: store.transact_write([Put(T, good), Put(T, {**bad})]),
        lambda: store.transact_write([Put(T, good), Update(T, bad, UpdateSpec(set={"a": 1}))]),
        lambda: store.transact_write([Put(T, good), Delete(T, bad)]),
        lambda: store.transact_write([Put(T, good), Check(T, bad, ItemExists())]),
    ]


async def test_keys_over_the_limits_are_rejected_by_every_call(store: Store, ns: str) -> None:
    good: Item = {"pk": f"{ns}#ok", "sk": "S"}
    for bad, message in _long_keys(ns):
        for call in _every_call(store, good, bad):
            await _rejected(call(), message)
    assert await store.get(T, {"pk": good["pk"], "sk": "S"}) is None  # nothing was written


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"pk": "P" * (MAX_PARTITION_KEY_BYTES + 1)},
            _message("the partition key", 2049, 2048),
        ),
        (
            {"pk": "P" * (MAX_PARTITION_KEY_BYTES + 1), "index": "gsi1"},
            _message("the partition key", 2049, 2048),
        ),
        ({"pk": "P", "sk_prefix": "é" * 513}, _message("sk_prefix", 1026, 1024)),
        ({"pk": "P", "sk_gte": "s" * 1025}, _message("sk_gte", 1025, 1024)),
        ({"pk": "P", "sk_lte": "s" * 1025, "index": "gsi1"}, _message("sk_lte", 1025, 1024)),
        ({"pk": ""}, "the partition key must be a non-empty string"),
        ({"pk": "P", "sk_gte": ""}, "sk_gte must be a non-empty string"),
        ({"pk": "P\ud800"}, "the partition key is not valid UTF-8 text"),
    ],
    ids=[
        "long-pk",
        "long-index-pk",
        "long-prefix",
        "long-gte",
        "long-index-lte",
        "empty-pk",
        "empty-bound",
        "surrogate-pk",
    ],
)
async def test_queries_with_bad_key_values_are_rejected(
    store: Store, kwargs: dict[str, Any], message: str
) -> None:
    await _rejected(store.query(T, **kwargs), message)


async def test_engine_rejects_exactly_past_the_limits(dynamodb_store: DynamoStore) -> None:
    """The limits are DynamoDB's own: the engine takes a key at each limit and
    refuses it one byte longer (on every key attribute, index ones included)."""
    table = dynamodb_store.physical(T)
    at: dict[str, Any] = {
        "pk": {"S": sized("raw#", MAX_PARTITION_KEY_BYTES)},
        "sk": {"S": sized("", MAX_SORT_KEY_BYTES)},
        "gsi1pk": {"S": sized("", MAX_PARTITION_KEY_BYTES)},
        "gsi1sk": {"S": sized("", MAX_SORT_KEY_BYTES)},
    }
    async with get_session().create_client(
        "dynamodb",
        endpoint_url=dynamodb_store.endpoint,
        region_name="us-east-1",
        aws_access_key_id="prework",
        aws_secret_access_key="prework",
    ) as client:
        await client.put_item(TableName=table, Item=at)
        over = {
            "pk": MAX_PARTITION_KEY_BYTES + 1,
            "sk": MAX_SORT_KEY_BYTES + 1,
            "gsi1pk": MAX_PARTITION_KEY_BYTES + 1,
            "gsi1sk": MAX_SORT_KEY_BYTES + 1,
        }
        for name, size in over.items():
            with pytest.raises(ClientError) as caught:
                await client.put_item(TableName=table, Item={**at, name: {"S": sized("", size)}})
            assert caught.value.response["Error"]["Code"] == "ValidationException", name
        for name, value in (("gsi1pk", {"S": ""}), ("gsi1pk", {"N": "5"})):
            with pytest.raises(ClientError) as caught:
                await client.put_item(TableName=table, Item={**at, name: value})
            assert caught.value.response["Error"]["Code"] == "ValidationException", value
        await client.delete_item(TableName=table, Key={"pk": at["pk"], "sk": at["sk"]})


# ---------------------------------------------------------------------------- index key attributes
BAD_INDEX_VALUES: list[tuple[str, Any, str]] = [
    ("gsi1pk", "g" * 2049, _message("index key attribute gsi1pk", 2049, 2048)),
    ("gsi1sk", "é" * 513, _message("index key attribute gsi1sk", 1026, 1024)),
    ("gsi1pk", "", "index key attribute gsi1pk must be a non-empty string"),
    ("gsi1sk", "", "index key attribute gsi1sk must be a non-empty string"),
    ("gsi1pk", 5, "index key attribute gsi1pk must be a non-empty string"),
    ("gsi1sk", None, "index key attribute gsi1sk must be a non-empty string"),
    ("gsi1pk", b"bytes", "index key attribute gsi1pk must be a non-empty string"),
]
BAD_INDEX_IDS = ["long-pk", "long-sk", "empty-pk", "empty-sk", "number", "null", "bytes"]


@pytest.mark.parametrize(("name", "value", "message"), BAD_INDEX_VALUES, ids=BAD_INDEX_IDS)
@pytest.mark.parametrize("paired", [True, False], ids=["with-pair", "alone"])
async def test_bad_index_key_attributes_are_rejected_on_every_write(
    store: Store, ns: str, name: str, value: Any, message: str, paired: bool
) -> None:
    key = {"pk": f"{ns}#I", "sk": "S"}
    other = "gsi1sk" if name == "gsi1pk" else "gsi1pk"
    item: Item = {**key, name: value, **({other: "ok"} if paired else {})}
    await _rejected(store.put(T, item), message)
    await _rejected(store.batch_write(T, puts=[item]), message)
    await _rejected(store.transact_write([Put(T, item)]), message)
    await _rejected(store.update(T, key, UpdateSpec(set={name: value})), message)
    await _rejected(store.transact_write([Update(T, key, UpdateSpec(set={name: value}))]), message)
    assert await store.get(T, key) is None


@pytest.mark.parametrize(
    "spec",
    [
        UpdateSpec(add={"gsi1pk": 1}),
        UpdateSpec(add_to_set={"gsi1sk": ["x"]}),
        UpdateSpec(remove_from_set={"gsi1pk": ["x"]}),
    ],
    ids=["add", "add-to-set", "remove-from-set"],
)
async def test_index_key_attributes_are_only_set_or_removed(
    store: Store, ns: str, spec: UpdateSpec
) -> None:
    key = {"pk": f"{ns}#I", "sk": "S"}
    stored: Item = {**key, "gsi1pk": "g", "gsi1sk": "s"}
    await store.put(T, stored)
    await _rejected(store.update(T, key, spec))
    await _rejected(store.transact_write([Update(T, key, spec)]))
    assert await store.get(T, key) == stored
    await store.update(T, key, UpdateSpec(remove=["gsi1pk"]))
    assert (await store.query(T, index="gsi1", pk="g")).items == []


async def test_a_bad_key_value_is_rejected_before_any_condition_is_read(
    store: Store, ns: str
) -> None:
    key = {"pk": f"{ns}#I", "sk": "S"}
    await store.put(T, {**key, "version": 1})
    bad = UpdateSpec(set={"gsi1pk": ""})
    await _rejected(store.update(T, key, bad, condition=AttrEquals("version", 2)))
    await _rejected(store.transact_write([Update(T, key, bad, condition=AttrEquals("version", 2))]))
    with pytest.raises(ConditionFailed):  # the same update, valid: the condition decides
        await store.update(
            T, key, UpdateSpec(set={"gsi1pk": "g"}), condition=AttrEquals("version", 2)
        )


async def test_index_attributes_of_undeclared_indexes_are_plain_attributes(
    store: Store, ns: str
) -> None:
    # profiles declares gsi1 only; organizations declares no index
    item: Item = {"pk": f"{ns}#I", "sk": "S", "gsi2pk": 5, "gsi3sk": "", "gsi2sk": "é" * 1000}
    await store.put(T, item)
    assert await store.get(T, {"pk": f"{ns}#I", "sk": "S"}) == item
    org: Item = {"pk": f"{ns}#O", "sk": "ORG", "gsi1pk": 7, "gsi1sk": ""}
    await store.put("organizations", org)
    assert await store.get("organizations", {"pk": f"{ns}#O", "sk": "ORG"}) == org
    updated = await store.update(
        "organizations", {"pk": f"{ns}#O", "sk": "ORG"}, UpdateSpec(add={"gsi1pk": 1})
    )
    assert updated["gsi1pk"] == 8
