"""Schemathesis against the ingest API's own OpenAPI document: generated requests (valid and not)
never get a 5xx, every refusal is one line, and no refused upload leaves an object behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from sqlmodel import select

from recorder.api import create_app
from storage.calls import Call
from storage.db import session
from storage.settings import get_settings, reset_settings
from storage.stores import make_store
from tests.api_server import AUTH, TOKEN


@pytest.fixture
def api_schema(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[schemathesis.BaseSchema]:
    monkeypatch.setenv("CALLQC_API_TOKEN", TOKEN)
    monkeypatch.setenv("CALLQC_API_DOCS", "true")
    reset_settings()
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(), headers=AUTH)


def _check(case: Case) -> None:
    for headers in (AUTH, {}):
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.path, response.status_code, response.text)
        if response.status_code >= 400:
            detail = response.json()["detail"]
            assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    with session() as s:
        registered = {c.audio_key for c in s.exec(select(Call))}
    assert {o.key for o in make_store().list(get_settings().bucket_recordings)} == registered


@pytest.mark.slow
def test_generated_requests_never_get_a_server_error(api_schema: schemathesis.BaseSchema) -> None:
    """Each operation of the API's OpenAPI document, driven by Hypothesis through schemathesis."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/recordings", "/v1/calls/{call_id}", "/healthz"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Case) -> None:
            _check(case)

        run()
