"""The browser console at /ui, driven in a real headless Chromium against a real API and
real workers (Redis broker and store): every built-in task from its generated form, live
progress, cancel, webhook redelivery, the jobs list's filters and pages, the queues page,
and job text that holds markup rendered as text.

``ASYNCML_SCREENSHOTS=docs`` writes the README's screenshots (docs/console-*.png); without
it they go to the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.integration.browser import Browser, require_chromium
from tests.integration.conftest import KNOWN_DRAW, layout_env, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.receiver import Receiver
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

FIXTURES = "tests.plugins.fixture_tasks"
GENDER = Path(__file__).resolve().parents[1] / "fixtures" / "gender"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("ASYNCML_SCREENSHOTS")
    return ROOT / target if target else tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def console(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_chromium()
    tmp = tmp_path_factory.mktemp("console")
    env = layout_env("redis", files, tmp) | {
        "ASYNCML_WEBHOOK_RETRY_SCHEDULE_S": "0,0.3,0.3",
        "ASYNCML_WEBHOOK_TIMEOUT_S": "3",
    }
    stack = Stack("redis", env, tmp)
    try:  # a start that fails must not leave workers consuming this slot's queues
        stack.start_worker("audio,euro", 1)
        stack.start_worker("fixture", 2, "--tasks", FIXTURES)
        stack.start_worker("webhooks", 1)
        stack.start_api()
        stack.wait_tasks(
            ("audio.length", "audio.gender", "euro.results", "fixture.echo", "fixture.form")
        )
        yield stack
    finally:
        stop_stack(stack, tmp)


@pytest.fixture(scope="module")
def browser(console: Stack) -> Iterator[Browser]:
    chromium = Browser(console.url)
    yield chromium
    chromium.quit()


@pytest.fixture(autouse=True)
def no_script_errors(browser: Browser) -> Iterator[None]:
    browser.script_errors()  # what earlier tests left
    yield
    assert not browser.dialog_open(), "a dialog opened"
    assert browser.script_errors() == []


@pytest.fixture(scope="module")
def speaker(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A synthetic voice served by the file server, and its expected gender."""
    entry = next(
        e for e in json.loads((GENDER / "expected.json").read_text()) if e["source"] == "synthetic"
    )
    target = tmp_path_factory.getbasetemp() / "www" / "console-voice.wav"
    shutil.copy(GENDER / entry["file"], target)
    return f"{files.base_url}/console-voice.wav", entry["gender"]


def submit_form(browser: Browser, task: str, fields: dict[str, str]) -> str:
    """Open the task's page, fill its generated form, submit; the new job's id."""
    browser.open(f"/tasks/{task}")
    browser.find("form.task-form")
    for name, value in fields.items():
        browser.fill(f'[name="input.{name}"]', value)
    browser.find("form.task-form button[type=submit]").click()
    title = browser.find(".follow .job-title code")
    return str(title.text)


def finished(browser: Browser, where: str = ".follow", timeout: float = 30) -> str:
    def status() -> str | None:
        found = browser.all(f"{where} [data-status]")
        state = found[0].get_attribute("data-status") if found else None
        return state if state in ("succeeded", "failed", "canceled") else None

    result: str = browser.wait(status, f"the job in {where} to finish", timeout)
    return result


def shown_json(browser: Browser, label: str) -> Any:
    return json.loads(browser.text(f'pre[aria-label="{label}"]'))


def test_each_builtin_task_runs_from_its_form(
    browser: Browser,
    files: FileServer,
    corpus: dict[str, float],
    speaker: tuple[str, str],
    shots: Path,
) -> None:
    browser.open("/tasks")
    for name in ("audio.length", "audio.gender", "euro.results"):
        card = f'[data-task="{name}"]'
        assert int(browser.text(f'{card} [data-fact="workers"]')) >= 1
        assert browser.text(f"{card} .description")
    browser.screenshot(shots / "console-tasks.png")
    submit_form(browser, "audio.length", {"url": f"{files.base_url}/short.wav"})
    assert finished(browser) == "succeeded", browser.text(".follow")
    length = shown_json(browser, "job result")
    assert length["audio_length"] == pytest.approx(corpus["short.wav"])
    # The same call as code: what was just sent, in three forms.
    curl = browser.text('pre[data-lang="curl"]')
    assert "/v1/jobs" in curl and f"{files.base_url}/short.wav" in curl
    browser.find('[role=tab][data-lang="python"]').click()
    assert 'client.submit("audio.length@1"' in browser.text('pre[data-lang="python"]')
    browser.find('[role=tab][data-lang="cli"]').click()
    assert "asyncml submit 'audio.length@1'" in browser.text('pre[data-lang="cli"]')
    browser.find('[role=tab][data-lang="curl"]').click()
    browser.screenshot(shots / "console-task.png")

    submit_form(browser, "euro.results", {"draw_date": KNOWN_DRAW.draw_date.isoformat()})
    assert finished(browser) == "succeeded", browser.text(".follow")
    draw = shown_json(browser, "job result")
    assert draw["numbers"] == list(KNOWN_DRAW.numbers) and draw["stars"] == list(KNOWN_DRAW.stars)

    url, gender = speaker
    submit_form(browser, "audio.gender", {"url": url})
    assert finished(browser, timeout=60) == "succeeded", browser.text(".follow")
    assert shown_json(browser, "job result")["gender"] == gender


def test_a_form_offers_every_kind_of_field(browser: Browser) -> None:
    browser.open("/tasks/fixture.form")
    browser.find("form.task-form")
    kinds = {
        name: browser.find(f'[name="input.{name}"]').get_attribute("data-kind")
        for name in ("text", "count", "mode", "link", "voice.pitch", "voice.whisper", "tags")
    }
    assert kinds == {
        "text": "string",
        "count": "integer",
        "mode": "enum",
        "link": "string",
        "voice.pitch": "number",
        "voice.whisper": "boolean",
        "tags": "json",
    }
    count = browser.find('[name="input.count"]')
    assert (count.get_attribute("min"), count.get_attribute("max")) == ("1", "10")
    assert browser.find('[name="input.link"]').get_attribute("type") == "url"
    # Every control has a label.
    unlabelled = browser.js(
        "return [...document.querySelectorAll('form.task-form input, form.task-form select,"
        " form.task-form textarea')].filter(e => e.labels.length === 0).map(e => e.name)"
    )
    assert unlabelled == []
    browser.fill('[name="input.text"]', "hello")
    browser.fill('[name="input.count"]', "3")
    Select(browser.find('[name="input.mode"]')).select_by_value("shout")
    browser.fill('[name="input.voice.pitch"]', "1.5")
    browser.find('[name="input.voice.whisper"]').click()
    browser.fill('[name="input.tags"]', '["a", "b"]')
    browser.find('[name="input.text"]').send_keys(Keys.ENTER)  # submits, as any form does
    assert finished(browser) == "succeeded", browser.text(".follow")
    echoed = shown_json(browser, "job result")["input"]
    assert echoed == {
        "text": "hello",
        "count": 3,
        "mode": "shout",
        "link": None,
        "voice": {"pitch": 1.5, "whisper": True},
        "note": None,
        "tags": ["a", "b"],
    }
    # A value the API refuses: its message, next to the form.
    browser.fill('[name="input.count"]', "")
    browser.fill('[name="input.tags"]', '{"not": "a list"}')
    browser.find("form.task-form button[type=submit]").click()
    assert "tags" in browser.wait_text(".form-error", "tags")


def test_progress_moves_live(browser: Browser, shots: Path) -> None:
    job_id = submit_form(browser, "fixture.echo@1", {"text": "hi", "times": "3"})
    seen: list[str] = []

    def done() -> bool:
        text = browser.all(".follow .progress-text")
        if text and text[0].text and text[0].text not in seen:
            seen.append(text[0].text)
        return finished_now(browser)

    browser.wait(done, "the echo job to finish", 30)
    steps = [s.split(" · ")[0] for s in seen]
    assert len(steps) >= 2 and steps == sorted(steps), seen  # "1 / 3", "2 / 3", "3 / 3"
    assert steps[-1] == "3 / 3"
    assert browser.find(".follow .timeline").get_attribute("data-source") == "events"
    events = [e.get_attribute("data-event") for e in browser.all(".follow .timeline li")]
    assert events[0] == "queued" and events[-1] == "succeeded"
    assert events.count("progress") >= 2
    # The job's own page, as a link from the list would open it.
    browser.go(f"/jobs/{job_id}")
    browser.wait_text("main .timeline", "succeeded")
    assert shown_json(browser, "job result")["text"] == "hihihi"
    assert browser.text('[data-fact="attempts"]') == "1"
    browser.screenshot(shots / "console-job.png")


def finished_now(browser: Browser) -> bool:
    found = browser.all(".follow [data-status]")
    return bool(found) and found[0].get_attribute("data-status") == "succeeded"


def test_cancel_a_running_job(browser: Browser, console: Stack) -> None:
    job_id = console.submit("fixture.sleep", {"seconds": 30}).json()["id"]
    browser.open(f"/jobs/{job_id}")
    browser.wait(
        lambda: browser.find("main").get_attribute("data-status") == "started",
        "the job to start",
    )
    browser.find('button[data-action="cancel"]').click()
    browser.wait(
        lambda: browser.find("main").get_attribute("data-status") == "canceled",
        "the page to show the job canceled",
    )
    assert browser.find('button[data-action="cancel"]').get_attribute("disabled") is not None
    assert console.wait_job(job_id)["status"] == "canceled"
    assert "canceled" in browser.text("main .timeline")


def test_redeliver_a_webhook(browser: Browser, console: Stack, files: FileServer) -> None:
    receiver = Receiver().start()
    try:
        body = {
            "task": "audio.length",
            "input": {"url": f"{files.base_url}/short.wav"},
            "webhook": f"{receiver.url}/hook",
        }
        job_id = console.client.post("/v1/jobs", json=body).json()["id"]
        browser.open(f"/jobs/{job_id}")
        browser.wait(lambda: len(browser.all("table.deliveries tbody tr")) == 1, "a delivery")
        first = receiver.wait("/hook", 1)
        browser.find('button[data-action="redeliver"]').click()
        browser.wait(lambda: len(browser.all("table.deliveries tbody tr")) == 2, "a redelivery")
        got = receiver.wait("/hook", 2)
        assert got[1].headers["webhook-id"] == first[0].headers["webhook-id"]
        outcomes = [r.get_attribute("data-outcome") for r in browser.all("table.deliveries tr")]
        assert outcomes[-2:] == ["succeeded", "succeeded"]
    finally:
        receiver.stop()


def test_the_jobs_list_filters_pages_and_updates(
    browser: Browser, console: Stack, shots: Path
) -> None:
    older = console.submit("fixture.form", {"text": "older", "voice": {}}).json()["id"]
    ok = console.submit("fixture.form", {"text": "a", "voice": {}}).json()["id"]
    failed = console.submit("fixture.fail", {}).json()["id"]
    for job_id in (older, ok, failed):
        console.wait_job(job_id)
    browser.open("/jobs")
    browser.find(f'tr[data-job="{failed}"]')
    Select(browser.find("select[name=status]")).select_by_value("failed")
    browser.wait(lambda: "status=failed" in browser.js("return location.hash"), "the filter")
    browser.find(f'tr[data-job="{failed}"]')
    rows = browser.all("table.jobs tbody tr")
    assert {r.get_attribute("data-status") for r in rows} == {"failed"}
    assert not browser.all(f'tr[data-job="{ok}"]')
    Select(browser.find("select[name=status]")).select_by_value("")
    browser.wait(lambda: "status=" not in browser.js("return location.hash"), "no filter")
    browser.find('select[name=task] option[value="fixture.form"]')  # names load after
    Select(browser.find("select[name=task]")).select_by_value("fixture.form")
    browser.find(f'tr[data-job="{ok}"]')
    assert {r.text.split()[1] for r in browser.all("table.jobs tbody tr")} == {"fixture.form"}
    # Live: a job submitted now shows up without a reload.
    late = console.submit("fixture.form", {"text": "late", "voice": {}}).json()["id"]
    browser.find(f'tr[data-job="{late}"]')
    browser.screenshot(shots / "console-jobs.png")
    # A keyboard user's place survives the refreshes; Enter opens the job.
    browser.js("arguments[0].focus()", browser.find(f'tr[data-job="{ok}"] a'))
    stamp = browser.text(".pager [role=status]")
    browser.wait(lambda: browser.text(".pager [role=status]") != stamp, "a refresh")
    assert browser.js("return document.activeElement.getAttribute('href')") == f"#/jobs/{ok}"
    browser.driver.switch_to.active_element.send_keys(Keys.ENTER)
    browser.wait_text("main .job-title", ok)
    # Pages of two, with the API's cursor.
    browser.open("/jobs?task=fixture.form&limit=2")
    browser.find(f'tr[data-job="{late}"]')

    def shown() -> set[str]:
        return {str(r.get_attribute("data-job")) for r in browser.all("table.jobs tbody tr")}

    page_one = shown()
    browser.find(".pager button:nth-child(2)").click()  # Next page
    browser.wait(lambda: "cursor=" in browser.js("return location.hash"), "the next page")

    browser.wait(lambda: shown() and not shown() & page_one, "another page of jobs")


def test_the_queues_page_shows_depth_grow_and_drain(
    browser: Browser, console: Stack, shots: Path
) -> None:
    browser.open("/queues")
    browser.find('tr[data-queue="fixture"]')
    # Both fixture processes busy, then three jobs wait behind them.
    sleepers = [console.submit("fixture.sleep", {"seconds": 30}).json()["id"] for _ in range(2)]
    for job_id in sleepers:
        console.wait_status(job_id, "started")
    waiting = [console.submit("fixture.echo@1", {"text": "q"}).json()["id"] for _ in range(3)]

    def cell(col: str) -> str:
        return str(browser.find(f'tr[data-queue="fixture"] [data-col="{col}"]').text)

    browser.wait(lambda: cell("waiting") == "3", "three jobs waiting on the page")
    assert int(cell("depth")) >= 1
    assert int(cell("workers")) >= 1 and cell("processes") == "2"
    browser.screenshot(shots / "console-queues.png")
    for job_id in sleepers:
        console.client.post(f"/v1/jobs/{job_id}/cancel")
    browser.wait(lambda: cell("waiting") == "0" and cell("depth") == "0", "the queue to drain")
    for job_id in waiting:
        assert console.wait_job(job_id)["status"] == "succeeded"

    def recent() -> int:
        row = 'tr[data-task="fixture.echo"]'
        return int(browser.find(f'{row} [data-col="recent-succeeded"]').text)

    browser.wait(lambda: recent() >= 3, "three recent completions of fixture.echo")


def test_markup_in_a_job_renders_as_text(browser: Browser, console: Stack) -> None:
    hostile = "<img src=x onerror=alert(1)></script>"
    note = "</script><script>alert(2)</script><b onmouseover=alert(3)>bold</b>"
    job_id = console.submit(
        "fixture.form", {"text": hostile, "note": note, "tags": [hostile], "voice": {}}
    ).json()["id"]
    browser.open(f"/jobs/{job_id}")
    browser.wait_text("main .timeline", "succeeded")
    shown_input = shown_json(browser, "job input")
    assert shown_input["text"] == hostile and shown_input["note"] == note
    assert shown_json(browser, "job result")["input"]["tags"] == [hostile]
    browser.open("/jobs?task=fixture.form")
    browser.find(f'tr[data-job="{job_id}"]')
    # Nothing the job said became an element, and nothing ran.
    counts = browser.js(
        "return {img: document.querySelectorAll('img').length,"
        " b: document.querySelectorAll('b').length,"
        " scripts: document.scripts.length}"
    )
    assert counts == {"img": 0, "b": 0, "scripts": 1}
    assert not browser.dialog_open()


def test_the_console_is_served_with_a_strict_policy(console: Stack) -> None:
    page = console.client.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "<script" in page.text and "onload" not in page.text and "style=" not in page.text
    script = console.client.get("/ui/static/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["x-content-type-options"] == "nosniff"
    again = console.client.get(
        "/ui/static/app.js", headers={"If-None-Match": script.headers["etag"]}
    )
    assert again.status_code == 304
    assert console.client.get("/ui/static/..%2Fsettings.py").status_code == 404
    assert "set-cookie" not in page.headers


def test_readable_on_a_phone(browser: Browser, shots: Path) -> None:
    browser.driver.set_window_size(390, 844)
    try:
        for route in ("/tasks/fixture.form", "/jobs", "/queues"):
            browser.open(route)
            browser.find("main h1")
            overflow = browser.js(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, route
        browser.open("/tasks/fixture.form")
        browser.find("form.task-form")
        browser.screenshot(shots / "console-phone.png")
    finally:
        browser.driver.set_window_size(1280, 900)


def test_a_failed_job_shows_its_error(browser: Browser, console: Stack) -> None:
    job_id = console.submit("fixture.fail", {}).json()["id"]
    browser.open(f"/jobs/{job_id}")
    assert browser.wait_text(".error-box .error-code", "fixture_failed")
    assert browser.text(".error-box .error-message") == "failed on purpose"
    assert browser.find("main").get_attribute("data-status") == "failed"
    assert browser.text('[data-fact="attempts"]') == "1"


def test_without_event_streams_the_job_page_falls_back_to_polling(
    browser: Browser, console: Stack
) -> None:
    # A proxy that breaks streaming, played by the browser refusing every /events request.
    browser.driver.execute_cdp_cmd("Network.enable", {})
    browser.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/events"]})
    try:
        job_id = console.submit("fixture.echo@1", {"text": "p", "times": 2}).json()["id"]
        browser.open(f"/jobs/{job_id}")
        browser.wait(
            lambda: browser.find("main").get_attribute("data-status") == "succeeded",
            "the job to finish on the page without its event stream",
            timeout=30,
        )
        assert shown_json(browser, "job result")["text"] == "pp"
        assert browser.find("main .timeline").get_attribute("data-source") == "polling"
    finally:
        browser.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})


def test_the_same_call_as_code_runs_as_shown(browser: Browser, console: Stack) -> None:
    text = 'it\'s "quoted" <b>'
    submit_form(browser, "fixture.form", {"text": text, "tags": '["a b", "$HOME"]'})
    assert finished(browser) == "succeeded", browser.text(".follow")
    sent = shown_json(browser, "job input")
    snippets = {}
    for lang in ("curl", "python", "cli"):
        browser.find(f'[role=tab][data-lang="{lang}"]').click()
        snippets[lang] = browser.text(f'pre[data-lang="{lang}"]')
    venv = Path(sys.executable).parent
    env = os.environ | {"PATH": f"{venv}:{os.environ['PATH']}"}
    runs = {
        "curl": ["bash", "-c", snippets["curl"]],
        "python": [sys.executable, "-c", snippets["python"]],
        "cli": ["bash", "-c", snippets["cli"]],
    }
    for lang, command in runs.items():
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, (lang, done.stdout, done.stderr)
        newest = console.client.get("/v1/jobs", params={"limit": 1}).json()["items"][0]
        assert newest["input"] == sent, lang
