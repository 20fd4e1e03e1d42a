"""The same pipeline on quix-streams (a benchmark-only dependency): a stateful ``apply`` (its RocksDB state with a
changelog topic) and ``to_topic``, on its defaults."""

from __future__ import annotations

import json
import tempfile
from typing import Any

from quixstreams import Application, State

from bench.pipelines.work import Progress, arguments, transform


def main() -> None:
    bootstrap, source, target, records, group = arguments()
    app = Application(broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest",
                      loglevel="WARNING", state_dir=tempfile.mkdtemp(prefix="bench-quix-"))
    inputs = app.topic(source, key_deserializer="bytes", value_deserializer="bytes")
    outputs = app.topic(target, key_serializer="bytes", value_serializer="bytes")
    progress = Progress(records)

    def carry_out(value: bytes, state: State[str, str]) -> bytes:
        held = state.get("consumer")
        new_state, output = transform(value, json.loads(held) if held else None)
        state.set("consumer", json.dumps(new_state))
        progress.one()
        return output

    frame: Any = app.dataframe(inputs)
    frame = frame.apply(carry_out, stateful=True)
    frame.to_topic(outputs)
    app.run()


if __name__ == "__main__":
    main()
