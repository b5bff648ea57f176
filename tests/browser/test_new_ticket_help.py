"""The new-ticket form helps write a good ticket: one issue per ticket, the five
questions as a template to answer, and the browser and operating system added to
the description only when the person ticks the box, shown before sending."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

QUESTIONS = (
    "What were you trying to do?",
    "What happened?",
    "What did you expect to happen?",
    "When did it start?",
    "Steps to reproduce",
)
ANSWERS = (
    "Sync my LeetCode stats to the profile page.",
    "The stats card says 'never synced'.",
    "Yesterday's solved problems on the card.",
    "Monday morning, after the weekly sync.",
)


def _fill_the_rest(page, subject):
    page.click("label[for=type-data]")
    page.select_option("#feature", "leetcode_stats")
    page.fill("#subject", subject)


def test_the_questions_are_a_template_to_answer_and_the_environment_is_opt_in(
    open_page, person, shoot
):
    alice = person("user", "Alice Example")
    w = open_page("/help-center/tickets/new", alice.token)
    page = w.page

    # The guidance, before anything is typed.
    expect(page.locator("#one-issue")).to_contain_text("One issue per ticket")
    expect(page.locator("#questions li")).to_have_text(
        [*QUESTIONS[:4], "What are the steps to reproduce it?"]
    )
    # The shipped catalog: this product's features and the data type's description.
    expect(page.locator("#feature option", has_text="LeetCode Stats")).to_have_count(1)
    expect(page.locator("#type-data-desc")).to_contain_text(
        "Issues with GitHub, LeetCode, or LinkedIn data synchronization"
    )

    # The template puts the questions in the description, cursor under the first.
    page.click("#insert-questions")
    description = page.locator("#description")
    expect(description).to_be_focused()
    text = description.input_value()
    cursor = description.evaluate("(el) => [el.selectionStart, el.selectionEnd]")
    assert cursor == [len(f"**{QUESTIONS[0]}**\n")] * 2, cursor
    assert [q for q in QUESTIONS if f"**{q}**" in text] == list(QUESTIONS)
    # Pressing it again adds no second copy.
    page.click("#insert-questions")
    assert description.input_value().count(f"**{QUESTIONS[0]}**") == 1

    # The questions alone are not a description: the person's own words are wanted.
    _fill_the_rest(page, "LeetCode stats stopped syncing")
    page.click("#submit")
    expect(page.locator("#description-error")).to_contain_text(
        "Answer the questions in your own words"
    )
    assert alice.api("GET", "/tickets")["items"] == []

    # Answer under each question.
    answered = description.input_value()
    for question, answer in zip(QUESTIONS[:4], ANSWERS, strict=True):
        answered = answered.replace(f"**{question}**\n", f"**{question}**\n{answer}\n", 1)
    answered = answered.replace("1. ", "1. Open the profile\n2. Press Sync now")
    description.fill(answered)
    expect(page.locator("#description-error")).to_be_hidden()

    # Unticked by default: nothing about the browser is shown or sent.
    box = page.locator("#add-environment")
    expect(box).not_to_be_checked()
    expect(page.locator("#environment-preview")).to_be_hidden()
    # Ticked: exactly what will be added is shown before sending.
    box.check()
    added = page.locator("#environment-text")
    expect(added).to_be_visible()
    expect(added).to_contain_text(re.compile(r"Browser: \w+"))
    expect(added).to_contain_text("Operating system: Linux")
    expect(added).to_contain_text("Screen: 1280×800")
    shown = added.inner_text()
    # The preview is what will be stored, the environment included.
    page.click("#preview-tab")
    expect(page.locator("#preview")).to_contain_text("Operating system: Linux")
    page.click("#write-tab")
    shoot(page, "new-ticket-questions-laptop")

    page.click("#submit")
    expect(page).to_have_url(re.compile(r"/help-center/tickets/\d+$"))
    ticket_id = int(page.url.rsplit("/", 1)[1])
    stored = alice.api("GET", f"/tickets/{ticket_id}")["description"]
    assert stored.startswith(f"**{QUESTIONS[0]}**\n{ANSWERS[0]}")
    assert stored.endswith(shown)
    assert "Operating system: Linux" in stored
    assert w.dialogs == [] and w.errors == []


def test_unticked_the_description_is_sent_as_typed(open_page, person):
    alice = person("user")
    w = open_page("/help-center/tickets/new", alice.token)
    page = w.page
    typed = "The LinkedIn sync imported my old job title twice and the resume shows both of them."
    _fill_the_rest(page, "LinkedIn sync duplicates a job")
    page.fill("#description", typed)
    # Ticked and unticked again: nothing is added.
    page.check("#add-environment")
    page.uncheck("#add-environment")
    expect(page.locator("#environment-preview")).to_be_hidden()
    page.click("#submit")
    expect(page).to_have_url(re.compile(r"/help-center/tickets/\d+$"))
    ticket_id = int(page.url.rsplit("/", 1)[1])
    assert alice.api("GET", f"/tickets/{ticket_id}")["description"] == typed
