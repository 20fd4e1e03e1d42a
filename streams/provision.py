"""Creates every catalogue topic with the worker's partition count before Faust starts.

The broker does not auto-create topics, so the bridges cannot create a one-partition topic by producing first;
the worker owns topic creation. Existing topics are left as they are.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from schemas import topics as catalogue

logger = logging.getLogger(__name__)


async def ensure_topics(bootstrap: str, partitions: int, *, timeout_s: float = 60.0) -> None:
    """Create missing catalogue topics; wait up to ``timeout_s`` for the broker. Raises ``KafkaError`` after."""
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [NewTopic(spec.name, partitions, 1) for spec in catalogue.ALL if spec.name not in existing]
            if missing:
                await admin.create_topics(missing)
                logger.info("created topics: %s", ", ".join(t.name for t in missing))
            return
        except TopicAlreadyExistsError:
            return  # another worker created them at the same moment
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise
            logger.warning("Kafka at %s not ready for topic creation (%s); retrying", bootstrap,
                           exc.__class__.__name__)
            await asyncio.sleep(1.0)
        finally:
            await admin.close()
