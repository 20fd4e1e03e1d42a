"""SMS opt-out: a consumer who texts STOP gets nothing more on that channel until START; HELP gets the brand's
help text back at once, opted out or not (carriers require both).

Carriers and SMS gateways require it. The consumer's word still reaches the agent as a text; while they are
opted out, each agent message is not sent: LiveEngage hears NACK on it, and the agent gets one automatic note
per opt-out. The list is a changelog-backed table keyed like the consumer's records, so the agent that plans
inbound events (which writes it) and the one that delivers outbound messages (which reads it before every
send) see it on the same partition.
"""

from __future__ import annotations

from faust.types import TableT

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})
OPTED_OUT, AGENT_TOLD = b"out", b"told"


def keyword(text: str | None) -> str | None:
    """``STOP``, ``START`` or ``HELP`` when the whole text is one of their words (any case, trailing punctuation)."""
    word = (text or "").strip().rstrip(".!?").upper()
    for name, words in (("STOP", STOP_WORDS), ("START", START_WORDS), ("HELP", HELP_WORDS)):
        if word in words:
            return name
    return None


class OptOuts:
    def __init__(self, table: TableT[str, bytes]) -> None:
        self._table = table

    def __contains__(self, key: str) -> bool:
        return self._table.get(key) is not None

    def opt_out(self, key: str) -> None:
        if key not in self:
            self._table[key] = OPTED_OUT

    def opt_in(self, key: str) -> None:
        if key in self:
            del self._table[key]

    forget = opt_in  # an erased consumer's opt-out goes with the rest (README, "State retention")

    def first_blocked(self, key: str) -> bool:
        """True the first time a message is held back since the opt-out (the agent is told once)."""
        if self._table.get(key) == OPTED_OUT:
            self._table[key] = AGENT_TOLD
            return True
        return False
