"""A real headless Chromium (Debian's ``chromium``, driven through its ``chromedriver`` with
Selenium) for the console's tests. A missing browser fails the run in CI and skips the tests
on a laptop, like a missing Redis."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoAlertPresentException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.conftest import IN_CI
from tests.integration.stack import wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Console messages that are the browser reporting an HTTP error answer the page expected
# (a 404 for another key's job, a 409): not script errors.
_EXPECTED = ("Failed to load resource",)


def require_chromium() -> None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            message = f"{path} is missing (apt-get install chromium chromium-driver)"
            if IN_CI:
                pytest.fail(message + "; required when CI=true")
            pytest.skip(message)


class Browser:
    """One Chromium with a fresh profile, pointed at one asyncml API."""

    def __init__(self, base_url: str, width: int = 1280, height: int = 900) -> None:
        require_chromium()
        self.base_url = base_url
        self.profile = tempfile.mkdtemp(prefix="asyncml-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in [*FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}"]:
            options.add_argument(flag)
        # A dialog stays open for the test to find, instead of being dismissed silently.
        options.unhandled_prompt_behavior = "ignore"
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, route: str = "/tasks") -> None:
        """Load the console at ``#<route>`` (a fresh page load, so no state carries over)."""
        self.driver.get("about:blank")
        self.driver.get(f"{self.base_url}/ui#{route}")

    def go(self, route: str) -> None:
        """Follow a link inside the loaded console (the page stays, its key with it)."""
        self.driver.execute_script("window.location.hash = arguments[0]", route)

    def find(self, css: str, timeout: float = 30) -> WebElement:
        def found() -> WebElement | None:
            elements = self.driver.find_elements(By.CSS_SELECTOR, css)
            return elements[0] if elements and elements[0].is_displayed() else None

        element: WebElement = self.wait(found, f"an element {css!r}", timeout)
        return element

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str, timeout: float = 30) -> str:
        return str(self.find(css, timeout).text)

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        """Wait for ``condition`` (re-run when the page replaced what it looked at)."""

        def safe() -> Any:
            try:
                return condition()
            except StaleElementReferenceException:
                return None

        return wait_for(safe, timeout, what)

    def wait_text(self, css: str, expected: str, timeout: float = 30) -> str:
        def has() -> str | None:
            elements = self.driver.find_elements(By.CSS_SELECTOR, css)
            text = elements[0].text if elements else ""
            return text if expected in text else None

        found: str = self.wait(has, f"{css!r} to contain {expected!r}", timeout)
        return found

    def fill(self, css: str, value: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(value)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def dialog_open(self) -> bool:
        try:
            self.driver.switch_to.alert.text  # noqa: B018 (raises when there is none)
        except NoAlertPresentException:
            return False
        return True

    def script_errors(self) -> list[str]:
        """Console errors since the last call, less the HTTP errors the page expected."""
        try:
            entries = self.driver.get_log("browser")
        except WebDriverException:
            return []
        return [
            e["message"]
            for e in entries
            if e["level"] == "SEVERE" and not any(x in e["message"] for x in _EXPECTED)
        ]

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
