"""The sandbox console in a real browser (Debian's Chromium, driven by Playwright): a whole conversation played on
both panes of the page, through the real bridges, broker and worker; the flow pane showing each event's path; dead
letters listed with their headers and replayed.

Set ``LEC_CONSOLE_SCREENSHOTS=docs`` to keep screenshots of the page (the README's are made this way).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from devstack.stack import Stack
from schemas.topics import CONSUMER_IDENTITIES
from tests.e2e.conftest import produce_raw

pytestmark = pytest.mark.e2e
WAIT_MS = 60_000  # a condition on the page must hold within this long
SCREENSHOTS = os.environ.get("LEC_CONSOLE_SCREENSHOTS")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is missing: make test installs Debian's package"
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox needs user namespaces, which a root CI run does not get.
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    expect.set_options(timeout=WAIT_MS)
    opened = browser.new_page(viewport={"width": 1500, "height": 1250})
    opened.goto(stack.console_url)
    yield opened
    opened.close()


def screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"console-{name}.png"), full_page=True)


def test_a_whole_conversation_on_both_panes(page: Page, stack: Stack, consumer: str) -> None:
    inbox, transcript = page.locator("#inbox"), page.locator("#transcript")
    expect(page.locator("#channel")).to_have_value(stack.config.channel_id)
    page.fill("#number", consumer)
    page.dispatch_event("#number", "change")

    # The consumer writes; the agent pane finds the conversation LiveEngage opened and shows the text.
    page.fill("#consumer-text", "Hello, my parcel has not arrived")
    page.click("#consumer-send")
    expect(page.locator("#consumer-status")).to_have_text("text: the channel bridge answered 202")
    expect(inbox.locator("li.mine")).to_contain_text(["Hello, my parcel has not arrived"])
    row = page.locator(f'#conversations tr[data-consumer="{stack.config.channel_id}:{consumer}"]')
    expect(row).to_contain_text("OPEN")
    expect(row).to_have_class(re.compile("selected"))
    expect(transcript.locator("li.theirs")).to_have_text([re.compile("^Hello, my parcel has not arrived")])

    # The agent answers with text, then structured content: the consumer sees it as the channel renders it.
    page.fill("#agent-text", "Sorry to hear that! Let me check.")
    page.click("#agent-send")
    expect(inbox.locator("li.theirs")).to_contain_text(["Sorry to hear that! Let me check."])
    page.click("#agent-pane details summary")
    page.click("#agent-send-content")
    card = inbox.locator("li.theirs").nth(1)
    expect(card).to_contain_text("Your order A-4471\n1. Track (https://track.example/A-4471)\n2. Talk to us")

    # A numbered reply stands for the choice; typing shows on both sides.
    page.fill("#consumer-text", "2")
    page.click("#consumer-send")
    expect(transcript.locator("li.theirs").last).to_contain_text("agent please")
    page.click("#agent-typing")
    expect(page.locator("#agent-typing-state")).to_be_visible()
    page.click("#consumer-typing")
    expect(page.locator("#consumer-typing-state")).to_be_visible()

    # A picture from the consumer arrives as a hosted file; read receipts go both ways.
    page.click("#consumer-image")
    expect(transcript.locator("li.theirs").last).to_contain_text("[file] a picture")
    page.click("#agent-read")
    expect(inbox.locator("li.mine").first).to_contain_text("read")
    page.click("#consumer-read")
    expect(transcript.locator("li.mine").first).to_contain_text("read")
    screenshot(page, "conversation")

    # Transfer to another skill: the consumer is told; the agent pane shows the new skill.
    page.fill("#transfer-skill", "4242")
    page.click("#agent-transfer")
    expect(inbox.locator("li.notice")).to_contain_text([re.compile("transferred", re.IGNORECASE)])
    expect(row).to_contain_text("4242")

    # The agent closes with a survey; the consumer answers it; the conversation shows the CSAT and closes.
    page.check("#close-survey")
    page.click("#agent-close")
    expect(page.locator("#conversation-meta")).to_contain_text("survey open")
    page.select_option("#csat", "4")
    page.click("#consumer-survey")
    expect(page.locator("#conversation-meta")).to_contain_text("CSAT 4")
    page.click("#consumer-close")
    expect(row).to_contain_text("CLOSE")

    # The flow pane traced the consumer's first text and the agent's answer end to end, hop by hop.
    # Each path is found by its own ids (the consumer's message id, the agent message's dialog:sequence): the
    # shared stack's other tests have flows of their own on the pane.
    first_text = inbox.locator("li.mine").first.get_attribute("data-message-id")
    first_answer = inbox.locator("li.theirs").first.get_attribute("data-message-id")
    consumer_path = page.locator(f'#flows tr[data-flow-id="{first_text}"]')
    expect(consumer_path).to_contain_text("LiveEngage accepted")
    expect(consumer_path).to_contain_text(re.compile(r"lec\.channel\.inbound\[\d+\]@\d+"))
    expect(consumer_path).to_contain_text(re.compile(r"lec\.liveengage\.commands\[\d+\]@\d+"))
    agent_path = page.locator(f'#flows tr[data-flow-id="{first_answer}"]')
    expect(agent_path).to_contain_text("channel gateway accepted")
    expect(agent_path).to_contain_text(re.compile(r"lec\.liveengage\.events\[\d+\]@\d+"))
    expect(agent_path).to_contain_text(re.compile(r"lec\.channel\.outbound\[\d+\]@\d+ \+\d+ ms"))
    screenshot(page, "flows")


def test_a_survey_answered_in_the_consumer_pane(page: Page, stack: Stack, consumer: str) -> None:
    """The agent closes with a survey; the consumer answers its questions by number; the agent pane shows the
    survey dialog, its questions and answers, and the survey completed."""
    inbox, transcript = page.locator("#inbox"), page.locator("#transcript")
    page.fill("#number", consumer)
    page.dispatch_event("#number", "change")
    page.fill("#consumer-text", "Where is my refund?")
    page.click("#consumer-send")
    row = page.locator(f'#conversations tr[data-consumer="{stack.config.channel_id}:{consumer}"]')
    expect(row).to_contain_text("OPEN")
    page.fill("#agent-text", "It was sent yesterday.")
    page.click("#agent-send")
    expect(inbox.locator("li.theirs")).to_contain_text(["It was sent yesterday."])
    page.check("#close-survey")
    page.click("#agent-close")
    expect(page.locator("#conversation-meta")).to_contain_text("state CLOSE, stage OPEN · survey open")
    expect(inbox.locator("li.theirs").last).to_contain_text("How would you rate your overall experience?\n1. 1")
    page.fill("#consumer-text", "5")
    page.click("#consumer-send")
    expect(inbox.locator("li.theirs").last).to_contain_text("Was your issue resolved?\n1. Yes\n2. No\n3. Skip")
    page.fill("#consumer-text", "1")
    page.click("#consumer-send")
    expect(inbox.locator("li.notice").last).to_contain_text("closed")
    expect(page.locator("#conversation-meta")).to_contain_text("stage CLOSE · survey completed")
    expect(transcript.locator("li.survey.theirs")).to_have_text([re.compile("^5"), re.compile("^Yes")])
    expect(transcript.locator("li.survey.mine").last).to_contain_text("Thank you for your time.")
    screenshot(page, "survey")


def test_dead_letters_are_listed_with_headers_and_replayed(page: Page, stack: Stack) -> None:
    # Playwright's loop runs in this thread: the Kafka client gets a thread of its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(produce_raw, stack.bootstrap, CONSUMER_IDENTITIES.name, "lp-console-test", b"not avro").result()
    rows = page.locator(f'#dead-letters tr[data-source="{CONSUMER_IDENTITIES.name}"]')
    first = rows.first  # the page refreshes the list every few seconds
    expect(first).to_contain_text("UndecodableRecordError")
    first.locator("summary").click()
    expect(first.locator("pre")).to_contain_text(f"dlq.source.topic: {CONSUMER_IDENTITIES.name}")
    expect(first.locator("td.replayed")).to_have_text("no")
    screenshot(page, "dead-letters")
    first.locator("button").click()
    expect(page.locator("#dead-letter-status")).to_have_text(
        re.compile(rf"replayed [1-9]\d* dead letters of {re.escape(CONSUMER_IDENTITIES.name)}"))
    expect(first.locator("td.replayed")).to_have_text("yes")
    # Replayed, the poison record fails again: a second dead letter, not replayed yet.
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator("td.replayed")).to_have_text("no")
