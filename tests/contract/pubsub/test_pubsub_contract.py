"""The event bus contract (prework.pubsub.base), run against every backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from prework.errors import LimitExceeded, Unavailable, ValidationFailed
from prework.pubsub.base import (
    MAX_EVENT_BYTES,
    MAX_TOPICS,
    Message,
    PubSub,
    Subscription,
    SubscriptionLagged,
    org_topic,
)
from prework.pubsub.memory import MemoryPubSub

BACKENDS = ("memory",)
QUEUE = 8  # a small queue, so the lag rule is cheap to reach


@pytest.fixture(params=BACKENDS)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[PubSub]:
    assert request.param == "memory"
    b = MemoryPubSub(queue_size=QUEUE)
    try:
        yield b
    finally:
        await b.close()


async def next_message(sub: Subscription, within: float = 2.0) -> Message:
    async with asyncio.timeout(within):
        return await anext(aiter(sub))


async def nothing_arrives(sub: Subscription) -> None:
    with pytest.raises(TimeoutError):
        await next_message(sub, within=0.05)


async def test_a_subscriber_gets_what_is_published_to_its_topics(bus: PubSub) -> None:
    async with await bus.subscribe([org_topic("a"), "other"]) as sub:
        await bus.publish(org_topic("a"), {"type": "team.created", "id": "t1"})
        await bus.publish("other", {"type": "x", "n": 1})
        first, second = await next_message(sub), await next_message(sub)
    assert first == Message("org:a", {"type": "team.created", "id": "t1"})
    assert second == Message("other", {"type": "x", "n": 1})


async def test_topics_are_separate(bus: PubSub) -> None:
    async with await bus.subscribe([org_topic("a")]) as a, await bus.subscribe(["org:b"]) as b:
        await bus.publish(org_topic("b"), {"n": 1})
        assert (await next_message(b)).event == {"n": 1}
        await nothing_arrives(a)


async def test_only_events_after_subscribing_arrive(bus: PubSub) -> None:
    await bus.publish("t", {"n": 0})  # nobody listens: gone
    async with await bus.subscribe(["t"]) as sub:
        await bus.publish("t", {"n": 1})
        assert (await next_message(sub)).event == {"n": 1}
        await nothing_arrives(sub)


async def test_every_subscriber_gets_its_own_copy_in_publish_order(bus: PubSub) -> None:
    event: dict[str, Any] = {"list": [1, 2], "nested": {"k": "v"}}
    async with await bus.subscribe(["t"]) as one, await bus.subscribe(["t"]) as two:
        for n in range(5):
            await bus.publish("t", {**event, "n": n})
        event["list"].append(3)  # the publisher's object is not what subscribers hold
        got_one = [(await next_message(one)).event for _ in range(5)]
        got_two = [(await next_message(two)).event for _ in range(5)]
    assert [e["n"] for e in got_one] == [0, 1, 2, 3, 4]
    assert got_one == got_two
    assert got_one[0]["list"] == [1, 2]
    got_one[0]["nested"]["k"] = "changed"
    assert got_two[0]["nested"]["k"] == "v"


async def test_events_arrive_as_json_would_carry_them(bus: PubSub) -> None:
    async with await bus.subscribe(["t"]) as sub:
        await bus.publish("t", {"tuple": (1, 2), "unicode": "ünï 🦺", "none": None})
        assert (await next_message(sub)).event == {
            "tuple": [1, 2],
            "unicode": "ünï 🦺",
            "none": None,
        }


@pytest.mark.parametrize(
    "event", [["not", "an", "object"], {"when": object()}, {1: "non-text key"}, "text"]
)
async def test_what_is_not_a_json_object_is_refused(bus: PubSub, event: object) -> None:
    async with await bus.subscribe(["t"]) as sub:
        with pytest.raises(ValidationFailed) as info:
            await bus.publish("t", event)  # type: ignore[arg-type]
        assert info.value.code == "invalid_event"
        await nothing_arrives(sub)


async def test_an_event_too_large_is_refused(bus: PubSub) -> None:
    async with await bus.subscribe(["t"]) as sub:
        await bus.publish("t", {"s": "x" * (MAX_EVENT_BYTES - 20)})  # just fits
        with pytest.raises(LimitExceeded) as info:
            await bus.publish("t", {"s": "x" * MAX_EVENT_BYTES})
        assert info.value.code == "event_too_large"
        assert len((await next_message(sub)).event["s"]) == MAX_EVENT_BYTES - 20
        await nothing_arrives(sub)


@pytest.mark.parametrize("topic", ["", "has space", "x" * 257, "ünï", "a/b", "new\nline"])
async def test_bad_topics_are_refused(bus: PubSub, topic: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        await bus.publish(topic, {})
    assert info.value.code == "invalid_topic"
    with pytest.raises(ValidationFailed):
        await bus.subscribe([topic])


async def test_a_subscription_names_one_to_max_topics(bus: PubSub) -> None:
    with pytest.raises(ValidationFailed):
        await bus.subscribe([])
    with pytest.raises(ValidationFailed):
        await bus.subscribe([f"t{i}" for i in range(MAX_TOPICS + 1)])
    with pytest.raises(TypeError):
        await bus.subscribe("t")  # one string is not a list of topics
    async with await bus.subscribe([f"t{i}" for i in range(MAX_TOPICS)]) as sub:
        await bus.publish(f"t{MAX_TOPICS - 1}", {"last": True})
        assert (await next_message(sub)).event == {"last": True}


async def test_a_subscriber_that_falls_behind_is_told_once_at_the_gap(bus: PubSub) -> None:
    async with await bus.subscribe(["t"]) as slow, await bus.subscribe(["t"]) as fast:
        for n in range(QUEUE + 5):
            await bus.publish("t", {"n": n})
            assert (await next_message(fast)).event == {"n": n}  # keeps up: loses nothing
        got: list[int] = []

        async def drain() -> None:
            async for message in slow:
                got.append(message.event["n"])

        with pytest.raises(SubscriptionLagged) as info:
            await drain()
        assert got == list(range(QUEUE))
        assert info.value.details == {"dropped": 5}
        # after reloading, the subscriber goes on with what comes next
        await bus.publish("t", {"n": "after"})
        assert (await next_message(slow)).event == {"n": "after"}


async def test_closing_a_subscription_ends_its_iteration(bus: PubSub) -> None:
    sub = await bus.subscribe(["t"])
    received: list[Message] = []

    async def consume() -> None:
        async for message in sub:
            received.append(message)

    task = asyncio.create_task(consume())
    await bus.publish("t", {"n": 1})
    await asyncio.sleep(0.01)
    await sub.close()
    await asyncio.wait_for(task, 2)
    await sub.close()  # idempotent
    await bus.publish("t", {"n": 2})  # no longer delivered, no error
    assert [m.event for m in received] == [{"n": 1}]


async def test_closing_the_bus_ends_every_subscription(bus: PubSub) -> None:
    sub = await bus.subscribe(["t"])
    task = asyncio.create_task(anext(aiter(sub), None))
    await asyncio.sleep(0.01)
    await bus.ping()
    await bus.close()
    assert await asyncio.wait_for(task, 2) is None
    with pytest.raises(Unavailable):
        await bus.publish("t", {})
    with pytest.raises(Unavailable):
        await bus.ping()
    await bus.close()  # idempotent
