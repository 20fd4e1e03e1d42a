"""Dead letters as their readers see them: list them with their context, replay them to their source.

Shared by ``python -m streams dead-letters`` and the sandbox console, outside the worker's internals: it depends
only on the topic catalogue, the DeadLetter schema and the Kafka connection settings.
"""

from deadletters.letters import describe, list_letters, read_letters, replay, replay_group, source_spec

__all__ = ["describe", "list_letters", "read_letters", "replay", "replay_group", "source_spec"]
