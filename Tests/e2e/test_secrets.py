"""The provider key stays inside the proxy: never in what a client receives, never in the proxy's logs."""

from __future__ import annotations

import httpx
import pytest

from conftest import HTTP_TIMEOUT, MESSAGES, PROVIDER_KEY, Tollgate

pytestmark = pytest.mark.proxy


def exchanges(tollgate: Tollgate) -> list[tuple[str, httpx.Response]]:
    """A spread of successful and failing calls through the proxy, fully read (and decoded)."""
    chat = {"model": "gpt-4o-mini", "messages": MESSAGES}
    auth = {"Authorization": f"Bearer {tollgate.key}"}
    calls = [
        ("plain", chat, auth),
        ("stream", {**chat, "stream": True}, auth),
        ("upstream 401", chat, {**auth, "x-sim-error": "401"}),
        ("upstream 500", chat, {**auth, "x-sim-error": "500"}),
        ("bad key", chat, {"Authorization": "Bearer tg-wrong"}),
    ]
    results = []
    with httpx.Client(timeout=HTTP_TIMEOUT) as client:
        for name, body, headers in calls:
            results.append((name, client.post(tollgate.base_url + "/chat/completions", json=body, headers=headers)))
        results.append(("bad json", client.post(tollgate.base_url + "/chat/completions", content=b"{", headers=auth)))
        results.append(("unknown route", client.get(tollgate.origin + "/nope/x", headers=auth)))
        results.append(("models", client.get(tollgate.base_url + "/models", headers=auth)))
    return results


def test_provider_key_never_reaches_the_client(tollgate: Tollgate) -> None:
    for name, response in exchanges(tollgate):
        assert PROVIDER_KEY not in response.text, f"{name}: provider key in the body"
        assert PROVIDER_KEY not in str(list(response.headers.items())), f"{name}: provider key in a header"


def test_provider_key_never_logged(tollgate: Tollgate) -> None:
    exchanges(tollgate)
    assert PROVIDER_KEY not in tollgate.stderr(), "tollgate logged the provider key"
