"""The hostile catalogue against a real node: every frame gets its exact answer, nothing is
``internal``, the node logs no traceback, and honest visitors still match and chat."""

from __future__ import annotations

import contextlib
import json
import re
import time

from benchmarks.hostile import CATALOGUE, run_catalogue
from signaling.protocol import CLIENT_TYPES
from tests.support.caller import Caller
from tests.support.door import open_session
from tests.support.servers import DuetServer


async def test_every_hostile_frame_gets_its_code_and_honest_visitors_carry_on(
    duet: DuetServer, callers: list[object]
) -> None:
    kinds = set()
    for case in CATALOGUE:
        with contextlib.suppress(ValueError, AttributeError, RecursionError):
            kinds.add(str(json.loads(case.frame).get("type")))
    assert kinds >= CLIENT_TYPES, f"no case for {CLIENT_TYPES - kinds}"

    token = (await open_session(duet.url))["token"]
    started = time.monotonic()
    results = await run_catalogue(f"{duet.ws_url}?token={token}")
    elapsed = time.monotonic() - started
    wrong = [
        f"{case.name}: expected {case.close or case.expect}, got {outcome}"
        for case, outcome in results
        if not outcome.matches(case)
    ]
    assert not wrong, "\n".join(wrong)
    assert len(results) == len(CATALOGUE)
    assert not any("internal" in outcome.codes for _, outcome in results)
    log = duet.log()
    assert "Traceback" not in log, log[-3000:]
    assert not re.search(r" ERROR ", log), log[-3000:]

    # Two honest visitors still match, chat, and receive exactly what was sent (sanitised).
    a = await Caller(duet.ws_url).connect()
    b = await Caller(duet.ws_url).connect()
    callers.extend([a, b])
    await a.join("text")
    await b.join("text")
    await a.wait_for("matched")
    await b.wait_for("matched")
    await a.send({"type": "chat", "text": "hello \u202eb\u200b"})
    assert (await b.wait_for("chat"))["text"] == "hello b"
    await b.send({"type": "chat", "text": "hi a"})
    assert (await a.wait_for("chat"))["text"] == "hi a"
    assert a.count("error") == 0 and b.count("error") == 0
    print(f"{len(results)} hostile frames answered in {elapsed:.2f} s")
