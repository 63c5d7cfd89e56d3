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


# --- stored objects ------------------------------------------------------------------------------------------------

import io
import json
import uuid
from decimal import Decimal

import anthropic

from conftest import PROVIDER_KEY  # noqa: E402  (kept with the section that needs it)

ALICE = "cust-objects-alice"
BOB = "cust-objects-bob"


@pytest.fixture(scope="module")
def keys(tollgate: Tollgate) -> dict[str, str]:
    """A virtual key for each of two customers."""
    return {ALICE: tollgate.create_key(ALICE), BOB: tollgate.create_key(BOB)}


def batch_input(*prompts: str) -> bytes:
    """A Batch API input file: one chat request per prompt, custom ids req-1, req-2, …"""
    lines = [
        {
            "custom_id": f"req-{index}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]},
        }
        for index, prompt in enumerate(prompts, start=1)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def events_of(tollgate: Tollgate, customer: str, route: str) -> list[dict]:
    return [event for event in tollgate.events() if event["customer"] == customer and event["route"] == route]


def test_a_file_is_reachable_only_by_the_customer_that_uploaded_it(tollgate: Tollgate, sim: Simulator, keys: dict) -> None:
    alice, bob = tollgate.client(keys[ALICE]), tollgate.client(keys[BOB])
    uploaded = alice.files.create(file=("prompts.jsonl", io.BytesIO(batch_input("hello"))), purpose="batch")
    assert uploaded.id.startswith("file-")
    assert alice.files.retrieve(uploaded.id).filename == "prompts.jsonl"
    assert alice.files.content(uploaded.id).content == batch_input("hello")
    assert uploaded.id in [item.id for item in alice.files.list()]

    sim.clear_requests()
    with pytest.raises(openai.NotFoundError) as raised:
        bob.files.retrieve(uploaded.id)
    assert raised.value.body["message"] == f"No such File object: {uploaded.id}"
    with pytest.raises(openai.NotFoundError):
        bob.files.content(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        bob.files.delete(uploaded.id)
    assert uploaded.id not in [item.id for item in bob.files.list()]
    assert upstream_paths(sim) == [], "refused requests reached the provider"

    refused = [e for e in events_of(tollgate, BOB, "objects") if e["status"] == 404]
    assert len(refused) >= 3 and all(e["price"] == "0" or Decimal(e["price"]) == 0 for e in refused)

    assert alice.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        alice.files.retrieve(uploaded.id)


def test_list_pages_only_the_callers_objects(tollgate: Tollgate, keys: dict) -> None:
    alice, bob = tollgate.client(keys[ALICE]), tollgate.client(keys[BOB])
    mine = [alice.files.create(file=(f"f{n}.jsonl", io.BytesIO(b"{}\n")), purpose="batch").id for n in range(3)]
    theirs = bob.files.create(file=("b.jsonl", io.BytesIO(b"{}\n")), purpose="batch").id
    first = alice.files.list(limit=2)
    assert len(first.data) == 2 and first.has_more
    listed = [item.id for item in alice.files.list(limit=2)]  # the SDK pages through every page
    assert set(mine) <= set(listed)
    assert theirs not in listed
    assert listed == sorted(listed, key=listed.index)  # newest first, no duplicates
    assert len(listed) == len(set(listed))


def test_batch_results_are_metered_once_per_line_at_batch_rates(tollgate: Tollgate, sim: Simulator, keys: dict) -> None:
    alice, bob = tollgate.client(keys[ALICE]), tollgate.client(keys[BOB])
    input_file = alice.files.create(file=("batch.jsonl", io.BytesIO(batch_input("one two", "three four five"))), purpose="batch")

    sim.clear_requests()
    with pytest.raises(openai.NotFoundError):
        bob.batches.create(input_file_id=input_file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert upstream_paths(sim) == []

    batch = alice.batches.create(input_file_id=input_file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert alice.batches.retrieve(batch.id).status == "in_progress"
    done = alice.batches.retrieve(batch.id)
    assert done.status == "completed" and done.output_file_id
    sim.clear_requests()
    with pytest.raises(openai.NotFoundError):
        bob.batches.retrieve(batch.id)
    with pytest.raises(openai.NotFoundError):
        bob.files.content(done.output_file_id)
    with pytest.raises(openai.NotFoundError):
        bob.batches.cancel(batch.id)
    assert batch.id not in [item.id for item in bob.batches.list()]
    assert upstream_paths(sim) == []
    assert [item.id for item in alice.batches.list()][0] == batch.id

    # What the same requests cost at the standard tier, asked directly.
    direct = {}
    for custom_id, prompt in (("req-1", "one two"), ("req-2", "three four five")):
        mark = tollgate.mark()
        alice.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}])
        direct[custom_id] = tollgate.one_new_event(mark)

    mark = tollgate.mark()
    content = alice.files.content(done.output_file_id).content
    lines = [json.loads(line) for line in content.decode().splitlines()]
    assert [line["custom_id"] for line in lines] == ["req-1", "req-2"]
    metered = tollgate.new_events(mark, count=2, where=lambda e: e["route"] == "batch_result")
    assert len(metered) == 2
    for event in metered:
        custom_id = event["note"].split("custom_id ")[1].split(";")[0]
        line = next(line for line in lines if line["custom_id"] == custom_id)
        usage = line["response"]["body"]["usage"]
        assert event["customer"] == ALICE
        assert event["service_tier"] == "batch"
        assert event["input_tokens"] == usage["prompt_tokens"] and event["output_tokens"] == usage["completion_tokens"]
        standard = direct[custom_id]
        assert (event["input_tokens"], event["output_tokens"]) == (standard["input_tokens"], standard["output_tokens"])
        assert Decimal(event["cost"]) * 2 == Decimal(standard["cost"]) > 0
        assert Decimal(event["price"]) * 2 == Decimal(standard["price"])

    mark = tollgate.mark()
    assert alice.files.content(done.output_file_id).content == content
    again = tollgate.new_events(mark, count=1)  # the `objects` event of the retrieval
    assert [e["route"] for e in again] == ["objects"]
    assert len(events_of(tollgate, ALICE, "batch_result")) == 2


def test_anthropic_message_batch_results_metered_once(tollgate: Tollgate, sim: Simulator, keys: dict) -> None:
    alice = tollgate.anthropic_client(keys[ALICE])
    bob = tollgate.anthropic_client(keys[BOB])
    requests = [
        {"custom_id": f"m-{n}", "params": {"model": "claude-sonnet-4-5", "max_tokens": 64,
                                            "messages": [{"role": "user", "content": f"hello number {n}"}]}}
        for n in (1, 2, 3)
    ]
    batch = alice.messages.batches.create(requests=requests)
    assert batch.processing_status == "in_progress"
    sim.clear_requests()
    with pytest.raises(anthropic.NotFoundError):
        bob.messages.batches.retrieve(batch.id)
    with pytest.raises(anthropic.NotFoundError):
        bob.messages.batches.cancel(batch.id)
    assert upstream_paths(sim) == []

    ended = alice.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.results_url.startswith(tollgate.origin), ended.results_url
    before = len(events_of(tollgate, ALICE, "batch_result"))
    results = list(alice.messages.batches.results(batch.id))
    assert sorted(result.custom_id for result in results) == ["m-1", "m-2", "m-3"]
    metered = [e for e in events_of(tollgate, ALICE, "batch_result") if e["provider"] == "anthropic"]
    assert len(metered) == 3
    for event in metered:
        result = next(r for r in results if f"custom_id {r.custom_id}" in event["note"])
        assert event["service_tier"] == "batch"
        assert event["input_tokens"] == result.result.message.usage.input_tokens
        assert event["output_tokens"] == result.result.message.usage.output_tokens
        assert Decimal(event["price"]) > 0
    list(alice.messages.batches.results(batch.id))
    assert len(events_of(tollgate, ALICE, "batch_result")) == before + 3
    sim.clear_requests()
    with pytest.raises(anthropic.NotFoundError):
        list(bob.messages.batches.results(batch.id))
    assert upstream_paths(sim) == []


def test_background_response_billed_once_when_first_retrieved_complete(tollgate: Tollgate, sim: Simulator, keys: dict) -> None:
    alice, bob = tollgate.client(keys[ALICE]), tollgate.client(keys[BOB])
    mark = tollgate.mark()
    created = alice.responses.create(model="gpt-4o-mini", input="Say something in the background", background=True)
    assert created.status == "queued" and created.usage is None
    creation = tollgate.one_new_event(mark)
    assert creation["route"] == "openai.responses" and not creation["estimated"]
    assert creation["input_tokens"] == creation["output_tokens"] == 0 and Decimal(creation["price"]) == 0

    sim.clear_requests()
    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.create(model="gpt-4o-mini", input="continue", previous_response_id=created.id)
    assert upstream_paths(sim) == []

    mark = tollgate.mark()
    assert alice.responses.retrieve(created.id).status == "in_progress"
    assert all(e["route"] == "objects" for e in tollgate.new_events(mark, count=1))
    mark = tollgate.mark()
    done = alice.responses.retrieve(created.id)
    assert done.status == "completed" and done.usage is not None
    billed = [e for e in tollgate.new_events(mark, count=2) if e["route"] == "openai.responses"]
    assert len(billed) == 1
    assert billed[0]["input_tokens"] == done.usage.input_tokens and billed[0]["output_tokens"] == done.usage.output_tokens
    assert Decimal(billed[0]["price"]) > 0
    mark = tollgate.mark()
    alice.responses.retrieve(created.id)
    assert [e["route"] for e in tollgate.new_events(mark, count=1)] == ["objects"]

    # A stored response chains for its owner.
    follow = alice.responses.create(model="gpt-4o-mini", input="and then?", previous_response_id=created.id)
    assert follow.status == "completed"


def test_batch_results_are_spent_from_a_prepaid_balance_once(tollgate: Tollgate, sim: Simulator) -> None:
    """A prepaid customer's batch: each result line's price is spent from its credits when the results are read,
    and a second reading spends nothing more."""
    customer = "obj-prepaid"
    key = tollgate.create_key(customer)
    tollgate.cli("credits", "grant", "--customer", customer, "--amount", "10")
    client = tollgate.anthropic_client(key)
    requests = [
        {"custom_id": f"p-{n}", "params": {"model": "claude-sonnet-4-5", "max_tokens": 64,
                                            "messages": [{"role": "user", "content": f"prepaid {n}"}]}}
        for n in (1, 2)
    ]
    batch = client.messages.batches.create(requests=requests)
    assert client.messages.batches.retrieve(batch.id).processing_status == "ended"

    def spent() -> Decimal:
        figures = json.loads(tollgate.cli("credits", "balance", "--customer", customer, "--format", "json").stdout)
        return Decimal(figures["spent"])

    before = spent()
    list(client.messages.batches.results(batch.id))
    lines = [e for e in events_of(tollgate, customer, "batch_result")]
    assert len(lines) == 2
    total = sum((Decimal(e["price"]) for e in lines), Decimal(0))
    assert total > 0 and spent() - before == total
    list(client.messages.batches.results(batch.id))
    assert spent() - before == total, "a second reading spends nothing more"


def test_creating_a_file_or_batch_again_with_one_idempotency_key_creates_one(tollgate: Tollgate, sim: Simulator, keys: dict) -> None:
    """A retried upload or batch creation (the SDK draws a new multipart boundary on each attempt) gets the first
    answer: one object at the provider, so a batch is never run, and billed, twice."""
    alice = tollgate.client(keys[ALICE])
    upload_key, batch_key = f"upload-{uuid.uuid4()}", f"batch-{uuid.uuid4()}"
    sim.clear_requests()
    uploads = [
        alice.files.create(file=("retry.jsonl", io.BytesIO(batch_input("again"))), purpose="batch", extra_headers={"Idempotency-Key": upload_key})
        for _ in range(2)
    ]
    batches = [
        alice.batches.create(
            input_file_id=uploads[0].id, endpoint="/v1/chat/completions", completion_window="24h",
            extra_headers={"Idempotency-Key": batch_key})
        for _ in range(2)
    ]
    assert uploads[0].id == uploads[1].id and batches[0].id == batches[1].id
    assert upstream_paths(sim) == ["POST /v1/files", "POST /v1/batches"]
