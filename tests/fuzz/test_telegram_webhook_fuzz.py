"""Fuzzing the Telegram webhook: whatever JSON arrives, never a 5xx and never half a write.

Two kinds of input: any JSON value, and update-shaped objects whose fields take boundary
values (ids at and beyond int32 and int64, forged button data, wrong types). The answer is
200 (a real update, handled in one transaction) or a 4xx that left the database as it was.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bot.test_telegram_webhook import Hook

FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

BOUNDARY_INTS = st.sampled_from(
    [0, 1, -1, 2**31 - 1, 2**31, -(2**31), 2**53, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**20]
)
INTS = BOUNDARY_INTS | st.integers()
STRINGS = st.sampled_from(
    [
        "",
        "halo",
        "/start",
        "/lapor",
        "menu:report",
        "rate:abc:1",
        "rate:99999999999999999999:1",
        "rate:2147483648:1",
        "v:1",
        "rr:1:x",
        "cc:1:../x",
        "\x00",
        "\ud800",
        "💥" * 20,
        "x" * 70,
    ]
) | st.text(max_size=30)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | INTS | st.floats() | STRINGS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(STRINGS, children, max_size=4)
    ),
    max_leaves=12,
)
ANY = st.none() | st.booleans() | st.floats() | INTS | STRINGS | st.lists(INTS, max_size=2)
# Valid updates: Telegram's types, ids anywhere in int64 and at its edges.
INT64 = st.sampled_from([1, -1, 2**31 - 1, 2**31, -(2**31), 2**53, 2**63 - 1, -(2**63)]) | (
    st.integers(-(2**63), 2**63 - 1)
)
USER = st.fixed_dictionaries(
    {"id": INT64, "is_bot": st.booleans(), "first_name": STRINGS},
    optional={"username": STRINGS, "language_code": st.sampled_from(["id", "en"])},
)
CHAT = st.fixed_dictionaries(
    {"id": INT64, "type": st.sampled_from(["private", "group", "supergroup", "channel"])},
    optional={"title": STRINGS},
)
PHOTO_SIZE = st.fixed_dictionaries(
    {"file_id": STRINGS, "file_unique_id": STRINGS, "width": INT64, "height": INT64},
    optional={"file_size": INT64},
)
LOCATION = st.fixed_dictionaries(
    {"latitude": st.floats(allow_nan=False), "longitude": st.floats(allow_nan=False)}
)
DATES = st.integers(0, 2**31)
MESSAGE = st.fixed_dictionaries(
    {"message_id": INT64, "date": DATES, "chat": CHAT},
    optional={
        "from": USER,
        "text": STRINGS,
        "caption": STRINGS,
        "media_group_id": STRINGS,
        "migrate_to_chat_id": INT64,
        "photo": st.lists(PHOTO_SIZE, max_size=2),
        "location": LOCATION,
        "reply_to_message": st.fixed_dictionaries(
            {"message_id": INT64, "date": DATES, "chat": CHAT}, optional={"from": USER}
        ),
    },
)
CALLBACK = st.fixed_dictionaries(
    {"id": STRINGS, "from": USER},
    optional={"message": MESSAGE, "data": STRINGS, "chat_instance": STRINGS},
)
VALID_UPDATES = st.fixed_dictionaries(
    {"update_id": st.integers(0, 2**63 - 1)},
    optional={
        "message": MESSAGE,
        "edited_message": MESSAGE,
        "callback_query": CALLBACK,
        "channel_post": MESSAGE,
    },
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value a bad value could go."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def updates(draw: st.DrawFn) -> dict:
    """A valid update, or one with one field (anywhere) set to a value of any type."""
    update = draw(VALID_UPDATES)
    if draw(st.booleans()):
        *parents, last = draw(st.sampled_from(_paths(update)))
        node = update
        for key in parents:
            node = node[key]
        node[last] = draw(ANY)
    return update


async def _post_and_check(hook: Hook, value: Any) -> None:
    before = hook.counts()
    response = await hook.post(json.dumps(value).encode())
    assert response.status_code < 500, (value, response.text)
    if response.status_code != 200:
        assert response.status_code in (400, 413), response.status_code
        assert hook.counts() == before, "a refused update wrote nothing"


@FUZZ
@given(value=JSON_VALUES)
async def test_any_json_value_is_a_clean_answer(hook: Hook, value: Any) -> None:
    await _post_and_check(hook, value)


@FUZZ
@given(update=updates())
async def test_update_shaped_bodies_are_a_clean_answer(hook: Hook, update: dict) -> None:
    await _post_and_check(hook, update)
