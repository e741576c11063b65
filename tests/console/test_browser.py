"""The staff console in a real browser (SPEC §15): Debian's ``chromium`` driven by its
``chromedriver`` through selenium (nothing downloaded at run time), against one live server.

A new staff member's day: log in, find a customer by e-mail, open the license, suspend it,
release a seat, renew to a date, change seats, correct the e-mail, read the audit table; and
the license list fits a 1366×768 screen without scrolling sideways. Each page is saved as a
PNG into ``SCREENSHOT_DIR`` (``make screenshots``: docs/screenshots/), else a temp dir.

Without Chromium the test fails under CI (``.ci/run`` installs it) and elsewhere skips with
the command that installs it (``make test`` tries that first).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from activations.models import Activation
from audit.models import AuditEvent
from licensing.models import License
from tests.factories import (
    ActivationFactory,
    BrandFactory,
    LicenseFactory,
    ProductFactory,
    StaffUserFactory,
)

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
INSTALL = "apt-get install chromium chromium-driver"
WIDTH, HEIGHT = 1366, 768
BUDGET_SECONDS = 60


def _browser_or_skip() -> tuple[str, str]:
    if CHROMIUM and CHROMEDRIVER:
        return CHROMIUM, CHROMEDRIVER
    missing = ", ".join(
        n for n, p in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not p
    )
    reason = f"needs Chromium for the browser tests: {missing} not found ({INSTALL})"
    if os.environ.get("CI"):
        pytest.fail(reason + "; CI must run them (.ci/run installs it)")
    pytest.skip(reason)


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium, chromedriver = _browser_or_skip()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={WIDTH},{HEIGHT}",
        "--force-device-scale-factor=1",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(20)
    driver.implicitly_wait(2)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def day(transactional_db: Any) -> License:
    """A brand with customers: the one staff will look for, and others to search among."""
    StaffUserFactory.create(username="ana", password="staff-password")
    brand = BrandFactory.create(name="RankMath", slug="rankmath", key_prefix="RNKM")
    pro = ProductFactory.create(brand=brand, name="RankMath Pro", slug="rankmath-pro")
    other = BrandFactory.create(name="WP Rocket", slug="wp-rocket", key_prefix="WPRK")
    rocket = ProductFactory.create(brand=other, name="WP Rocket", slug="wp-rocket")
    soon = timezone.now() + timedelta(days=20)
    for n in range(6):
        LicenseFactory.create(
            product=pro if n % 2 else rocket,
            license_key__customer_email=f"a-rather-long-customer-address-{n}@agency-example.com",
            expires_at=soon,
        )
    lic: License = LicenseFactory.create(
        product=pro, license_key__customer_email="jane.doe@example.com", expires_at=soon
    )
    for site in ("shop.example.com", "blog.example.com", "staging.shop.example.com"):
        ActivationFactory.create(license=lic, instance_identifier=site)
    return lic


def test_a_staff_member_does_the_daily_job_in_a_real_browser(  # noqa: PLR0915 (one story, one browser)
    live_server, browser, shots, day
):
    started = time.monotonic()
    base = live_server.url

    def shot(name: str) -> None:
        browser.save_screenshot(str(shots / f"{name}.png"))

    def navigate(element: Any) -> None:
        """Click ``element`` and wait until its page has been replaced by the next one (a
        click does not wait for the navigation it starts)."""
        element.click()
        WebDriverWait(browser, 15).until(expected_conditions.staleness_of(element))

    def press(text: str) -> None:  # the admin shows object tools in capitals
        navigate(browser.find_element(By.XPATH, f"//a[normalize-space()='{text}']"))

    def submit() -> None:
        navigate(browser.find_element(By.CSS_SELECTOR, "input[type=submit][name=confirm]"))

    def message() -> str:
        return str(browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text)

    def fits() -> bool:
        """Nothing scrolls sideways: neither the page nor the list's own scroll box."""
        return bool(
            browser.execute_script(
                "const box = document.querySelector('#changelist .results');"
                "return document.documentElement.scrollWidth <= window.innerWidth"
                " && (!box || box.scrollWidth <= box.clientWidth)"
            )
        )

    # Log in.
    browser.get(f"{base}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys("ana")
    browser.find_element(By.NAME, "password").send_keys("staff-password")
    navigate(browser.find_element(By.CSS_SELECTOR, "input[type=submit]"))
    assert "License Service · staff console" in browser.page_source
    shot("01-home")

    # The list fits the screen; find the customer by e-mail.
    browser.get(f"{base}/admin/licensing/license/")
    assert fits(), "the license list scrolls sideways at 1366 px"
    shot("02-licenses")
    search = browser.find_element(By.ID, "searchbar")
    search.send_keys("Jane.Doe@example.com\n")
    WebDriverWait(browser, 15).until(expected_conditions.staleness_of(search))
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1
    assert "jane.doe@example.com" in rows[0].text
    assert fits()
    shot("03-search-by-email")

    # Open the license: titled by its masked key and product.
    navigate(rows[0].find_element(By.CSS_SELECTOR, "th a"))
    assert str(day) in browser.find_element(By.CSS_SELECTOR, "#content h2").text
    shot("04-license")

    # Suspend it with its button.
    press("Suspend")
    shot("05-suspend-confirm")
    submit()
    assert "Suspended" in message()
    assert browser.find_element(By.CSS_SELECTOR, ".field-effective .ls-badge").text == "suspended"

    # Release one seat.
    press("Release seats")
    browser.find_element(By.XPATH, "//label[contains(., 'blog.example.com')]/input").click()
    shot("06-release-seats")
    submit()
    assert "Released 1 site(s)" in message()

    # Renew to a chosen date.
    press("Renew")
    field = browser.find_element(By.NAME, "expires_on")
    browser.execute_script("arguments[0].value = '2031-06-30'", field)
    shot("07-renew")
    submit()
    assert "until 2031-06-30" in message()

    # Change the seats.
    press("Change seats")
    seats = browser.find_element(By.NAME, "max_seats")
    seats.clear()
    seats.send_keys("5")
    submit()
    assert "Seats of" in message()

    # Correct the customer's e-mail (a bad one first: an error on the form).
    press("Correct e-mail")
    email = browser.find_element(By.NAME, "customer_email")
    email.clear()
    email.send_keys("not-an-email")
    submit()
    assert "Enter a valid email address" in browser.page_source
    shot("08-email-error")
    email = browser.find_element(By.NAME, "customer_email")
    email.clear()
    email.send_keys("jane@example.org")
    submit()
    assert "jane@example.org" in message()

    # The audit table of the license says what changed, by whom.
    browser.get(f"{base}/admin/licensing/license/{day.pk}/change/")
    trail = browser.find_element(By.CSS_SELECTOR, "table.audit-trail")
    browser.execute_script("arguments[0].scrollIntoView()", trail)
    text = trail.text
    for action in (
        "license_key.email_changed",
        "license.seats_changed",
        "license.renewed",
        "activation.released",
        "license.suspended",
    ):
        assert action in text
    assert "staff: ana" in text
    assert "jane.doe@example.com" in text  # before → after
    shot("09-audit-trail")

    day.refresh_from_db()
    assert (day.status, day.max_seats) == ("suspended", 5)
    assert Activation.objects.filter(license=day).count() == 2
    assert AuditEvent.objects.filter(actor="ana").count() == 5
    assert time.monotonic() - started < BUDGET_SECONDS
