"""OpenAI's media APIs through the proxy with the official `openai` client: images (generate, edit), speech,
transcription, translation and moderation. Each call leaves exactly one event with its usage and an exact price:
the catalog's list price (the session's customer has no price book: price = cost)."""

from __future__ import annotations

import io
import math
from decimal import Decimal

import httpx
import openai
import pytest

pytestmark = pytest.mark.proxy

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)

# The simulator's rules (Sources/TollgateSimulator/Media.swift).
SIM_AUDIO_BYTES_PER_SECOND = 16_000
SIM_AUDIO_TOKENS_PER_SECOND = 10
SIM_IMAGE_INPUT_TOKENS = 323

M = Decimal(1_000_000)


def audio(size: int) -> io.BytesIO:
    data = io.BytesIO(bytes((i * 31) % 256 for i in range(size)))
    data.name = "speech.mp3"
    return data


def check(event: dict, route: str, model: str, cost: Decimal, estimated: bool = False, **quantities: int | str) -> None:
    assert event["route"] == route
    assert event["model"] == model
    assert event["status"] == 200
    assert event["priced"] is True, event
    assert event["estimated"] is estimated, event
    assert Decimal(event["cost"]) == cost, event
    assert Decimal(event["price"]) == cost, event
    for name, value in quantities.items():
        assert event[name] == value, (name, event)


def test_dall_e_3_hd_is_priced_per_image_by_quality_and_size(tollgate, proxied):
    mark = tollgate.mark()
    result = proxied.images.generate(model="dall-e-3", prompt="a lighthouse", size="1792x1024", quality="hd", n=1)
    assert len(result.data) == 1 and result.data[0].url
    event = tollgate.one_new_event(mark)
    check(event, "openai.images", "dall-e-3", Decimal("0.12"), images=1, image_variant="hd/1792x1024", input_tokens=0)


def test_dall_e_2_counts_the_images_returned(tollgate, proxied):
    mark = tollgate.mark()
    result = proxied.images.generate(model="dall-e-2", prompt="a cat", size="512x512", n=3, response_format="b64_json")
    assert len(result.data) == 3 and all(item.b64_json for item in result.data)
    check(tollgate.one_new_event(mark), "openai.images", "dall-e-2", 3 * Decimal("0.018"), images=3, image_variant="512x512")


def test_gpt_image_1_is_priced_per_token(tollgate, proxied):
    mark = tollgate.mark()
    result = proxied.images.generate(model="gpt-image-1", prompt="a red fox in the snow", size="1024x1536", quality="high", n=2)
    usage = result.usage
    assert usage.output_tokens == 2 * 6240
    text = usage.input_tokens_details.text_tokens
    cost = (text * Decimal("5.00") + usage.output_tokens * Decimal("40.00")) / M
    event = tollgate.one_new_event(mark)
    check(event, "openai.images", "gpt-image-1", cost, images=0, input_tokens=text, output_tokens=12480, output_image_tokens=12480)


def test_image_edit_multipart(tollgate, proxied):
    mark = tollgate.mark()
    result = proxied.images.edit(model="gpt-image-1", image=("in.png", PNG, "image/png"), prompt="add a hat")
    usage = result.usage
    assert usage.input_tokens_details.image_tokens == SIM_IMAGE_INPUT_TOKENS
    text = usage.input_tokens_details.text_tokens
    cost = (text * Decimal("5.00") + SIM_IMAGE_INPUT_TOKENS * Decimal("10.00") + 1056 * Decimal("40.00")) / M
    check(
        tollgate.one_new_event(mark), "openai.image_edits", "gpt-image-1", cost,
        input_tokens=text + SIM_IMAGE_INPUT_TOKENS, input_image_tokens=SIM_IMAGE_INPUT_TOKENS, output_tokens=1056,
    )
    mark = tollgate.mark()
    result = proxied.images.edit(model="dall-e-2", image=("in.png", PNG, "image/png"), prompt="add a hat", n=2, size="256x256")
    assert len(result.data) == 2
    check(tollgate.one_new_event(mark), "openai.image_edits", "dall-e-2", 2 * Decimal("0.016"), images=2, image_variant="256x256")


@pytest.mark.parametrize("model, rate", [("tts-1", "0.000015"), ("tts-1-hd", "0.00003"), ("gpt-4o-mini-tts", "0.000015")])
def test_speech_is_priced_per_input_character(tollgate, proxied, model, rate):
    text = "Grüße from Tollgate — 42 characters long!"
    mark = tollgate.mark()
    with proxied.audio.speech.with_streaming_response.create(model=model, voice="alloy", input=text) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        body = response.read()
    assert body.startswith(b"ID3") and len(body) == 10 + 40 * len(text)
    check(tollgate.one_new_event(mark), "openai.speech", model, len(text) * Decimal(rate), input_characters=len(text))


def test_whisper_is_priced_per_second(tollgate, proxied):
    mark = tollgate.mark()
    result = proxied.audio.transcriptions.create(model="whisper-1", file=audio(40_000))
    assert result.text
    seconds = math.ceil(40_000 / SIM_AUDIO_BYTES_PER_SECOND)
    check(tollgate.one_new_event(mark), "openai.transcriptions", "whisper-1", seconds * Decimal("0.0001"), audio_seconds=seconds)


def test_gpt_4o_transcribe_is_priced_per_token(tollgate, proxied):
    mark = tollgate.mark()
    result = proxied.audio.transcriptions.create(model="gpt-4o-transcribe", file=audio(48_000))
    audio_tokens = 3 * SIM_AUDIO_TOKENS_PER_SECOND
    assert result.usage.input_token_details.audio_tokens == audio_tokens
    output = result.usage.output_tokens
    cost = (audio_tokens * Decimal("6.00") + output * Decimal("10.00")) / M
    check(
        tollgate.one_new_event(mark), "openai.transcriptions", "gpt-4o-transcribe", cost,
        input_tokens=audio_tokens, input_audio_tokens=audio_tokens, output_tokens=output, audio_seconds=0,
    )


def test_a_text_transcription_is_estimated_from_the_file_size(tollgate, proxied):
    mark = tollgate.mark()
    text = proxied.audio.transcriptions.create(model="whisper-1", file=audio(40_000), response_format="text")
    assert isinstance(text, str) and text.strip()
    event = tollgate.one_new_event(mark)
    check(event, "openai.transcriptions", "whisper-1", 3 * Decimal("0.0001"), estimated=True, audio_seconds=3)
    assert "estimated" in event["note"]


def test_translation(tollgate, proxied):
    mark = tollgate.mark()
    proxied.audio.translations.create(model="whisper-1", file=audio(100_000))
    check(tollgate.one_new_event(mark), "openai.translations", "whisper-1", 7 * Decimal("0.0001"), audio_seconds=7)


def test_moderation_is_one_free_priced_event(tollgate, proxied):
    mark = tollgate.mark()
    result = proxied.moderations.create(input=["hello", "world"])
    assert len(result.results) == 2 and not result.results[0].flagged
    event = tollgate.one_new_event(mark)
    check(event, "openai.moderations", "omni-moderation-latest", Decimal(0), input_tokens=0, output_tokens=0)
    assert event["served_model"] == "omni-moderation-2024-09-26"
    assert not event.get("note")


def test_a_transcription_without_a_readable_model_is_refused(tollgate):
    mark = tollgate.mark()
    response = httpx.post(
        tollgate.base_url + "/audio/transcriptions", headers={"authorization": f"Bearer {tollgate.key}"},
        files={"file": ("a.mp3", b"x" * 100, "audio/mpeg")}, data={"language": "en"}, timeout=10,
    )
    assert response.status_code == 400
    assert "'model' field is missing" in response.json()["error"]["message"]
    event = tollgate.one_new_event(mark)
    assert event["status"] == 400 and Decimal(event["cost"]) == 0
    with pytest.raises(openai.BadRequestError, match="multipart/form-data"):
        tollgate.client().post("/audio/transcriptions", body={"model": "whisper-1"}, cast_to=object)
