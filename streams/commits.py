"""Which offsets the worker may commit: the ones it carried out, in order, and no other.

Faust's own bookkeeping can commit over a record that never reached an agent. Its read offset means "next to read"
after a seek but "last read" after a record, so a record missing right after the committed position (dropped while
flow control was suspended, or fetched before a seek and arriving after it) looks like no gap at all, and the next
commit passes over it: a text accepted by the bridge and never sent. Its read offset also drops records below the
last one read, so records fetched again after a seek (its own, after a rebalance) can be dropped for good when an
older fetch is still being delivered. So the worker owns the decision, and Faust delivers every record it fetches:

- records of a partition are handled strictly in offset order from the committed position; a record that arrives
  past a missing one is not handled, and the partition is sought back to the missing one (unless Kafka no longer
  has it: retention moved the log start past it);
- a record that arrives again (after a seek back) is passed over as done;
- the offset committed is the one after the last record whose handling finished, never Faust's guess.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TP, EventT

logger = logging.getLogger(__name__)


@dataclass
class _Partition:
    """One partition's progress within one consumer generation."""

    generation: int | None
    next_offset: int  # the only offset that may be handled next
    finished: int | None = None  # the last offset handled to the end


class CommitKeeper:
    """Admits records in order per partition and tells Faust how far to commit."""

    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._partitions: dict[TP, _Partition] = {}
        self._install(app)

    async def admit(self, event: EventT[bytes]) -> bool:
        """True when ``event`` is the next record of its partition and must be handled now.

        False for a record already handled in this generation (to be passed over) and for one that arrived
        past a missing record (the partition is sought back to the missing one, which comes again).
        """
        message = event.message
        tp, offset = message.tp, message.offset
        progress = self._partitions.get(tp)
        if progress is None or progress.generation != message.generation_id:
            progress = _Partition(message.generation_id, await self._start_of(tp, offset))
            self._partitions[tp] = progress
        if offset == progress.next_offset:
            progress.next_offset = offset + 1
            return True
        if offset < progress.next_offset:
            logger.debug("%s[%d]@%d came again: already handled, passed over", tp.topic, tp.partition, offset)
            return False
        log_start = (await self._app.consumer.earliest_offsets(tp)).get(tp, 0)
        if log_start > progress.next_offset:
            logger.warning("%s[%d]: offsets %d..%d are gone from Kafka (retention): going on from %d",
                           tp.topic, tp.partition, progress.next_offset, log_start - 1, log_start)
            progress.next_offset = log_start
            if offset == log_start:
                progress.next_offset = offset + 1
                return True
        logger.warning("%s[%d]@%d arrived before %d: not handled, seeking back to %d", tp.topic, tp.partition,
                       offset, progress.next_offset, progress.next_offset)
        # Every early record seeks again: records fetched before the seek may still be on their way.
        await self._seek(tp, progress.next_offset)
        return False

    def finished(self, event: EventT[bytes]) -> None:
        """The admitted ``event`` is carried out, its table writes handed to Kafka: it may be committed."""
        message = event.message
        progress = self._partitions.get(message.tp)
        if progress is not None and progress.generation == message.generation_id:
            progress.finished = message.offset

    async def _start_of(self, tp: TP, first_offset: int) -> int:
        """Where a new generation starts: the committed position, asked of the broker.

        Faust resumes the flow of records before its own seek has recorded the committed offsets, so its copy
        may still be empty when the first record of a generation arrives. With nothing committed (a new
        group, or an answer without the offset), the first record that arrives is where the consumer started:
        seeking back to the log start instead could replay a whole partition.
        """
        thread = self._faust_consumer()._thread
        committed = await thread.call_thread(thread._ensure_consumer().committed, tp)
        if committed is not None and committed >= 0:
            return int(committed)
        logger.info("%s[%d]: nothing committed, starting at %d", tp.topic, tp.partition, first_offset)
        return first_offset

    async def _seek(self, tp: TP, offset: int) -> None:
        """Seek on the consumer's own thread (Faust's ``seek`` calls the Kafka client from this one)."""
        consumer = self._faust_consumer()
        client = consumer._thread._ensure_consumer()

        async def seek_there() -> None:
            client.seek(tp, offset)

        await consumer._thread.call_thread(seek_there)

    def _committable(self, tp: TP) -> int | None:
        progress = self._partitions.get(tp)
        if progress is None or progress.finished is None:
            return None
        return progress.finished + 1

    def _install(self, app: faust.App) -> None:
        """Have the consumer Faust creates deliver every record, and commit what this keeper says."""
        faust_new_consumer = app._new_consumer

        def new_consumer() -> Any:
            consumer: Any = faust_new_consumer()
            consumer._read_offset = _NothingReadYet()
            faust_new_offset = consumer._new_offset

            def new_offset(tp: TP) -> int | None:
                if tp not in self._partitions:
                    return faust_new_offset(tp)  # type: ignore[no-any-return]
                # Faust's acked list only triggers commits here; drop it so it does not grow.
                consumer._acked[tp].clear()
                consumer._acked_index[tp].clear()
                return self._committable(tp)

            consumer._new_offset = new_offset
            return consumer

        app._new_consumer = new_consumer  # type: ignore[method-assign]

    def _faust_consumer(self) -> Any:
        """The consumer with Faust's private offset bookkeeping, which this class reads and overrides."""
        return self._app.consumer


class _NothingReadYet(dict[TP, "int | None"]):
    """Faust's read offsets, always read as "none yet": its fetch loop then drops no record and marks no gap.

    Records that come twice (after a seek) are passed over by ``CommitKeeper.admit``.
    """

    def __getitem__(self, tp: TP) -> int | None:
        return None
