"""Small leftovers of the adversarial pass over the JSON path and the state URL."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions as gexc

from kubegce.cloud.gce.client import ComputeClients
from kubegce.errors import UserError
from kubegce.state.store import open_store


class _Answer:
    status_code = 200

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def json(self) -> dict[str, Any]:
        return self.body


class _Session:
    """Answers every page with the same next-page token."""

    def __init__(self) -> None:
        self.calls = 0

    def request(self, method: str, url: str, **kwargs: Any) -> _Answer:
        self.calls += 1
        return _Answer({"items": [{"name": f"z{self.calls}"}], "nextPageToken": "again"})


def test_page_tokens_that_never_end_are_refused() -> None:
    session = _Session()
    clients = ComputeClients(endpoint="http://127.0.0.1:1", not_found=gexc.NotFound,
                             api_error=gexc.GoogleAPICallError, session=session)  # fmt: skip
    with pytest.raises(gexc.GoogleAPICallError, match="page tokens do not end"):
        clients.rest_pages("projects/p/zones", {})
    assert session.calls == 2  # the repeated token is seen on the second page


@pytest.mark.parametrize("url", ["file:///x\n", "gs://bucket/x\r", "file:///a\x00b", "gs://b/\x7f"])
def test_state_url_with_a_control_character_is_refused(url: str) -> None:
    with pytest.raises(UserError, match="control character"):
        open_store(url)
