"""Browser tests: the console in headless Chromium (Debian's `chromium`), driven by
Playwright, against the whole system started by `planb run`.

Without Chromium or Playwright these tests are skipped with a message saying how to get them.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("PLANB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            "browser tests need Chromium: `sudo apt-get install -y chromium` (Debian/Ubuntu), "
            "or set PLANB_CHROMIUM to a Chromium or Chrome binary"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[object]:
    """Headless Chromium for one module. Playwright's sync API marks its own event loop as
    the running one between calls, which would break the asyncio tests that follow: it must
    stop before they run, so never widen this to the session."""
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="browser tests need Playwright: `pip install -e '.[dev]'` (no `playwright install`"
        " needed: the tests use the system's Chromium)",
    )
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
