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
    """Create missing catalogue topics and return once the broker lists every one; wait up to ``timeout_s``.

    The broker answers a creation per topic without raising (a topic still being deleted is refused), so
    success is checked by listing the topics again. Raises ``KafkaError`` after the deadline.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            missing = await missing_topics(admin)
            if missing:
                await admin.create_topics([NewTopic(name, partitions, 1) for name in missing])
                logger.info("creating topics: %s", ", ".join(missing))
                missing = await missing_topics(admin)
            if not missing:
                return
            problem = f"not created yet: {', '.join(missing)}"
        except TopicAlreadyExistsError:
            problem = "another worker was creating them"  # list them again
        except KafkaError as exc:
            problem = exc.__class__.__name__
        finally:
            await admin.close()
        if time.monotonic() > deadline:
            raise KafkaError(f"catalogue topics missing after {timeout_s:.0f}s ({problem})")
        logger.warning("Kafka at %s not ready for topic creation (%s); retrying", bootstrap, problem)
        await asyncio.sleep(1.0)


async def missing_topics(admin: AIOKafkaAdminClient) -> list[str]:
    existing = set(await admin.list_topics())
    return [spec.name for spec in catalogue.ALL if spec.name not in existing]
