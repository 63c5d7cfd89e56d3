"""Bedrock through Tollgate: recorded Converse and ConverseStream bodies served by a stub Bedrock runtime on
loopback, which checks the SigV4 signature Tollgate puts on every forwarded request with botocore's own signer;
event-stream bodies with a bad CRC or cut mid-frame; and the official boto3 client (the virtual key as its access key
id) plain and streaming."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from conftest import Simulator, Tollgate, event_classes, raw_post, running_tollgate
from stub_upstream import StubUpstream

pytestmark = pytest.mark.proxy

RECORDED = Path(__file__).resolve().parents[1] / "TollgateCoreTests" / "Fixtures" / "recorded"
ACCESS_KEY = "AKIDTOLLGATEEXAMPLE"
SECRET_KEY = "tollgate/secret/EXAMPLEKEY"
SESSION_TOKEN = "tollgate-session-token"
REGION = "eu-west-3"


def recorded(name: str) -> tuple[dict, bytes]:
    case = json.loads((RECORDED / name / "case.json").read_text())
    return case, (RECORDED / name / case["response"]["body_file"]).read_bytes()


@pytest.fixture(scope="module")
def stub() -> Iterable[StubUpstream]:
    server = StubUpstream()
    yield server
    server.close()


def bedrock_entry(origin: str, signed: bool) -> str:
    credentials = (
        f'aws_access_key_id: "{ACCESS_KEY}", aws_secret_access_key: "{SECRET_KEY}", aws_session_token: "{SESSION_TOKEN}"'
        if signed
        else 'api_key: "bedrock-api-key"'
    )
    # An application inference profile is priced by its operator (Tollgate cannot know which model it routes to).
    profile = '"arn:aws:bedrock:eu-west-3:123456789012:application-inference-profile/abc123": {input: "0.80", output: "3.20"}'
    return f'  bedrock: {{base_url: "{origin}", region: {REGION}, {credentials}, prices: {{{profile}}}}}\n'


@pytest.fixture(scope="module")
def signed(sim: Simulator, stub: StubUpstream, log_dir: Path) -> Iterable[Tollgate]:
    with running_tollgate(sim.origin, log_dir / "tollgate-bedrock", bedrock_entry(stub.origin, signed=True), "cust-bedrock") as proxy:
        yield proxy


def expected_signature(request: dict) -> str:
    """The Authorization header botocore computes for the request as received, at the time it was signed."""
    headers = {name.lower(): value for name, value in request["headers"].items()}
    aws = AWSRequest(method="POST", url="http://" + headers["host"] + request["path"], data=request["body"])
    # Tollgate signs content-type and every x-amz-* header (botocore signs what the request carries).
    for name, value in headers.items():
        if name == "content-type" or name.startswith("x-amz-"):
            aws.headers[name] = value
    auth = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), "bedrock", REGION)
    # SigV4Auth.add_auth signs at the current second, so a check that calls it fails whenever the second turns between
    # Tollgate's signing and this line. Its steps, at the request's own x-amz-date instead:
    aws.context["timestamp"] = headers["x-amz-date"]
    auth._modify_request_before_signing(aws)
    string_to_sign = auth.string_to_sign(aws, auth.canonical_request(aws))
    auth._inject_signature_to_request(aws, auth.signature(string_to_sign, aws))
    return aws.headers["Authorization"]


def check_forwarded_signed(request: dict, virtual_key: str) -> None:
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert f"/{REGION}/bedrock/aws4_request" in headers["authorization"]
    assert headers["x-amz-security-token"] == SESSION_TOKEN
    assert headers["authorization"] == expected_signature(request), "botocore computes another signature"
    assert virtual_key not in json.dumps({k: v for k, v in request["headers"].items()})


@pytest.mark.parametrize("name", ["bedrock-converse-json-cache-read", "bedrock-converse-json-nova", "bedrock-converse-stream-gpt-oss"])
def test_recorded_bodies_signed_and_metered(signed: Tollgate, stub: StubUpstream, name: str) -> None:
    case, body = recorded(name)
    stub.reply = (200, case["response"]["content_type"], body)
    stub.chunk = 7  # frames and JSON split across many reads
    stub.received.clear()
    mark = signed.mark()
    response = raw_post(signed.origin + "/bedrock" + case["request"]["path"], case["request"]["body"], signed.key)
    assert response.status == 200
    assert response.decoded() == body, "the client did not get the provider's bytes"
    (forwarded,) = stub.received
    assert forwarded["path"] == case["request"]["path"], "the path (with %3A) must reach Bedrock as sent"
    check_forwarded_signed(forwarded, signed.key)
    event = signed.one_new_event(mark)
    expected = case["expected"]
    assert event["provider"] == "bedrock"
    assert event["served_model"] == expected["model"]
    assert event["stream"] is case["stream"]
    assert event_classes(event) == {k: expected[k] for k in event_classes(event)}
    assert not event["estimated"]


def corrupt(body: bytes, how: str) -> bytes:
    """The recorded stream with its third frame's payload damaged (bad message CRC), or cut inside that frame."""
    offsets, offset = [], 0
    while offset < len(body):
        offsets.append(offset)
        offset += int.from_bytes(body[offset : offset + 4], "big")
    third = offsets[2]
    if how == "bad-crc":
        damaged = bytearray(body)
        damaged[third + 20] ^= 0xFF
        return bytes(damaged)
    return body[: third + 9]


@pytest.mark.parametrize("how", ["bad-crc", "truncated"])
def test_damaged_event_stream_is_recorded_with_a_clear_note(signed: Tollgate, stub: StubUpstream, how: str) -> None:
    case, body = recorded("bedrock-converse-stream-gpt-oss")
    damaged = corrupt(body, how)
    stub.reply = (200, case["response"]["content_type"], damaged)
    stub.chunk = 5
    mark = signed.mark()
    response = raw_post(signed.origin + "/bedrock" + case["request"]["path"], case["request"]["body"], signed.key)
    assert response.status == 200
    assert response.decoded() == damaged, "the client gets what the provider sent, damage included"
    event = signed.one_new_event(mark)
    assert event["note"], "the event must say what went wrong"
    assert ("CRC" in event["note"]) if how == "bad-crc" else ("truncated" in event["note"] or "ended" in event["note"])
    # Still serving, and the next good stream meters exactly.
    stub.reply = (200, case["response"]["content_type"], body)
    mark = signed.mark()
    assert raw_post(signed.origin + "/bedrock" + case["request"]["path"], case["request"]["body"], signed.key).status == 200
    assert signed.one_new_event(mark)["output_tokens"] == case["expected"]["output_tokens"]


def test_api_key_goes_as_bearer_and_nothing_is_signed(sim: Simulator, stub: StubUpstream, log_dir: Path) -> None:
    entry = bedrock_entry(stub.origin, signed=False)
    with running_tollgate(sim.origin, log_dir / "tollgate-bedrock-key", entry, "cust-bedrock") as proxy:
        case, body = recorded("bedrock-converse-json-nova")
        stub.reply = (200, "application/json", body)
        stub.received.clear()
        mark = proxy.mark()
        assert raw_post(proxy.origin + "/bedrock" + case["request"]["path"], case["request"]["body"], proxy.key).status == 200
        headers = {name.lower(): value for name, value in stub.received[0]["headers"].items()}
        assert headers["authorization"] == "Bearer bedrock-api-key"
        assert "x-amz-date" not in headers
        assert proxy.one_new_event(mark)["input_tokens"] == case["expected"]["input_tokens"]


def boto3_client(proxy: Tollgate, key: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """boto3's bedrock-runtime client signing with the virtual key as its access key id (boto3 sends a Bedrock API
    key only to https endpoints; the test proxy is plain http)."""
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    return boto3.client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url=proxy.origin + "/bedrock",
        aws_access_key_id=key,
        aws_secret_access_key="unused-by-tollgate",
        config=Config(retries={"max_attempts": 1}),
    )


def test_boto3_converse_and_stream_through_tollgate(signed: Tollgate, stub: StubUpstream, monkeypatch: pytest.MonkeyPatch) -> None:
    client = boto3_client(signed, signed.key, monkeypatch)
    case, body = recorded("bedrock-converse-json-nova")
    stub.reply = (200, "application/json", body)
    stub.chunk = 4096
    stub.received.clear()
    mark = signed.mark()
    model = "us.amazon.nova-pro-v1:0"
    answer = client.converse(modelId=model, messages=[{"role": "user", "content": [{"text": "Hello"}]}])
    assert answer["usage"]["inputTokens"] == case["expected"]["input_tokens"]
    assert stub.received[0]["path"] == "/model/us.amazon.nova-pro-v1%3A0/converse"
    check_forwarded_signed(stub.received[0], signed.key)
    event = signed.one_new_event(mark)
    assert event["model"] == model
    assert event["output_tokens"] == answer["usage"]["outputTokens"]

    case, body = recorded("bedrock-converse-stream-gpt-oss")
    stub.reply = (200, case["response"]["content_type"], body)
    mark = signed.mark()
    stream = client.converse_stream(
        modelId="openai.gpt-oss-120b-1:0", messages=[{"role": "user", "content": [{"text": "Hello"}]}]
    )
    usage = [item["metadata"]["usage"] for item in stream["stream"] if "metadata" in item]
    assert usage and usage[-1]["outputTokens"] == case["expected"]["output_tokens"]
    event = signed.one_new_event(mark)
    assert event["stream"] is True
    assert event["output_tokens"] == case["expected"]["output_tokens"]


def test_boto3_with_a_bad_virtual_key_gets_an_aws_error(signed: Tollgate, monkeypatch: pytest.MonkeyPatch) -> None:
    client = boto3_client(signed, "tg_not_a_key", monkeypatch)
    with pytest.raises(client.exceptions.ClientError) as raised:
        client.converse(modelId="us.amazon.nova-pro-v1:0", messages=[{"role": "user", "content": [{"text": "Hi"}]}])
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert raised.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_boto3_with_a_model_arn(signed: Tollgate, stub: StubUpstream, monkeypatch: pytest.MonkeyPatch) -> None:
    """An application inference profile ARN: its `/` travels escaped in one path segment, is signed as AWS signs
    it, and the event names the ARN."""
    client = boto3_client(signed, signed.key, monkeypatch)
    case, body = recorded("bedrock-converse-json-nova")
    stub.reply = (200, "application/json", body)
    stub.chunk = 4096
    stub.received.clear()
    mark = signed.mark()
    arn = "arn:aws:bedrock:eu-west-3:123456789012:application-inference-profile/abc123"
    client.converse(modelId=arn, messages=[{"role": "user", "content": [{"text": "Hello"}]}])
    forwarded = stub.received[-1]
    assert forwarded["path"].startswith("/model/arn%3Aaws%3Abedrock%3Aeu-west-3%3A123456789012%3Aapplication-inference-profile%2Fabc123/")
    check_forwarded_signed(forwarded, signed.key)
    event = signed.one_new_event(mark)
    assert event["model"] == arn
    assert event["output_tokens"] == case["expected"]["output_tokens"]
