"""The console with API keys configured: it asks for a key, keeps it out of cookies, sends it
as a Bearer header (event streams included), and shows each key only its own jobs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.browser import Browser, require_chromium
from tests.integration.conftest import layout_env, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

ALICE, BOB = "alice-key-0123456789abcdef", "bob-key-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_chromium()
    tmp = tmp_path_factory.mktemp("console-keys")
    env = layout_env("redis", files, tmp) | {"ASYNCML_API_KEYS": f"alice:{ALICE},bob:{BOB}"}
    stack = Stack("redis", env, tmp)
    stack.client.headers["Authorization"] = f"Bearer {ALICE}"
    try:  # a start that fails must not leave workers consuming this slot's queues
        stack.start_worker("fixture", 1, "--tasks", "tests.plugins.fixture_tasks")
        stack.start_api()
        stack.wait_tasks(("fixture.form",))
        yield stack
    finally:
        stop_stack(stack, tmp)


@pytest.fixture
def browser(keyed: Stack) -> Iterator[Browser]:
    chromium = Browser(keyed.url)
    yield chromium
    assert not chromium.dialog_open()
    assert chromium.script_errors() == []
    chromium.quit()


def use_key(browser: Browser, key: str) -> None:
    browser.wait_text("main h1", "API key needed")
    browser.fill('input[name="api-key"]', key)
    browser.find("form.key-form button[type=submit]").click()


def test_each_key_sees_only_its_own_jobs(browser: Browser, keyed: Stack) -> None:
    browser.open("/tasks")
    use_key(browser, "not-a-key-0123456789abcdef")
    browser.wait_text("main", "That key was refused")
    use_key(browser, ALICE)
    browser.find('[data-task="fixture.form"]')

    # Alice submits from the form and follows her job live: the stream carries her key.
    browser.go("/tasks/fixture.form")
    browser.fill('[name="input.text"]', "alice's")
    browser.find("form.task-form button[type=submit]").click()
    alice_job = browser.text(".follow .job-title code")
    browser.wait_text(".follow .timeline", "succeeded")
    curl = browser.text('pre[data-lang="curl"]')
    assert "$ASYNCML_API_KEY" in curl and ALICE not in curl
    assert browser.js("return document.cookie") == ""
    assert browser.js("return sessionStorage.getItem('asyncml.apiKey')") == ALICE

    # Bob, in the same tab after forgetting Alice's key.
    bob_job = keyed.client.post(
        "/v1/jobs",
        json={"task": "fixture.form", "input": {"text": "bob's", "voice": {}}},
        headers={"Authorization": f"Bearer {BOB}"},
    ).json()["id"]
    browser.find(".key-state button").click()
    use_key(browser, BOB)
    browser.go("/jobs")
    browser.find(f'tr[data-job="{bob_job}"]')
    assert not browser.all(f'tr[data-job="{alice_job}"]')
    browser.go(f"/jobs/{alice_job}")
    browser.wait_text("main .notice", "not yours")
    assert not browser.all("main .job-title")

    # Another tab knows no key at all: sessionStorage belongs to one tab.
    browser.driver.switch_to.new_window("tab")
    browser.open(f"/jobs/{alice_job}")
    browser.wait_text("main h1", "API key needed")
