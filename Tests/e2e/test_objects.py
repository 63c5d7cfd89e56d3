"""Provider objects through the proxy: realtime refused; files, batches, stored responses and Anthropic message
batches owned per customer; batch results and background responses metered once.

Two customers with different virtual keys share one proxy (and one provider account, the simulator): what one
creates, the other can neither see nor reach, and a refused request never reaches the simulator.
"""

from __future__ import annotations

import httpx
import openai
import pytest

from conftest import HTTP_TIMEOUT, Simulator, Tollgate

pytestmark = pytest.mark.proxy


def upstream_paths(sim: Simulator) -> list[str]:
    """`METHOD path` of every request the simulator received since it was last cleared."""
    return [f"{entry['method']} {entry['path']}" for entry in sim.requests()]


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/v1/realtime"),
        ("POST", "/v1/realtime/sessions"),
        ("POST", "/v1/realtime/client_secrets"),
        ("POST", "/v1/realtime/transcription_sessions"),
        ("POST", "/openai/v1/realtime/client_secrets"),
    ],
)
def test_realtime_is_refused_before_the_provider(tollgate: Tollgate, sim: Simulator, method: str, path: str) -> None:
    sim.clear_requests()
    response = httpx.request(
        method, tollgate.origin + path, headers={"Authorization": f"Bearer {tollgate.key}"}, json={}, timeout=HTTP_TIMEOUT
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "realtime_not_metered"
    assert "client secrets" in error["message"]
    assert upstream_paths(sim) == []


def test_realtime_client_secret_through_the_sdk_raises_permission_denied(tollgate: Tollgate, sim: Simulator) -> None:
    sim.clear_requests()
    with pytest.raises(openai.PermissionDeniedError) as raised:
        tollgate.client().post("/realtime/client_secrets", body={"session": {"type": "realtime"}}, cast_to=object)
    assert raised.value.code == "realtime_not_metered"
    assert upstream_paths(sim) == []
