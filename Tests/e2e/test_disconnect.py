"""A client that hangs up mid-stream is still metered, in full: the proxy keeps reading the upstream."""

from __future__ import annotations

import httpx
import openai
import pytest

from conftest import HTTP_TIMEOUT, Tollgate, event_classes, usage_classes

pytestmark = pytest.mark.proxy

MESSAGES = [{"role": "user", "content": "Count the slow tokens for me"}]
SLOW = {"x-sim-delay-ms": "250"}


def test_client_disconnect_mid_stream(direct: openai.OpenAI, tollgate: Tollgate) -> None:
    reference = list(direct.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ))[-1].usage

    mark = tollgate.mark()
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    seen = 0
    with httpx.Client(timeout=HTTP_TIMEOUT) as client:
        with client.stream("POST", tollgate.base_url + "/chat/completions", json=body,
                           headers={"Authorization": f"Bearer {tollgate.key}", **SLOW}) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                seen += line.startswith("data: ")
                if seen == 2:
                    break
        # Leaving both blocks closes the half-read response and its connection: the client is gone.
    assert seen == 2

    # The rest of the stream takes a few seconds upstream; the event comes when the proxy has read it all.
    event = tollgate.one_new_event(mark, timeout=30.0)
    assert event["status"] == 499
    assert event["stream"] is True
    assert event_classes(event) == usage_classes(reference, "chat")
