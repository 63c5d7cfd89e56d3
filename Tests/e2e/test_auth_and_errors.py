"""The proxy's own errors: keys it does not accept, bodies it cannot read, routes it does not have."""

from __future__ import annotations

import json
import uuid

import openai
import pytest

from conftest import MESSAGES, Simulator, Tollgate, after_key_change, raw_post

pytestmark = pytest.mark.proxy


def assert_error_shape(body: bytes) -> dict:
    """An OpenAI-style error body: {"error": {"message", "type", "code", ...}}."""
    error = json.loads(body)["error"]
    assert {"message", "type", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"]
    return error


def test_bad_key_is_rejected_before_the_upstream(sim: Simulator, tollgate: Tollgate) -> None:
    sim.clear_requests()
    with pytest.raises(openai.AuthenticationError) as raised:
        tollgate.client(key="tg-not-a-real-key").chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert raised.value.status_code == 401
    assert sim.requests() == [], "a request with a bad key reached the upstream"


def test_missing_key(tollgate: Tollgate) -> None:
    response = raw_post(tollgate.base_url + "/chat/completions", {"model": "gpt-4o", "messages": MESSAGES}, key=None)
    assert response.status == 401
    assert_error_shape(response.decoded())


def test_revoked_key(tollgate: Tollgate) -> None:
    customer = f"cust-revoke-{uuid.uuid4().hex[:8]}"
    key = tollgate.create_key(customer)
    client = tollgate.client(key=key)
    mark = tollgate.mark()
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    event = tollgate.one_new_event(mark)
    assert event["customer"] == customer

    tollgate.cli("keys", "revoke", event["key_id"])
    after_key_change()
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)


def test_invalid_json_body(tollgate: Tollgate) -> None:
    response = raw_post(tollgate.base_url + "/chat/completions", b'{"model": "gpt-4o", "messages": [', tollgate.key)
    assert response.status == 400
    assert_error_shape(response.decoded())


def test_unknown_route(tollgate: Tollgate) -> None:
    response = raw_post(tollgate.origin + "/nope/x", {"model": "gpt-4o"}, tollgate.key)
    assert response.status == 404


def test_escaped_inference_path_is_still_metered(tollgate: Tollgate) -> None:
    """`/v1/chat/completion%73` is the chat route to any server that decodes paths: it must not pass unmetered."""
    mark = tollgate.mark()
    response = raw_post(tollgate.base_url + "/chat/completion%73", {"model": "gpt-4o", "messages": MESSAGES}, tollgate.key)
    assert response.status == 200
    event = tollgate.one_new_event(mark)
    assert event["route"] == "openai.chat"
    assert event["output_tokens"] > 0


def test_dot_segments_and_escaped_slashes_are_refused(tollgate: Tollgate) -> None:
    for path in ("/v1/%2e%2e/v1/chat/completions", "/v1%2Fchat/completions"):
        response = raw_post(tollgate.origin + path, {"model": "gpt-4o", "messages": MESSAGES}, tollgate.key)
        assert response.status == 400, path
        assert_error_shape(response.decoded())
