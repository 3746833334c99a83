"""The live hub's rule for a slow stream (`web.live`): dropped when its queue is full, never waited for, while
the other streams of its audience get every signal. (What a browser sees is in `tests/integration/test_web_signals.py`;
a client slow enough to fill a queue through loopback's socket buffers would need megabytes of signals.)"""

from __future__ import annotations

from dataclasses import replace

import pytest

from access import Tier, Viewer
from engine.events import SIGNAL_CREATED
from services import signals
from services.signals import SignalFilter
from tests.web_rig import web_rig
from web.live import LiveHub, LiveStreamsFull

TIMEOUT = 10.0


async def test_a_stream_too_far_behind_is_dropped_and_the_others_still_get_every_signal(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig:
        web_ctx = rig.app.web.app.state.web
        hub = LiveHub(web_ctx.ctx, rig.app.bus, web_ctx.templates, per_member=5, max_streams=5, queue_max=2)
        everything = signals.live_filter(web_ctx.ctx, Viewer(Tier.PRO), SignalFilter())
        reader = hub.open(("guild", 1), Tier.PRO, everything)
        slow = hub.open(("guild", 2), Tier.PRO, everything)  # never read
        template = (await rig.app.repos.signals.list(limit=1))[0]
        try:
            for n in range(4):
                signal = replace(template, id=f"slow-{n}", created_at=rig.now)
                async with rig.app.repos.db.transaction():
                    await rig.app.repos.signals.insert(signal)
                assert await rig.app.bus.publish(SIGNAL_CREATED, signal) == 0  # the engine never waits
                out, ended = await reader.next(TIMEOUT)
                assert f"id: slow-{n}\n".encode() in out and not ended
            assert hub.count == 1  # the slow one was dropped at its third signal ...
            out, ended = await slow.next(TIMEOUT)  # ... and ends at once, without a `closed` event: a
            assert ended and out == b""  # browser reconnects with Last-Event-ID and catches up
        finally:
            hub.close_all()


async def test_once_closed_for_shutdown_the_hub_opens_no_stream(template_db, tmp_path):
    async with web_rig(template_db, tmp_path) as rig:
        web_ctx = rig.app.web.app.state.web
        hub = LiveHub(web_ctx.ctx, rig.app.bus, web_ctx.templates, per_member=5, max_streams=5)
        everything = signals.live_filter(web_ctx.ctx, Viewer(Tier.PRO), SignalFilter())
        stream = hub.open(("guild", 1), Tier.PRO, everything)
        hub.close_all()  # the server begins to drain
        out, ended = await stream.next(TIMEOUT)
        assert ended and out == b"" and hub.count == 0
        with pytest.raises(LiveStreamsFull):  # a browser reconnecting meanwhile is told to come back later
            hub.open(("guild", 1), Tier.PRO, everything)
        assert hub.count == 0 and not rig.app.bus._handlers[SIGNAL_CREATED]
