"""Upstream failures: errors pass through as the SDK would see them directly, and are metered; a stream the
upstream cuts is passed on cut and still metered."""

from __future__ import annotations

import httpx
import openai
import pytest

from conftest import (
    DIRECT_KEY,
    HTTP_TIMEOUT,
    MESSAGES,
    Simulator,
    Tollgate,
    event_classes,
    sse_data,
    zero_classes,
)

pytestmark = pytest.mark.proxy


@pytest.mark.parametrize(("status", "error_type"), [(500, openai.InternalServerError), (429, openai.RateLimitError)])
def test_upstream_error_passes_through(
    direct: openai.OpenAI, proxied: openai.OpenAI, tollgate: Tollgate, status: int, error_type: type
) -> None:
    fault = {"x-sim-error": str(status)}
    with pytest.raises(error_type) as want:
        direct.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=fault)
    mark = tollgate.mark()
    with pytest.raises(error_type) as got:
        proxied.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=fault)
    assert got.value.status_code == want.value.status_code == status
    assert got.value.body == want.value.body

    event = tollgate.one_new_event(mark)
    assert event["status"] == status
    assert event["model"] == "gpt-4o-mini"
    assert event_classes(event) == zero_classes()


def read_until_closed(url: str, body: dict, key: str, headers: dict[str, str]) -> tuple[bytes, Exception | None]:
    """Reads a stream to its end or until the connection breaks; returns the bytes and the error, if any."""
    received = b""
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT) as client:
            with client.stream("POST", url, json=body, headers={"Authorization": f"Bearer {key}", **headers}) as response:
                assert response.status_code == 200
                for piece in response.iter_raw():
                    received += piece
    except httpx.HTTPError as error:
        return received, error
    return received, None


def test_upstream_cut_mid_stream(sim: Simulator, tollgate: Tollgate) -> None:
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    full, _ = read_until_closed(sim.base_url + "/chat/completions", body, DIRECT_KEY, {})
    direct_cut, direct_error = read_until_closed(sim.base_url + "/chat/completions", body, DIRECT_KEY, {"x-sim-cut-after": "3"})
    assert direct_error is not None and len(sse_data(direct_cut)) == 3

    mark = tollgate.mark()
    got, error = read_until_closed(tollgate.base_url + "/chat/completions", body, tollgate.key, {"x-sim-cut-after": "3"})
    chunks = sse_data(got)
    assert "[DONE]" not in chunks, "the client was told the stream completed"
    assert len(chunks) <= 3 and chunks == sse_data(full)[: len(chunks)], "the partial stream differs from the upstream's"
    # Whether the proxy aborts the client connection too (`error` set) or ends the body cleanly is left open:
    # both give the client the partial stream without [DONE].

    event = tollgate.one_new_event(mark)
    assert event["stream"] is True
    assert isinstance(event["status"], int)
    if event["estimated"]:
        assert event["input_tokens"] + event["output_tokens"] > 0, "estimated, but nothing was estimated"
    else:
        assert event_classes(event) == zero_classes(), "no usage was reported, so unestimated counts must be zero"
