"""Attribution headers land on the event."""

from __future__ import annotations

import openai
import pytest

from conftest import MESSAGES, Tollgate

pytestmark = pytest.mark.proxy


def test_dimension_headers(proxied: openai.OpenAI, tollgate: Tollgate) -> None:
    dimensions = {"x-tollgate-feature": "search-box", "x-tollgate-end-user": "user-42", "x-tollgate-project": "proj-alpha"}
    mark = tollgate.mark()
    proxied.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=dimensions)
    event = tollgate.one_new_event(mark)
    assert (event["feature"], event["end_user"], event["project"]) == ("search-box", "user-42", "proj-alpha")
