"""The dashboard in a real browser (headless chromium): log in, live progress, a traceback, retry, the time slider.

Screenshots of the main pages go to tests/output/screenshots/ (named in the README).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.api import ApiClient, start_api
from tests.e2e.browser import chromium, eventually, log_in, screenshot
from tests.e2e.cli import Cli, job, new_id, submission
from tests.e2e.processes import Processes

pytestmark = pytest.mark.batchq_env(BATCHQ_ALERT_INTERVAL_SECONDS="0.3", BATCHQ_ALERT_QUEUE_DEPTH="2")


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


@pytest.fixture
def api(system: Processes, cli: Cli) -> ApiClient:
    return start_api(system, cli)


def text(browser: WebDriver, css: str) -> str:
    """The element's text once it is on the page (a form post may still be loading the next one)."""
    found = eventually(lambda: browser.find_elements(By.CSS_SELECTOR, css), f"an element {css}")
    return str(found[0].text)


def confirm(browser: WebDriver) -> None:
    eventually(lambda: _alert(browser), "the confirmation dialog").accept()


def _alert(browser: WebDriver) -> object:
    try:
        return browser.switch_to.alert
    except Exception:
        return None


def test_log_in_then_a_running_batch_progresses_on_screen_without_reloading(
    browser: WebDriver, api: ApiClient, cli: Cli
) -> None:
    browser.get(f"{api.base_url}/login")
    browser.find_element(By.ID, "token").send_keys("bq_wrong")
    browser.find_element(By.ID, "login").click()
    assert "unknown, expired or revoked" in text(browser, "#login-error")
    screenshot(browser, "login")
    cookie_before = browser.get_cookies()
    log_in(browser, api.base_url, api.token)
    [cookie] = [c for c in browser.get_cookies() if c["name"] == "batchq_token"]
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict") and not cookie_before

    cli.ok("pause", "--reason", "hold until the page is open")
    doc = submission([job("sleep", params={"seconds": 2}) for _ in range(3)], tenant="acme")
    cli.submit(doc)

    def listed() -> object:  # the list and the alerts are the read model's, a moment behind the store
        browser.get(f"{api.base_url}/?tenant=acme")
        return browser.find_elements(By.CSS_SELECTOR, f"tr[data-batch='{doc['batch_id']}']") and (
            browser.find_elements(By.CSS_SELECTOR, "#alerts [data-alert='queue_depth']")
        )

    eventually(listed, "the batch listed, and the deep queue's alert as a banner")
    assert "queue_depth (default): 3 > 2" in text(browser, "#alerts")
    screenshot(browser, "batches")
    browser.get(f"{api.base_url}/batches/{doc['batch_id']}")
    assert text(browser, "#batch-settled") == "0"
    browser.execute_script("window.notReloaded = true")

    browser.find_element(By.XPATH, "//button[text()='Resume queue']").click()
    confirm(browser)
    eventually(lambda: "done" in text(browser, "#flash"), "the resume confirmed on the page")
    seen_processing = eventually(lambda: text(browser, "#batch-status") == "PROCESSING", "PROCESSING shown live")
    screenshot(browser, "batch-running")
    eventually(lambda: text(browser, "#batch-status") == "COMPLETED", "COMPLETED shown live")
    assert seen_processing and text(browser, "#batch-settled") == "3"
    assert browser.execute_script("return window.notReloaded") is True  # updated in place, never reloaded


def test_a_failed_jobs_traceback_its_retry_and_the_time_slider_back_to_before_it(
    browser: WebDriver, api: ApiClient, cli: Cli
) -> None:
    flaky = new_id()
    doc = submission([job("flaky", job_uuid=flaky, params={"fail_times": 1}, max_attempts=1), job()])
    cli.submit(doc)
    cli.wait_for_batch(doc["batch_id"], "FAILED")
    log_in(browser, api.base_url, api.token)
    browser.get(f"{api.base_url}/batches/{doc['batch_id']}")
    row = f"#job-{flaky}"
    assert text(browser, f"{row} .status") == "FAILED"
    traceback = browser.find_element(By.CSS_SELECTOR, f"{row} .traceback")
    assert not traceback.is_displayed()
    browser.find_element(By.CSS_SELECTOR, f"{row} summary").click()
    assert traceback.is_displayed() and "FLAKY" in traceback.text
    assert text(browser, f"{row} .code") == "FLAKY" and text(browser, f"{row} .stage") == "execution"
    screenshot(browser, "batch-failed-job")

    browser.find_element(By.CSS_SELECTOR, f"{row} button.retry").click()
    confirm(browser)
    eventually(lambda: text(browser, f"{row} .status") == "COMPLETED", "the retried job COMPLETED on the page")
    assert text(browser, f"{row} .attempts") == "2"
    assert text(browser, "#batch-status") == "FAILED"  # until someone asks for update-reporting

    slider = browser.find_element(By.ID, "time-slider")

    def slider_spans_every_moment() -> list[dict[str, Any]] | None:  # it grows with the live timeline
        events = cli.events(batch_id=doc["batch_id"])
        moments = sorted({e["occurred_at"] for e in events})  # one step per moment (an append shares one)
        return events if int(slider.get_attribute("max") or 0) == len(moments) - 1 else None

    events = eventually(slider_spans_every_moment, "the slider spanning every moment, the retry's too")
    moments = sorted({e["occurred_at"] for e in events})
    retried_at = next(e["occurred_at"] for e in events if e["type"] == "JobRetried")
    before_retry = moments.index(retried_at) - 1
    browser.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'))", slider, before_retry
    )
    eventually(lambda: "at=" in browser.current_url, "the page as it stood then")
    assert text(browser, f"{row} .status") == "FAILED" and text(browser, f"{row} .attempts") == "1"
    assert text(browser, "#batch-status") == "FAILED"
    assert moments[before_retry] in text(browser, "#time-label")
    shown = len(browser.find_elements(By.CSS_SELECTOR, "#timeline li"))
    assert shown == sum(1 for e in events if e["occurred_at"] <= moments[before_retry]) < len(events)
    screenshot(browser, "batch-at-time")
    browser.get(f"{api.base_url}/jobs/{flaky}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#attempts tbody tr")) == 2
    screenshot(browser, "job")
