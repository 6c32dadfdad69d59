"""How tests reach real services: skip with a reason when absent, fail under CALLQC_REQUIRE_SERVICES=1."""

from __future__ import annotations

import pytest

from storage.settings import Settings


def services_required() -> bool:
    return Settings().require_services


def missing_service(reason: str) -> None:
    """Skip (or, when services are required, fail) because a service is missing."""
    if services_required():
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(f"service unavailable: {reason}")
