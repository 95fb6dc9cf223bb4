"""Debian's Chromium driven by Playwright, for the browser tests and the README's screenshot.

The system browser (`apt-get install chromium`), never one that Playwright downloads; headless, in a fresh
profile, with the background traffic a browser starts by itself (updates, sync, field trials) turned off,
so every request left is one that a page made."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, sync_playwright

CHROMIUM = Path(os.environ.get("T2I_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",  # root in CI, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
LOOPBACK = "127.0.0.1"
# What one browser action (a click, a wait) may take unless a test says otherwise.
ACTION_TIMEOUT_MS = 30_000


@contextmanager
def chromium_context(width: int = 1280, height: int = 900) -> Iterator[BrowserContext]:
    """A browser context on a fresh profile; closed (and the profile removed) afterwards."""
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium, as .ci/run does) "
            "or point T2I_CHROMIUM at a Chromium binary"
        )
    with tempfile.TemporaryDirectory(prefix="t2i-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": width, "height": height},
            timeout=ACTION_TIMEOUT_MS,
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


def outside_loopback(urls: list[str]) -> list[str]:
    """The URLs among `urls` that would leave this machine (data: and blob: URLs stay in the page)."""
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname != LOOPBACK
    ]
