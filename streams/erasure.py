"""``python -m streams erase``: a data-subject request. It asks the worker, on the consumer's own commands topic,
to forget everything it keeps about one consumer (``streams.retention``); the worker does it in order with the
consumer's other commands, so what arrives after the request is a new consumer's."""

from __future__ import annotations

from kafkaclients import clients as kafka
from schemas.codec import codec
from schemas.topics import LIVEENGAGE_COMMANDS, consumer_key
from streams.retention import forget_command
from streams.settings import WorkerSettings

COMMAND = codec("LiveEngageCommand")


class UnknownChannelError(ValueError):
    pass


async def request_erasure(settings: WorkerSettings, channel_id: str, consumer_id: str) -> str:
    """Publish the ERASE command of one consumer; return its id."""
    channel = settings.channels.get(channel_id)
    if channel is None:
        raise UnknownChannelError(f"channel {channel_id!r} is not in LEC_CHANNELS "
                                  f"(known: {', '.join(sorted(settings.channels)) or 'none'})")
    command = forget_command(channel.account_id, channel_id, consumer_id, "ERASE")
    producer = kafka.producer(settings, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(LIVEENGAGE_COMMANDS.name, key=consumer_key(channel_id, consumer_id).encode(),
                                     value=COMMAND.encode(command))
    finally:
        await producer.stop()
    return str(command["command_id"])
