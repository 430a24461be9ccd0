"""The review world (tests/handlers/test_review.py) every staff-side test plays in."""

from __future__ import annotations

import pytest

from tests.handlers.test_review import World


@pytest.fixture
def world(engine, clock) -> World:  # type: ignore[no-untyped-def]
    """A city with a verifier, the Gambir group and its officer, on a migrated database."""
    return World(engine, clock)
