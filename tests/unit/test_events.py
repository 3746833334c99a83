"""The event bus: every subscriber gets every event, and a failing one stops neither the others nor
the publisher."""

from __future__ import annotations

import logging

from engine.events import SIGNAL_CREATED, EventBus


async def test_a_failing_subscriber_never_stops_the_others(caplog):
    bus = EventBus()
    seen: list[tuple[str, object]] = []

    async def first(payload):
        seen.append(("first", payload))

    async def broken(payload):
        raise RuntimeError("surface down")

    async def last(payload):
        seen.append(("last", payload))

    for handler in (first, broken, last):
        bus.subscribe(SIGNAL_CREATED, handler)
    with caplog.at_level(logging.ERROR):
        failures = await bus.publish(SIGNAL_CREATED, "s1")
    assert failures == 1
    assert seen == [("first", "s1"), ("last", "s1")]
    assert "surface down" in caplog.text


async def test_topics_are_separate_and_unsubscribe_works():
    bus = EventBus()
    seen = []

    async def handler(payload):
        seen.append(payload)

    bus.subscribe("clv.graded", handler)
    await bus.publish(SIGNAL_CREATED, "nope")
    await bus.publish("clv.graded", "yes")
    bus.unsubscribe("clv.graded", handler)
    await bus.publish("clv.graded", "gone")
    assert seen == ["yes"]
