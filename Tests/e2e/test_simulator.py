"""The simulator on its own: the official SDK must parse everything it sends, and its fidelity details
(usage framing, gzip, faults, replay, inspection) must hold, since the proxy tests rely on them."""

from __future__ import annotations

import base64
import gzip
import json
import struct
from pathlib import Path

import httpx
import openai
import pytest

from conftest import DIRECT_KEY, MESSAGES, RECORDED_DIR, Simulator, sse_data, start_simulator, stop_process

AUTH = {"Authorization": f"Bearer {DIRECT_KEY}"}


def test_chat_plain_parses_and_counts(direct: openai.OpenAI) -> None:
    completion = direct.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Hello! You said: Tell me, what is a token meter?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.system_fingerprint == "fp_sim" and completion.service_tier == "default"
    usage = completion.usage
    # Hello | ! | You | said | : | Tell | me | , | what | is | a | token | meter | ?
    assert usage.completion_tokens == 14
    # 3 for the reply, then 3 per message plus its words and punctuation ("Be brief." is 3, the question 9).
    assert usage.prompt_tokens == 3 + (3 + 3) + (3 + 9)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details.reasoning_tokens == 0
    # Same request, same body: ids are derived from the content.
    assert direct.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).model_dump() == completion.model_dump()


def test_chat_reasoning_cached_and_capped(direct: openai.OpenAI) -> None:
    completion = direct.chat.completions.create(
        model="gpt-5-mini", messages=MESSAGES, extra_headers={"x-sim-cached-tokens": "4"}
    )
    usage = completion.usage
    assert completion.model == "gpt-5-mini-2025-08-07"
    assert usage.completion_tokens_details.reasoning_tokens == 16
    assert usage.prompt_tokens_details.cached_tokens == 4
    full = usage.completion_tokens - 16
    capped = direct.chat.completions.create(model="gpt-5-mini", messages=MESSAGES, max_completion_tokens=19)
    assert capped.choices[0].finish_reason == "length"
    assert capped.usage.completion_tokens == 19 and capped.usage.completion_tokens_details.reasoning_tokens == 16
    assert full > 3
    # The cached count can never exceed the prompt.
    huge = direct.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers={"x-sim-cached-tokens": "9999"})
    assert huge.usage.prompt_tokens_details.cached_tokens == huge.usage.prompt_tokens


def test_chat_content_parts(direct: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "alpha beta"}, {"type": "text", "text": "gamma"}]}]
    completion = direct.chat.completions.create(model="gpt-4o", messages=messages)
    assert completion.choices[0].message.content == "Hello! You said: alpha beta gamma"


def test_json_escapes_round_trip(sim: Simulator) -> None:
    """Request JSON with escapes, surrogate pairs and raw UTF-8 is read correctly and written back escaped."""
    text = r'caf\u00e9 \"quoted\" back\\slash tab\there \ud83d\ude00 naïve \u2028 \/'
    raw = '{"model":"gpt-4o","messages":[{"role":"user","content":"%s"}],"temperature":0.5,"x":[true,null,-1.5e3]}' % text
    response = httpx.post(sim.base_url + "/chat/completions", content=raw.encode(), headers=AUTH, timeout=10)
    assert response.status_code == 200
    content = response.json()["choices"][0]["message"]["content"]
    assert content == "Hello! You said: " + " ".join(json.loads('"%s"' % text).split())


@pytest.mark.parametrize("body", [b"", b"[]", b'{"a":1', b'{"a":1}x', b'{"a":"\x01"}', b'{"a":tru}', b"\xff"])
def test_malformed_json_is_400(sim: Simulator, body: bytes) -> None:
    response = httpx.post(sim.base_url + "/chat/completions", content=body, headers=AUTH, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_chat_stream_usage_framing(sim: Simulator) -> None:
    """include_usage: every chunk has "usage":null, then a choices:[] usage chunk; without it, no usage key at all."""
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    without = httpx.post(sim.base_url + "/chat/completions", json=body, headers=AUTH, timeout=10).content
    body["stream_options"] = {"include_usage": True}
    with_usage = httpx.post(sim.base_url + "/chat/completions", json=body, headers=AUTH, timeout=10).content

    plain_chunks = sse_data(without)
    assert plain_chunks[-1] == "[DONE]"
    assert all('"usage"' not in chunk for chunk in plain_chunks)
    first = json.loads(plain_chunks[0])
    assert list(first) == ["id", "object", "created", "model", "service_tier", "system_fingerprint", "choices"]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert json.loads(plain_chunks[-2])["choices"][0]["finish_reason"] == "stop"

    usage_chunks = sse_data(with_usage)
    assert usage_chunks[-1] == "[DONE]"
    parsed = [json.loads(chunk) for chunk in usage_chunks[:-1]]
    assert all(chunk["usage"] is None for chunk in parsed[:-1])
    assert parsed[-1]["choices"] == [] and parsed[-1]["usage"]["completion_tokens"] == len(parsed) - 3
    assert list(parsed[-1]) == list(first) + ["usage"]
    # Apart from the usage members and the usage chunk, the two streams are the same bytes.
    stripped = [chunk.replace(',"usage":null', "") for chunk in usage_chunks[:-2]] + ["[DONE]"]
    assert stripped == plain_chunks


def test_chat_stream_sdk(direct: openai.OpenAI) -> None:
    chunks = list(direct.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ))
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "Hello! You said: Tell me, what is a token meter?"
    assert chunks[-1].usage.completion_tokens == len(chunks) - 3


def test_completions(direct: openai.OpenAI, sim: Simulator) -> None:
    plain = direct.completions.create(model="babbage-002", prompt="one two three", max_tokens=50)
    assert plain.object == "text_completion"
    assert plain.choices[0].text == "Hello! You said: one two three"
    assert plain.usage.prompt_tokens == 3 and plain.usage.completion_tokens == 8
    # OpenAI's default max_tokens for this endpoint is 16.
    long_prompt = " ".join(f"w{i}" for i in range(20))
    assert direct.completions.create(model="babbage-002", prompt=long_prompt).choices[0].finish_reason == "length"

    chunks = list(direct.completions.create(
        model="babbage-002", prompt="one two three", stream=True, stream_options={"include_usage": True}
    ))
    assert "".join(chunk.choices[0].text for chunk in chunks if chunk.choices) == plain.choices[0].text
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == plain.usage.total_tokens
    raw = httpx.post(
        sim.base_url + "/completions", json={"model": "babbage-002", "prompt": "x", "stream": True}, headers=AUTH, timeout=10
    ).content
    assert b'"usage"' not in raw and raw.endswith(b"data: [DONE]\n\n")


def test_embeddings_float_and_base64_agree(direct: openai.OpenAI, sim: Simulator) -> None:
    floats = direct.embeddings.create(model="text-embedding-3-small", input=["hello world", "bye"], encoding_format="float")
    assert [len(item.embedding) for item in floats.data] == [1536, 1536]
    assert floats.usage.prompt_tokens == 3 and floats.usage.total_tokens == 3
    assert floats.model == "text-embedding-3-small"
    # The SDK's default asks for base64 and decodes it; it must give the same float32 values.
    decoded = direct.embeddings.create(model="text-embedding-3-small", input=["hello world", "bye"])
    # JSON carries the shortest text that reads back as the same float32, so round to float32 to compare exactly.
    as_float32 = list(struct.unpack("<1536f", struct.pack("<1536f", *floats.data[0].embedding)))
    assert decoded.data[0].embedding == as_float32
    raw = httpx.post(
        sim.base_url + "/embeddings",
        json={"model": "text-embedding-3-large", "input": "hello world", "encoding_format": "base64", "dimensions": 8},
        headers=AUTH,
        timeout=10,
    ).json()
    values = struct.unpack("<8f", base64.b64decode(raw["data"][0]["embedding"]))
    assert sum(value * value for value in values) == pytest.approx(1.0, rel=1e-5)
    assert len(direct.embeddings.create(model="text-embedding-3-large", input="x", encoding_format="float").data[0].embedding) == 3072


def test_responses_plain_and_stream(direct: openai.OpenAI) -> None:
    response = direct.responses.create(model="gpt-4o-mini", input="Say something nice", instructions="Be kind.")
    assert response.status == "completed"
    assert response.model == "gpt-4o-mini-2024-07-18"
    assert response.output_text == "Hello! You said: Say something nice"
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens

    events = list(direct.responses.create(
        model="gpt-5-nano", input=[{"role": "user", "content": [{"type": "input_text", "text": "Say something nice"}]}],
        stream=True,
    ))
    types = [event.type for event in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    final = events[-1].response
    assert "".join(deltas) == final.output_text == "Hello! You said: Say something nice"
    assert final.usage.output_tokens == len(deltas) + 16
    assert final.usage.output_tokens_details.reasoning_tokens == 16


def test_models(direct: openai.OpenAI) -> None:
    ids = [model.id for model in direct.models.list()]
    assert "gpt-4o-mini" in ids and ids == sorted(ids)
    assert direct.models.retrieve("gpt-4o").id == "gpt-4o"
    with pytest.raises(openai.NotFoundError):
        direct.models.retrieve("no-such-model")


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(400, openai.BadRequestError), (401, openai.AuthenticationError), (429, openai.RateLimitError),
     (500, openai.InternalServerError), (503, openai.InternalServerError)],
)
def test_faults(direct: openai.OpenAI, status: int, error_type: type) -> None:
    with pytest.raises(error_type) as raised:
        direct.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers={"x-sim-error": str(status)})
    assert raised.value.status_code == status
    assert set(raised.value.body) == {"message", "type", "param", "code"}
    if status == 429:
        assert raised.value.response.headers["retry-after"] == "1"


def test_unknown_path_and_bad_json(sim: Simulator) -> None:
    missing = httpx.post(sim.origin + "/nope/x", json={}, headers=AUTH, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    bad = httpx.post(sim.base_url + "/chat/completions", content=b"{nope", headers=AUTH, timeout=10)
    assert bad.status_code == 400 and "error" in bad.json()


def test_gzip_only_when_accepted_and_never_for_streams(sim: Simulator) -> None:
    body = {"model": "gpt-4o", "messages": MESSAGES}
    with httpx.Client(timeout=10) as client:
        with client.stream("POST", sim.base_url + "/chat/completions", json=body,
                           headers={**AUTH, "Accept-Encoding": "gzip"}) as response:
            raw = b"".join(response.iter_raw())
            assert response.headers["content-encoding"] == "gzip"
        assert json.loads(gzip.decompress(raw))["object"] == "chat.completion"
        with client.stream("POST", sim.base_url + "/chat/completions", json=body,
                           headers={**AUTH, "Accept-Encoding": "identity"}) as response:
            assert "content-encoding" not in response.headers
        with client.stream("POST", sim.base_url + "/chat/completions", json={**body, "stream": True},
                           headers={**AUTH, "Accept-Encoding": "gzip"}) as response:
            assert "content-encoding" not in response.headers
            assert response.headers["content-type"].startswith("text/event-stream")


def test_no_compress_flag(log_dir: Path) -> None:
    quiet = start_simulator(["--no-compress"], log_dir)
    try:
        response = httpx.post(quiet.base_url + "/chat/completions", json={"model": "gpt-4o", "messages": MESSAGES},
                              headers={**AUTH, "Accept-Encoding": "gzip"}, timeout=10)
        assert response.status_code == 200 and "content-encoding" not in response.headers
    finally:
        stop_process(quiet.proc)


def test_cut_after_drops_the_connection(sim: Simulator) -> None:
    body = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}
    received = b""
    with httpx.Client(timeout=10) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            with client.stream("POST", sim.base_url + "/chat/completions", json=body,
                               headers={**AUTH, "x-sim-cut-after": "3"}) as response:
                for piece in response.iter_raw():
                    received += piece
    assert len(sse_data(received)) == 3 and b"[DONE]" not in received


def test_replay_is_byte_exact(sim: Simulator) -> None:
    for case_dir in sorted(RECORDED_DIR.iterdir()):
        case = json.loads((case_dir / "case.json").read_text())
        with httpx.Client(timeout=10) as client:
            response = client.post(
                sim.origin + case["request"]["path"], json=case["request"]["body"],
                headers={**AUTH, "x-sim-replay": case_dir.name},
            )
        assert response.status_code == case["response"]["status"], case_dir.name
        assert response.headers["content-type"] == case["response"]["content_type"], case_dir.name
        assert response.content == (case_dir / case["response"]["body_file"]).read_bytes(), case_dir.name


def test_inspection_log(sim: Simulator, direct: openai.OpenAI) -> None:
    sim.clear_requests()
    direct.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers={"x-custom": "1"})
    direct.models.list()
    seen = sim.requests()
    assert [(entry["method"], entry["path"]) for entry in seen] == [("POST", "/v1/chat/completions"), ("GET", "/v1/models")]
    assert seen[0]["headers"]["authorization"] == f"Bearer {DIRECT_KEY}"
    assert seen[0]["headers"]["x-custom"] == "1"
    assert json.loads(seen[0]["body"])["messages"] == MESSAGES
    sim.clear_requests()
    assert sim.requests() == []
