"""Carries out one consumer's commands against LiveEngage and keeps their conversation's state.

The only writer of the ``conversations`` table. Every command is applied in partition order, so the state
machine in ``streams.conversation`` sees one consumer's events one at a time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from schemas import topics as catalogue
from schemas.codec import codec
from schemas.topics import consumer_key
from streams import metrics, requests
from streams.analytics import Analytics, since_ms
from streams.channels import ChannelClient
from streams.conversation import CLOSE_TRIGGERS, Status, Trigger, can, is_over, next_status
from streams.engine.deadletters import DeadLetters, dead_letter_error
from streams.errors import (AMBIGUOUS_NOTE, ConsumerJwsRejectedError, RemoteRejectedError,
                            RemoteUnavailableError, UnsupportedEventError)
from streams.liveengage import LiveEngageClient
from streams.retention import Forgetting, epoch_ms, is_expired, stale_routes
from streams.settings import ChannelRoute, WorkerSettings
from streams.state import RecordTable, StagedRecords
from streams.engine.topics import Topics, publish
from telemetry import logs

logger = logging.getLogger(__name__)

ROUTE = codec("ConversationRoute")
OUTBOUND = codec("ChannelOutbound")
COMMAND = codec("LiveEngageCommand")
IDENTITY = codec("ConsumerIdentity")
QUEUEABLE = ("PUBLISH_TEXT", "PUBLISH_FILE")
LIVEENGAGE_ACTIONS = ("PUBLISH_TEXT", "PUBLISH_FILE", "ACCEPT_STATUS", "CHAT_STATE", "CLOSE", "SUBMIT_SURVEY")
PUBLISHED_KEPT = 200  # recent consumer events remembered for the agent's receipts
# Recent commands remembered as carried out, so that replays of them are no-ops. A replay goes back to the last
# commit: the commit interval plus the longest a record stays in flight (~30 s), under 200 commands of one consumer
# at the bridge's default per-consumer limit (20 burst, 5/s); the README's guarantee section says so.
LEDGER_KEPT = 500
FILE_TYPES = {"image/jpeg": "JPEG", "image/jpg": "JPG", "image/png": "PNG", "image/gif": "GIF"}
ALREADY_OPEN = "already has open conversation"
CONVERSATION_IS_CLOSE = "Conversation is close"


T = TypeVar("T")


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_state(command: dict[str, Any]) -> dict[str, Any]:
    return {
        "account_id": command["account_id"], "channel_id": command["channel_id"],
        "consumer_id": command["consumer_id"], "status": Status.CLOSED.value, "conversation_id": None,
        "dialog_id": None, "lp_consumer_id": None, "consumer_jws": None, "opened_at": None, "updated_at": now(),
        "last_conversation_id": None, "skill_id": None, "agent_id": None, "change_ts": 0, "pending": [],
        "retrying": False, "ledger": [], "published": {}, "routes": {},
    }


def waiting_id(state: dict[str, Any]) -> str | None:
    """The id of the first queued command, if any."""
    return str(COMMAND.decode(state["pending"][0])["command_id"]) if state["pending"] else None


def moved(state: dict[str, Any], trigger: Trigger, **changes: Any) -> dict[str, Any]:
    """The state after ``trigger`` (raises ``InvalidTransitionError`` for an edge the machine lacks)."""
    return state | changes | {"status": next_status(state["status"], trigger).value, "updated_at": now()}


def routes_closed(state: dict[str, Any]) -> dict[str, int]:
    """The consumer's routes once their open conversation closed: its closing time starts their retention."""
    closed_at = epoch_ms(now())
    return {id_: closed or closed_at for id_, closed in state["routes"].items()}


def closed(state: dict[str, Any], trigger: Trigger) -> dict[str, Any]:
    return moved(state, trigger, last_conversation_id=state["conversation_id"], conversation_id=None,
                 dialog_id=None, agent_id=None, published={}, routes=routes_closed(state))


def drain_left_over(state: dict[str, Any]) -> bool:
    """Commands wait in the state only while a conversation opens or LiveEngage is retried: waiting otherwise,
    they are what is left of a drain a crash cut short."""
    return bool(state["pending"]) and not state["retrying"] and state["status"] != Status.OPENING


class Queued(Exception):
    """Control flow: the command was queued in the state until LiveEngage's open conversation is known."""


class ConversationSender:
    def __init__(self, table: RecordTable, liveengage: LiveEngageClient, channels: ChannelClient, topics: Topics,
                 dead_letters: DeadLetters, analytics: Analytics, forgetting: Forgetting,
                 settings: WorkerSettings) -> None:
        self._table = StagedRecords(table)
        self._forgetting = forgetting
        self._analytics = analytics
        self._dead_letters = dead_letters
        self._handlers: dict[str, Callable[[str, dict[str, Any], dict[str, Any]], Awaitable[None]]] = {
            "PUBLISH_TEXT": self._publish_text, "PUBLISH_FILE": self._publish_file,
            "ACCEPT_STATUS": self._accept_status, "CHAT_STATE": self._chat_state, "CLOSE": self._close,
            "SUBMIT_SURVEY": self._submit_survey, "APPLY_CHANGE": self._apply_change,
            "AGENT_RECEIPT": self._agent_receipt, "AGENT_FILE": self._agent_file,
            "EXPIRE": self._expire, "ERASE": self._erase,
        }
        self._liveengage = liveengage
        self._channels = channels
        self._topics = topics
        self._settings = settings

    async def apply(self, key: str, command: dict[str, Any]) -> None:
        """Apply one command. A LiveEngage outage does not block other consumers: the command waits in the
        state, a retry is scheduled (``schedule_retries``), and this consumer's later commands queue behind it.

        Raises:
            RecordError: the command cannot be carried out (dead-letter it); for a retried command, after the
                last retry. Completed steps are in the state, so applying the same command again is safe.
        """
        if command["action"] not in self._handlers:
            raise UnsupportedEventError(f"command action {command['action']} is not supported")
        try:
            await self._apply(key, command)
        finally:
            self._table.write(key)  # what the command changed, also when it failed half-way

    async def _apply(self, key: str, command: dict[str, Any]) -> None:
        state = self._table.get(key) or new_state(command)
        logs.bind(conversation_id=state["conversation_id"] or state["last_conversation_id"])
        if command["attempt"] > 0:
            await self._retry(key, command, state)
            return
        if drain_left_over(state) and command["action"] != "ERASE":  # an erasure drops what waits, unsent
            # A crash cut a drain short. Whatever record comes next goes on with it first, in order: the record
            # that started it, replayed, may find its own work already done (an adoption's change is applied).
            await self._drain(key)
            state = self._table.get(key) or state
        if state["retrying"] and command["action"] in LIVEENGAGE_ACTIONS:
            self._save(key, state | {"pending": [*state["pending"], COMMAND.encode_single_object(command)]})
            return
        if state["pending"] and command["action"] in QUEUEABLE:
            self._queue(key, command, state)  # behind the texts already waiting, to keep their order
            return
        await self._attempt(key, command, state)

    async def _attempt(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> bool:
        """Carry out one command; False when it now waits (queued for a conversation, or for its retry)."""
        try:
            return await self._run(key, command, state)
        except RemoteUnavailableError as exc:
            return await self._schedule_retry(key, command, exc)

    async def _schedule_retry(self, key: str, command: dict[str, Any], exc: RemoteUnavailableError) -> bool:
        retry = command["attempt"] + 1
        delays = self._settings.retry_delays_s
        if retry > len(delays):
            exc.attempts = retry
            await self._give_up(key)
            raise exc
        delay = max(delays[retry - 1], exc.retry_after_s or 0.0)
        state = self._table.get(key) or new_state(command)
        pending = state["pending"] if waiting_id(state) == command["command_id"] else [
            COMMAND.encode_single_object(command), *state["pending"]]
        self._save(key, state | {"pending": pending, "retrying": True})
        due = now() + timedelta(seconds=delay)
        metrics.RETRIES.labels("liveengage").inc()
        logger.warning("LiveEngage unavailable for %s (%s)%s; retry %d of %d in %.1fs", command["action"], exc,
                       AMBIGUOUS_NOTE if exc.ambiguous else "", retry, len(delays), delay)
        await publish(self._topics.liveengage_retries, key,
                      COMMAND.encode(command | {"attempt": retry, "due_at": due}))
        return False

    async def _retry(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> None:
        """A scheduled retry: carry out the waiting command, then the commands queued behind it."""
        if not state["retrying"] or waiting_id(state) != command["command_id"]:
            # A retry already done (redelivered), or overtaken by a replay. The drain that followed it may have
            # been cut short by a crash: the replayed retry record goes on with it, rather than leaving the
            # queued texts to wait for the consumer's next one.
            if drain_left_over(state):
                await self._drain(key)
            return
        if await self._attempt(key, command, state):
            await self._dequeue(key, state, retrying=False)
            await self._drain(key)

    async def _give_up(self, key: str) -> None:
        """The waiting command failed for good: it leaves the queue (the caller dead-letters it), the rest go."""
        state = self._table.get(key)
        if state is not None and state["retrying"]:
            self._save(key, state | {"pending": state["pending"][1:], "retrying": False})
            await self._drain(key)

    async def _run(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> bool:
        """Carry out one command; False when it is (or stays) queued for LiveEngage's open conversation."""
        if command["action"] in LIVEENGAGE_ACTIONS and command["command_id"] in state["ledger"]:
            logger.info("command already carried out in LiveEngage; skipping its replay")
            return True
        try:
            await self._handlers[command["action"]](key, command, state)
        except Queued:
            return False
        if command["action"] in LIVEENGAGE_ACTIONS:
            self._ledgered(key, state, command["command_id"])
        return True

    def _ledgered(self, key: str, state: dict[str, Any], done_id: str) -> dict[str, Any]:
        """The latest state with ``done_id`` added to the ledger of what was carried out."""
        latest = self._table.get(key) or state
        return self._save(key, latest | {"ledger": [*latest["ledger"][-(LEDGER_KEPT - 1):], done_id]})

    def _save(self, key: str, state: dict[str, Any]) -> dict[str, Any]:
        self._table.put(key, state)
        return state

    async def _durable(self, key: str, what: str) -> None:
        """The state so far is written and acknowledged by Kafka before the command's next send."""
        self._table.write(key)
        await self._dead_letters.table_writes_acknowledged(what)

    def _route(self, state: dict[str, Any]) -> ChannelRoute:
        return self._settings.channels[state["channel_id"]]

    # Consumer texts and files: open a conversation when needed, reopen once if LiveEngage closed it.
    async def _publish_text(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> None:
        """A text too long for one SEND request goes as several, in order; each part but the last is in the ledger
        (and durable) before the next is sent, so a crash repeats at most one part."""
        metadata = json.loads(command["metadata_json"]) if command["metadata_json"] else None
        answered = self._answered_sequence(command, state)
        if answered is not None and f"{command['command_id']}#action" not in state["ledger"]:
            # A tapped button is reported first, with its metadata, then its text (Messaging Window API tutorial
            # post-conversation-survey-pcs.md, "Consumer Responds on the Post Survey").
            event = requests.accept_status_event("ACTION", [answered])
            try:
                await self._send(state, requests.publish(state["conversation_id"], state["dialog_id"], event,
                                                         metadata))
            except RemoteRejectedError as exc:
                if CONVERSATION_IS_CLOSE not in str(exc):
                    raise  # closed meanwhile: the text below opens a new conversation, where no button was tapped
            state = await self._step_done(key, state, f"{command['command_id']}#action")
        parts = requests.text_parts(command["text"], metadata)
        for index, part in enumerate(parts[:-1]):
            part_id = f"{command['command_id']}#{index}"
            if part_id not in state["ledger"]:
                await self._publish_consumer_event(key, command, state, requests.text_event(part), metadata)
                state = await self._step_done(key, state, part_id)
        await self._publish_consumer_event(key, command, state, requests.text_event(parts[-1]), metadata)

    @staticmethod
    def _answered_sequence(command: dict[str, Any], state: dict[str, Any]) -> int | None:
        """The sequence of the agent's (or survey bot's) message whose button the text is, in the open dialog."""
        dialog_id, _, sequence = (command["answers"] or "").rpartition(":")
        if command["metadata_json"] and state["status"] in (Status.OPEN, Status.SURVEY) \
                and dialog_id == state["dialog_id"] and sequence.isdigit():
            return int(sequence)
        return None

    async def _step_done(self, key: str, state: dict[str, Any], step_id: str) -> dict[str, Any]:
        """One send of a command that makes several is in the ledger, durably, before the next starts."""
        latest = self._ledgered(key, state, step_id)
        await self._durable(key, f"a step of command {step_id}")
        return latest

    async def _publish_file(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> None:
        file = command["file"]
        file_type = FILE_TYPES.get(file["content_type"].lower())
        if file_type is None:
            raise UnsupportedEventError(f"file type {file['content_type'][:40]} is not an image LiveEngage takes")
        data = await self._channels.fetch_file(state["channel_id"], file["url"], self._settings.max_file_bytes)
        state = await self._ensure_open(key, command, state)
        path = await self._as_consumer(state, lambda jws: self._liveengage.upload_file(state["account_id"], jws, data,
                                                                                     file_type))
        await self._publish_consumer_event(key, command, state, requests.file_event(path, file_type, file["caption"]))

    async def _publish_consumer_event(self, key: str, command: dict[str, Any], state: dict[str, Any],
                                      event: dict[str, Any], metadata: list[Any] | None = None) -> None:
        state = await self._ensure_open(key, command, state)
        try:
            answer = await self._send(state, requests.publish(state["conversation_id"], state["dialog_id"], event,
                                                              metadata))
        except RemoteRejectedError as exc:
            if CONVERSATION_IS_CLOSE not in str(exc):
                raise
            logger.info("conversation %s was closed in LiveEngage; opening a new one", state["conversation_id"])
            reopening = moved(state, Trigger.FOUND_CLOSED, last_conversation_id=state["conversation_id"],
                              conversation_id=None, dialog_id=None, routes=routes_closed(state))
            state = await self._ensure_open(key, command, self._save(key, reopening))
            answer = await self._send(state, requests.publish(state["conversation_id"], state["dialog_id"], event))
        text = event["message"] if command["action"] == "PUBLISH_TEXT" else None
        await self._record("CONSUMER_MESSAGE", state, state["conversation_id"], command["command_id"],
                           content_type=event.get("contentType"), text=text,
                           latency_ms=since_ms(command["created_at"]))
        sequence = answer.get("sequence")
        if isinstance(sequence, int):
            published = dict(sorted(state["published"].items(), key=lambda item: int(item[0]))[-PUBLISHED_KEPT:])
            published[str(sequence)] = command["command_id"]
            self._save(key, state | {"published": published, "updated_at": now()})

    async def _ensure_open(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        if state["status"] in (Status.OPEN, Status.SURVEY):
            return state
        account_id = state["account_id"]
        if state["consumer_jws"] is None:
            token = await self._liveengage.consumer_token(account_id, key)
            state = self._save(key, state | {"consumer_jws": token.jws, "lp_consumer_id": token.lp_consumer_id})
            await self._announce_identity(state)
        if state["status"] == Status.CLOSED:
            state = self._save(key, moved(state, Trigger.CONSUMER_MESSAGE))
        route = self._route(state)
        batch = requests.open_conversation(account_id, requests.sdes(command["profile"], route, key), route)
        try:
            conversation_id = await self._as_consumer(
                state, lambda jws: self._liveengage.open_conversation(account_id, jws, batch))
        except RemoteRejectedError as exc:
            if ALREADY_OPEN in str(exc):
                # LiveEngage holds a conversation open that this connector did not open or lost track of. The
                # text waits in the state until that conversation's notification arrives (_apply_change).
                self._queue(key, command, state)
                if state["retrying"]:  # a retry of this text: it now waits for the notification, not for a retry
                    self._save(key, (self._table.get(key) or state) | {"retrying": False})
                await self._announce_identity(state)
                raise Queued from exc
            if not exc.retriable:
                self._save(key, moved(state, Trigger.OPEN_FAILED))
            raise
        # The skill is learnt from LiveEngage's notifications: it routes a requested "-1" or a campaign to a skill of
        # its own choice, and that first report is no transfer.
        return await self._opened(key, state, Trigger.OPENED, conversation_id, conversation_id, None, None)

    async def _opened(self, key: str, state: dict[str, Any], trigger: Trigger, conversation_id: str,
                      dialog_id: str, skill_id: str | None, agent_id: str | None) -> dict[str, Any]:
        """Record the consumer's conversation and publish its route, so its agent events reach the channel."""
        opened = now()
        stale = stale_routes(state["routes"], opened - timedelta(seconds=self._settings.state_retention_s))
        routes = {id_: closed_at for id_, closed_at in state["routes"].items() if id_ not in stale}
        state = self._save(key, moved(state, trigger, conversation_id=conversation_id, dialog_id=dialog_id,
                                      opened_at=opened, published={}, agent_id=agent_id, skill_id=skill_id,
                                      routes=routes | {conversation_id: 0}))
        # A consumer who comes back again and again keeps their state: their long-closed conversations go.
        await self._forgetting.routes(state, stale)
        logger.info("conversation %s on account %s: %s", conversation_id, state["account_id"], trigger.value)
        route_record = {"conversation_id": conversation_id, "account_id": state["account_id"],
                        "channel_id": state["channel_id"], "consumer_id": state["consumer_id"], "opened_at": opened}
        await publish(self._topics.conversation_routes, conversation_id, ROUTE.encode(route_record))
        await self._record("CONVERSATION_OPENED", state, conversation_id, f"{conversation_id}:opened")
        return state

    async def _close_state(self, key: str, state: dict[str, Any], trigger: Trigger) -> None:
        self._save(key, closed(state, trigger))
        conversation_id = state["conversation_id"]
        if conversation_id is not None:
            await self._record("CONVERSATION_CLOSED", state, conversation_id, f"{conversation_id}:closed")

    async def _record(self, kind: str, state: dict[str, Any], conversation_id: str, event_id: str,
                      **details: Any) -> None:
        await self._analytics.record(kind, event_id=event_id, conversation_id=conversation_id,
                                     account_id=state["account_id"], channel_id=state["channel_id"],
                                     consumer_id=state["consumer_id"], **details)

    def _queue(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> None:
        """Append the command to the queue, unless it is already in it (a queued command being retried)."""
        if any(COMMAND.decode(raw)["command_id"] == command["command_id"] for raw in state["pending"]):
            return
        self._save(key, moved(state, Trigger.QUEUED) | {"pending": [*state["pending"],
                                                                   COMMAND.encode_single_object(command)]})

    async def _announce_identity(self, state: dict[str, Any]) -> None:
        """Tell the identity index who this LiveEngage consumer is, so that a conversation LiveEngage opened
        (or kept open) for them without this connector is routed to them (``streams.identities``)."""
        if state["lp_consumer_id"] is None:
            return
        identity = {"lp_consumer_id": state["lp_consumer_id"], "account_id": state["account_id"],
                    "channel_id": state["channel_id"], "consumer_id": state["consumer_id"], "change": None}
        await publish(self._topics.consumer_identities, state["lp_consumer_id"], IDENTITY.encode(identity))

    async def _drain(self, key: str) -> None:
        """Carry out the queued commands in order. One that fails is dead-lettered and the rest go on; when
        LiveEngage still holds another conversation open, or is unavailable, the queue waits."""
        while (state := self._table.get(key)) is not None and state["pending"] and not state["retrying"]:
            raw = state["pending"][0]
            try:
                if not await self._attempt(key, COMMAND.decode(raw), state):
                    return
            except Exception as exc:  # noqa: BLE001 - dead-lettered, so that the queue never sticks on one command
                await self._dead_letters.send_record(catalogue.LIVEENGAGE_COMMANDS.name, key.encode(), raw,
                                                     dead_letter_error(exc, "a queued command"))
            await self._dequeue(key, state)

    async def _dequeue(self, key: str, state: dict[str, Any], **changes: Any) -> None:
        """The queue's first command is done: it leaves the queue, durably before the next one is sent, so a
        crash mid-drain repeats at most the one send in flight."""
        state = self._table.get(key) or state
        rest = state["pending"][1:]
        self._save(key, state | {"pending": rest, **changes})
        if rest:
            await self._durable(key, "a queued command")

    async def _send(self, state: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        return await self._as_consumer(state, lambda jws: self._liveengage.send(state["account_id"], jws, request))

    async def _as_consumer(self, state: dict[str, Any], call: Callable[[str], Awaitable[T]]) -> T:
        """``call`` with the consumer's ConsumerJWS; when LiveEngage rejects that token (its errorCode says so,
        not the AppJWT's), fetch a new one once, keep it in ``state`` (and the table) and call again."""
        try:
            return await call(state["consumer_jws"])
        except ConsumerJwsRejectedError as exc:
            key = consumer_key(state["channel_id"], state["consumer_id"])
            logger.info("LiveEngage rejected a ConsumerJWS on account %s (%s); fetching a new one",
                        state["account_id"], exc.code)
            token = await self._liveengage.consumer_token(state["account_id"], key)
            state.update(consumer_jws=token.jws, lp_consumer_id=token.lp_consumer_id or state["lp_consumer_id"])
            self._save(key, (self._table.get(key) or state) | {"consumer_jws": token.jws,
                                                                "lp_consumer_id": state["lp_consumer_id"]})
            return await call(token.jws)

    # Receipts and chat states only make sense in an open conversation; without one they are dropped.
    async def _accept_status(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> None:
        if state["status"] not in (Status.OPEN, Status.SURVEY):
            return
        sequences = sorted({int(seq) for dialog_id, _, seq in (m.rpartition(":") for m in command["message_ids"])
                            if dialog_id == state["dialog_id"] and seq.isdigit()})
        if sequences:
            event = requests.accept_status_event(command["accept_status"], sequences)
            await self._send(state, requests.publish(state["conversation_id"], state["dialog_id"], event))

    async def _chat_state(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> None:
        if state["status"] != Status.OPEN:  # a survey dialog takes no chat states
            return
        event = requests.chat_state_event(command["chat_state"])
        await self._send(state, requests.publish(state["conversation_id"], state["dialog_id"], event))

    async def _close(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> None:
        if state["status"] not in (Status.OPEN, Status.SURVEY):
            return
        # During a survey the conversation's state is already CLOSE: closing its stage ends the survey too.
        close = requests.close_conversation if state["status"] == Status.OPEN else requests.close_stage
        try:
            await self._send(state, close(state["conversation_id"]))
        except RemoteRejectedError as exc:
            if CONVERSATION_IS_CLOSE not in str(exc):
                raise
        await self._close_state(key, state, Trigger.CONSUMER_CLOSE)

    async def _submit_survey(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> None:
        conversation_id = state["conversation_id"] or state["last_conversation_id"]
        if conversation_id is None:
            raise UnsupportedEventError("a survey answer, but this consumer never had a conversation")
        await self._send(state, requests.survey_answer(conversation_id, command["csat_rate"], command["fcr"]))

    # Changes LiveEngage reported (agent or system close, survey, transfer), routed here by conversation.
    async def _apply_change(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> None:
        change = command["change"]
        if change["conversation_id"] != state["conversation_id"]:
            await self._other_conversation(key, change, state)
            return
        if change["updated_at"] <= state["change_ts"]:
            return  # older than a notification already applied
        state = state | {"change_ts": change["updated_at"]}
        status, notices = state["status"], self._route(state).notices
        if is_over(change):
            trigger = Trigger.SURVEY_CLOSED if status == Status.SURVEY else \
                CLOSE_TRIGGERS.get(change["close_reason"] or "SYSTEM", Trigger.SYSTEM_CLOSE)
            if can(status, trigger):
                await self._close_state(key, state, trigger)
                if change["close_reason"] != "CONSUMER" or trigger == Trigger.SURVEY_CLOSED:
                    await self._notice(state, "closed", notices.closed)
                return
        elif change["dialog_type"] == "POST_SURVEY" and change["dialog_id"]:
            if can(status, Trigger.SURVEY_OPENED):
                await self._enter_survey(key, state, change["dialog_id"])
                await self._notice(state, "survey", notices.survey)
            else:
                self._save(key, state)
            return
        # A transfer changes a skill or an agent the connector already knew; the first ones reported are none.
        skill_changed = None not in (state["skill_id"], change["skill_id"]) and change["skill_id"] != state["skill_id"]
        agent_changed = None not in (state["agent_id"], change["agent_id"]) and change["agent_id"] != state["agent_id"]
        learnt = {"skill_id": change["skill_id"] or state["skill_id"], "agent_id": change["agent_id"] or state["agent_id"]}
        if status == Status.OPEN and (skill_changed or agent_changed):
            self._save(key, moved(state, Trigger.TRANSFERRED, **learnt))
            await self._notice(state, "transferred", notices.transferred)
            return
        self._save(key, state | learnt)

    async def _enter_survey(self, key: str, state: dict[str, Any], dialog_id: str) -> dict[str, Any]:
        """The post-conversation survey runs in its own dialog: texts now answer it, and its events, which may carry
        only that dialog's id, are routed to this consumer too."""
        # The route first: once the state says SURVEY, a replay of this change is passed over as already applied.
        route_record = {"conversation_id": state["conversation_id"], "account_id": state["account_id"],
                        "channel_id": state["channel_id"], "consumer_id": state["consumer_id"], "opened_at": now()}
        await publish(self._topics.conversation_routes, dialog_id, ROUTE.encode(route_record))
        return self._save(key, moved(state, Trigger.SURVEY_OPENED, dialog_id=dialog_id,
                                     routes=state["routes"] | {dialog_id: 0}))

    async def _other_conversation(self, key: str, change: dict[str, Any], state: dict[str, Any]) -> None:
        """A conversation of this consumer that the connector did not open: adopt it when it is open and the
        consumer has none (texts queued for it are sent now); retry opening when it closed while texts wait."""
        if change["updated_at"] <= state["change_ts"] or change["conversation_id"] == state["last_conversation_id"]:
            return  # older than what the state already knows (e.g. the creation of a conversation since closed)
        if not is_over(change) and can(state["status"], Trigger.ADOPTED):
            conversation_id = change["conversation_id"]
            state = await self._opened(key, state, Trigger.ADOPTED, conversation_id, conversation_id,
                                       change["skill_id"], change["agent_id"])
            if change["dialog_type"] == "POST_SURVEY" and change["dialog_id"]:
                state = await self._enter_survey(key, state, change["dialog_id"])
            self._save(key, state | {"change_ts": change["updated_at"]})
            await self._drain(key)
        elif is_over(change) and state["status"] == Status.OPENING and state["pending"]:
            await self._drain(key)  # the first queued text opens a conversation again

    # State retention (streams.retention): the sweep asks, the state is checked again here, in order.
    async def _expire(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> None:
        self._forgetting.backlog.handled()
        stored = self._table.get(key)
        cutoff = now() - timedelta(seconds=self._settings.state_retention_s)
        if stored is None or not is_expired(stored, cutoff):
            return  # forgotten already, or the consumer came back since the sweep looked
        self._table.delete(key)
        await self._forgetting.consumer(key, stored, erase=False)
        # Debug: a brand forgets hundreds of thousands of consumers a month; the sweep logs their count.
        logger.debug("state of a consumer on channel %s expired (last activity %s)", stored["channel_id"],
                    stored["updated_at"].isoformat())

    async def _erase(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> None:
        """A data-subject request: everything kept about the consumer goes, whatever their conversation's state,
        texts still queued included (LiveEngage keeps its own records; README, "State retention")."""
        stored = self._table.get(key)
        self._table.delete(key)
        await self._forgetting.consumer(key, stored, erase=True)
        logger.info("state of a consumer on channel %s erased on request", command["channel_id"])

    async def _agent_receipt(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> None:
        if not self._route(state).capabilities.receipts or state["conversation_id"] is None:
            return
        message_ids = [state["published"][str(s)] for s in command["sequences"] if str(s) in state["published"]]
        if message_ids:
            status = "read" if command["accept_status"] == "READ" else "delivered"
            await self._to_channel(state, f"{command['command_id']}:receipt", kind="RECEIPT",
                                   receipt_status=status, receipt_message_ids=message_ids)

    async def _agent_file(self, key: str, command: dict[str, Any], state: dict[str, Any]) -> None:
        """A file the agent shared: its temporary download URL goes to the channel, as media where the channel
        shows media, else as a link under its caption."""
        if state["status"] not in (Status.OPEN, Status.SURVEY) or state["consumer_jws"] is None:
            return
        file = command["file"]
        url = await self._as_consumer(state, lambda jws: self._liveengage.download_url(state["account_id"], jws,
                                                                                      file["url"]))
        if self._route(state).capabilities.media:
            await self._to_channel(state, command["command_id"], kind="FILE", text=file["caption"], file_url=url,
                                   file_type=file["content_type"])
        else:
            await self._to_channel(state, command["command_id"], kind="TEXT",
                                   text="\n".join(filter(None, (file["caption"], url))))

    async def _notice(self, state: dict[str, Any], notice: str, text: str | None) -> None:
        if text:
            await self._to_channel(state, f"{state['conversation_id']}:{notice}:{state['change_ts']}", kind="NOTICE",
                                   notice=notice, text=text)

    async def _to_channel(self, state: dict[str, Any], message_id: str, **fields: Any) -> None:
        message = {"message_id": message_id, "channel_id": state["channel_id"], "consumer_id": state["consumer_id"],
                   "conversation_id": state["conversation_id"] or state["last_conversation_id"] or "",
                   "created_at": now(), **fields}
        key = consumer_key(state["channel_id"], state["consumer_id"])
        await publish(self._topics.channel_outbound, key, OUTBOUND.encode(message))
