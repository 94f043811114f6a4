"""The playground and the API reference in a real browser: Debian's chromium, headless, driven
by Playwright, against the local server on the embedded default (extractive answers).

Every wait is on the page's state (a selector, an attribute), never on the clock.
Set PLAYGROUND_SCREENSHOTS=docs to refresh the screenshots in docs/api.md.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest

from devtools.servers import running_in_background

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 240_000  # a busy machine is slow, never this slow
QUESTION = "How long does a full charge take?"
ANSWER = '#conversation li[data-role="assistant"]'


@pytest.fixture(scope="module")
def base_url(sample_index):
    # The embedded default answers extractively (the suite's default is generative).
    with running_in_background(startup_timeout=300, env={"LLM_ANSWER_STRATEGY": "extractive"}) as url:
        yield url


@pytest.fixture(scope="module")
def browser_context(base_url):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="playground-profile-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=ARGS, headless=True, base_url=base_url
        )
        context.set_default_timeout(WAIT_MS)
        yield context
        context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    yield page
    page.close()


def _ask(page, question: str, nth: int = 0):
    page.fill("#question", question)
    page.click("#send")
    answer = page.locator(f'{ANSWER}[data-state="done"]').nth(nth)
    answer.wait_for()
    return answer


def _screenshot(page, name: str) -> None:
    folder = os.environ.get("PLAYGROUND_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_an_answer_streams_in_with_its_sources(page):
    page.goto("/api/playground")

    answer = _ask(page, QUESTION)

    assert answer.get_attribute("data-failed") is None, page.inner_text("#status")
    # Text from the deltas was on the page before the final event replaced it.
    assert int(answer.get_attribute("data-deltas")) >= 1
    assert int(answer.get_attribute("data-text-before-final")) > 0
    assert answer.locator(".content").inner_text().strip()
    documents = answer.locator(".sources > li")
    assert documents.count() >= 1
    titles = documents.locator(".doc-title").all_inner_texts()
    assert len(titles) == len(set(titles))  # a document once, its passages under it
    assert re.fullmatch(r"\[1\] .+", documents.first.locator(".open-source").first.inner_text())
    relevance = documents.first.locator(".relevance").first.inner_text()
    assert relevance in {"high relevance", "medium relevance", "low relevance"}
    assert "0." not in answer.locator(".sources").inner_text()  # no raw score beside the sources...
    answer.locator(".metadata summary").click()
    metadata = answer.locator(".metadata pre").inner_text()
    assert '"model_used"' in metadata
    assert '"source_scores"' in metadata  # ...they are in the metadata


def test_a_citation_opens_its_passage_beside_the_answer(page, base_url):
    page.goto("/api/playground")
    answer = _ask(page, QUESTION)

    cited = answer.locator(".open-source").first
    title = answer.locator(".doc-title").first.inner_text()
    cited.click()
    page.locator('#source-panel[data-state="open"]').wait_for()

    passage = "".join(page.locator("#source-text mark").all_inner_texts())
    assert page.inner_text("#source-title") == title
    assert len(passage) > 40
    page.keyboard.press("Escape")
    assert page.locator("#source-panel").is_hidden()
    assert page.evaluate("document.activeElement.className") == "open-source"  # focus back where it was


def test_feedback_survives_a_reload_and_a_stored_session_continues(page, base_url):
    page.goto("/api/playground")
    session_id = page.inner_text("#session-label").removeprefix("Session ")
    answer = _ask(page, QUESTION)
    answer.locator(".comment").fill("the frame's warranty, as asked")
    answer.locator('.thumb[data-rating="down"]').click()
    page.locator(f'{ANSWER} .feedback-state:text-is("saved")').wait_for()

    page.reload()
    page.locator(f'#sessions li[data-session-id="{session_id}"] .open').click()
    page.locator(f'#conversation[data-session-id="{session_id}"]').wait_for()
    reopened = page.locator(ANSWER).first
    assert reopened.locator('.thumb[data-rating="down"]').get_attribute("aria-pressed") == "true"
    assert reopened.locator(".comment").input_value() == "the frame's warranty, as asked"

    _ask(page, "And how long is the battery warranty?", nth=1)

    stored = httpx.get(f"{base_url}/api/v2/sessions/{session_id}", params={"user_id": "playground"}).json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant", "user", "assistant"]
    assert stored["messages"][1]["feedback"] == {"rating": "down", "comment": "the frame's warranty, as asked"}
    assert page.locator("#conversation > li").count() == 4


def test_the_api_reference_lists_every_operation(page, base_url):
    document = httpx.get(f"{base_url}/api/openapi.json").json()
    operations = [(path, method) for path, methods in document["paths"].items() for method in methods]

    page.goto("/api/docs")
    page.locator(".opblock").nth(len(operations) - 1).wait_for()

    assert page.locator(".opblock").count() == len(operations)
    for path, method in operations:
        assert page.locator(f'.opblock-{method} [data-path="{path}"]').count() == 1, (method, path)


def test_the_playground_takes_the_function_key_off_the_address(page):
    page.goto("/api/playground?code=key-7Qx9&lang=en#top")
    page.wait_for_function("() => document.getElementById('function-key').value !== ''")

    assert page.input_value("#function-key") == "key-7Qx9"
    assert page.evaluate("location.search + location.hash") == "?lang=en#top"  # and so the history entry


def test_the_api_reference_sends_the_key_in_a_header_and_no_address(page):
    requests = []
    page.on("request", lambda request: requests.append(request))

    page.goto("/api/docs?code=key-7Qx9")
    page.locator(".opblock").first.wait_for()

    assert page.evaluate("location.search") == ""
    document = [r for r in requests if r.url.endswith("/api/openapi.json")]
    assert document and document[0].headers.get("x-functions-key") == "key-7Qx9"
    # Only the page's own address held it.
    assert [r.url for r in requests if "key-7Qx9" in r.url] == [requests[0].url]
    assert requests[0].url.endswith("/api/docs?code=key-7Qx9")


def test_an_agent_answers_through_the_openai_compatible_route(page):
    page.goto("/api/playground")
    page.select_option("#mode", "openai")
    page.locator('#model option[value="8c3e2a57-4f0b-4c1e-9a6d-2f5b7e1d9c40"]').wait_for(state="attached")
    page.select_option("#model", "8c3e2a57-4f0b-4c1e-9a6d-2f5b7e1d9c40")  # the built-in docs-assistant

    answer = _ask(page, QUESTION)

    assert answer.get_attribute("data-failed") is None, page.inner_text("#status")
    assert int(answer.get_attribute("data-deltas")) >= 1
    assert answer.locator(".content").inner_text().strip()
    assert answer.locator(".sources .open-source").count() >= 1
    assert answer.locator(".feedback").is_hidden()  # no stored session to keep it in


def test_with_an_identity_the_sessions_come_from_the_api_and_delete_there(browser_context, sample_index):
    user = f"ana-{uuid.uuid4().hex[:8]}"
    env = {"LLM_ANSWER_STRATEGY": "extractive", "AUTH_TRUST_ASSERTED_USERS": "true"}
    with running_in_background(startup_timeout=300, env=env) as url:
        page = browser_context.new_page()
        page.goto(f"{url}/api/playground")
        page.fill("#user-id", user)
        session_id = page.inner_text("#session-label").removeprefix("Session ")
        _ask(page, QUESTION)
        listed = page.locator(f'#sessions li[data-session-id="{session_id}"]')
        listed.wait_for()
        assert page.inner_text("#sessions-note") == ""  # the API's list, not this browser's

        listed.locator(".delete").click()
        listed.wait_for(state="detached")

        assert httpx.get(f"{url}/api/v2/sessions/{session_id}", params={"user_id": user}).status_code == 404
        assert httpx.get(f"{url}/api/v2/sessions", params={"user_id": user}).json()["sessions"] == []
        page.close()


WARRANTY = "How many years of warranty does the frame have?"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def _sized_page(context, viewport):
    page = context.new_page()
    page.set_viewport_size(viewport)
    return page


def _box(page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_cited_number_opens_its_source_with_a_rendered_table(browser_context, viewport):
    page = _sized_page(browser_context, viewport)
    page.goto("/api/playground")
    phone = viewport is PHONE
    assert page.locator("#settings").is_visible() is not phone  # a drawer on a phone
    answer = _ask(page, WARRANTY)
    assert answer.get_attribute("data-failed") is None, page.inner_text("#error-panel")
    assert _box(page, f"{ANSWER} .content")["width"] >= (300 if phone else 600)
    name = "phone" if phone else "desktop"
    _screenshot(page, f"playground-{name}.png")

    cite = answer.locator(".content .cite").first  # the answer's own [n]
    cite.wait_for()
    n = int(cite.inner_text().strip("[]"))
    cite.click()
    page.locator('#source-panel[data-state="open"]').wait_for()

    panel, main = _box(page, "#source-panel"), _box(page, "main")
    if phone:
        assert panel["width"] >= viewport["width"] - 2  # over the conversation
    else:
        assert panel["x"] >= main["x"] + main["width"]  # beside it
    assert answer.locator(f'.open-source[data-n="{n}"]').count() == 1
    assert page.locator("#source-text table th").first.inner_text() == "Part"  # Markdown, not pipes
    assert "|---" not in page.inner_text("#source-text")
    assert page.locator("#source-text mark").count() >= 1
    _screenshot(page, f"citation-{name}.png")
    page.close()


def test_the_phone_drawer_and_the_keyboard(browser_context):
    page = _sized_page(browser_context, PHONE)
    page.goto("/api/playground")
    page.click("#toggle-settings")
    assert page.locator("#settings").is_visible()
    assert page.get_attribute("#toggle-settings", "aria-expanded") == "true"
    page.keyboard.press("Escape")
    assert page.locator("#settings").is_hidden()

    page.focus("#question")
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    assert page.input_value("#question") == "first line\nsecond line"  # Shift+Enter: a new line
    page.fill("#question", QUESTION)
    page.keyboard.press("Enter")  # Enter: sends
    page.locator(f'{ANSWER}[data-state="done"]').wait_for()
    assert page.locator('#conversation li[data-role="user"]').inner_text().endswith(QUESTION)
    page.close()


def test_a_refused_request_shows_the_error_panel(page):
    page.goto("/api/playground")
    page.fill("#user-id", "u" * 300)  # longer than the API takes: a real 422

    answer = _ask(page, QUESTION)

    assert answer.get_attribute("data-failed") == "true"
    panel = page.locator("#error-panel")
    assert panel.is_visible()
    assert panel.get_attribute("role") == "alert"
    assert "422" in page.inner_text("#error-title")
    assert "user_id" in page.inner_text("#error-message")
    assert page.inner_text("#error-advice") == "Correct the field the message names."


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.parametrize("address", ["/api/playground", "/api/docs"])
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_axe_finds_no_serious_or_critical_violation(browser_context, address, viewport):
    page = _sized_page(browser_context, viewport)
    page.goto(address)
    if address.endswith("docs"):
        page.locator(".opblock").first.wait_for()
    else:
        _ask(page, QUESTION)
    # Injected by the test through the driver: the page's CSP allows no script from elsewhere.
    page.evaluate(AXE.read_text())
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")

    grave = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
    assert grave == [], grave
    page.close()
