"""Waiting on a condition inside a page under the pages' Content-Security-Policy.

Playwright's `wait_for_function` polls by evaluating a string inside the page, which the
policy (no 'unsafe-eval') refuses once the first check is false; these poll from the test
with `evaluate`, which the policy allows."""

from __future__ import annotations

import time

from playwright.sync_api import Locator, Page


def wait_until(target: Page | Locator, expression: str, *, timeout_s: float = 30.0) -> bool:
    """Poll `expression` (a function of the page, or of the locator's element) until it is
    truthy; False if it never was within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        if target.evaluate(expression):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
