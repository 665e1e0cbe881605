"""The store's JSON columns: what the standard library would accept is written, and reads
back as it was, on both engines; a value that is not JSON is refused as before."""

from __future__ import annotations

import json

import pytest

from omnichannel.store import Store
from omnichannel.store.engine import dumps_json, loads_json
from omnichannel.testing.builders import make_envelope

pytestmark = pytest.mark.anyio


def test_what_is_written_reads_back_as_the_standard_library_reads_it() -> None:
    value = {"text": "Grüße, 你好 🙂", "n": 1, "f": 0.5, "none": None, "list": [1, "two", True]}
    assert json.loads(dumps_json(value)) == value
    assert loads_json(json.dumps(value)) == value


def test_integer_keys_are_written_as_text_as_json_dumps_writes_them() -> None:
    assert json.loads(dumps_json({1: "one"})) == {"1": "one"}


def test_an_integer_wider_than_64_bits_is_still_written_and_read() -> None:
    wide = {"order": 2**70}
    assert dumps_json(wide) == json.dumps(wide)
    assert loads_json(dumps_json(wide)) == wide


def test_a_value_that_is_not_json_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        dumps_json({"when": object()})


async def test_an_envelope_with_wide_numbers_and_unicode_round_trips(store: Store) -> None:
    envelope = make_envelope(
        text="Ihre Bestellung ist unterwegs 🚚", metadata={"order": 2**70, "note": "naïve"}
    )
    now = store.clock()
    await store.enqueue(envelope, due_at=now, max_attempts=3, now=now)
    record = await store.outbox_record(envelope.id)
    assert record is not None
    assert record.envelope == envelope
