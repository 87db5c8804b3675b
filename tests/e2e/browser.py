"""A real browser for the dashboard tests: Debian's `chromium`, headless, driven by Selenium through `chromedriver`.

Missing either is a failure with one line naming the packages, never a skip: a CI
without the browser must not pass the dashboard tests by not running them.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

SCREENSHOTS = Path(__file__).resolve().parents[1] / "output" / "screenshots"
PACKAGES = "apt-get install -y chromium chromium-driver"


@contextmanager
def chromium() -> Iterator[WebDriver]:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        missing = " and ".join(n for n, p in (("chromium", binary), ("chromedriver", driver)) if not p)
        pytest.fail(f"the dashboard tests need a browser: no {missing} on PATH ({PACKAGES})", pytrace=False)
    options = Options()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield browser
    finally:
        browser.quit()


def screenshot(browser: WebDriver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


def log_in(browser: WebDriver, base_url: str, token: str) -> None:
    browser.get(f"{base_url}/login")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "login").click()
    eventually(lambda: browser.find_elements(By.ID, "batches"), "the batches page after logging in")


def eventually(found: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := found()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)
    return value
