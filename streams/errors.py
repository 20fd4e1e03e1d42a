"""Worker errors. A ``RecordError`` is an expected per-record failure: the record goes to its dead-letter topic.

    StreamsError
    ├── RecordError                       dead-letter the record, keep consuming
    │   ├── UndecodableRecordError        bytes are not the topic's Avro record
    │   ├── UnknownChannelError           the record names a channel the worker is not configured for
    │   ├── UnsupportedEventError         a kind of event this version cannot carry out
    │   ├── RemoteRejectedError           LiveEngage or the channel answered 4xx: retrying would not help
    │   │   ├── ConsumerOptedOutError     the gateway refused: the consumer opted out there (SMS STOP)
    │   │   └── ConsumerJwsRejectedError  LiveEngage refused the consumer's ConsumerJWS (40103/40104)
    │   ├── RemoteUnavailableError        5xx, 429, timeout or connection error (retriable=True); ``ambiguous``
    │   │                                 when the call may have taken effect (a retry can duplicate it)
    │   └── UnexpectedError               a bug met this record: logged with its traceback, kept for replay
    └── (Kafka failing while a record is handled exits the worker without committing: see DeadLetters)
"""

from __future__ import annotations


# Logged with a retry after an ambiguous failure, so duplicates at the remote can be counted from the logs.
AMBIGUOUS_NOTE = ": ambiguous failure, the call may have taken effect and its retry can duplicate it"


class StreamsError(Exception):
    retriable = False
    attempts = 1  # how often the failing step was tried; with_retries sets it


class RecordError(StreamsError):
    pass


class UndecodableRecordError(RecordError):
    pass


class UnknownChannelError(RecordError):
    pass


class UnsupportedEventError(RecordError):
    pass


class RemoteRejectedError(RecordError):
    def __init__(self, message: str, *, status: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ConsumerOptedOutError(RemoteRejectedError):
    pass


class ConsumerJwsRejectedError(RemoteRejectedError):
    """The Send API's 401 names the ConsumerJWS, not the AppJWT: the sender fetches a new one once."""


class RemoteUnavailableError(RecordError):
    retriable = True

    def __init__(self, message: str, *, retry_after_s: float | None = None, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.ambiguous = ambiguous


class UnexpectedError(RecordError):
    pass
