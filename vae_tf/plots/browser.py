"""A headless Chromium for the explorer's page: its tests, its screenshot and its benchmark.

    from vae_tf.plots.browser import chromium
    with chromium() as browser:
        browser.get("file:///path/to/index.html")
        browser.execute_script("return window.vaeExplorer.decode(0, [0, 0])")

It drives the system's Chromium and ChromeDriver (Debian: `apt-get install chromium chromium-driver`)
through Selenium (`pip install selenium`, in vae_tf's `dev` extra), with no browser download, no
network and a fresh profile that is removed afterwards.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage")


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 900, binary: str = CHROMIUM, driver: str = CHROMEDRIVER):
    """A Selenium WebDriver of a headless Chromium with a fresh profile, quit and cleaned up on exit.

    Args:
      width, height: the window's size in CSS pixels (what a screenshot shows).
      binary, driver: the Chromium and ChromeDriver executables.

    Yields:
      The `selenium.webdriver.Chrome`; its browser log (`get_log("browser")`) holds every console message.

    Raises:
      RuntimeError: Selenium, Chromium or ChromeDriver is missing (says what to install).
    """
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise RuntimeError("the explorer's browser checks need Selenium: pip install selenium "
                           "(or pip install -e '.[dev]')") from None
    for path, package in ((binary, "chromium"), (driver, "chromium-driver")):
        if not Path(path).is_file():
            raise RuntimeError(f"{path} is missing; install it with: apt-get install {package}")
    profile = tempfile.mkdtemp(prefix="vae_tf-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_explorer(browser, index, timeout: float = 30.0):
    """Open the explorer page `index` (its index.html) from disk and wait until `window.vaeExplorer.ready`.

    Args:
      browser: a WebDriver (`chromium()`).
      index: the path of the page's index.html.
      timeout: seconds to wait for the page.

    Returns:
      The browser log's messages so far (dicts with `level` and `message`).
    """
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(Path(index).resolve().as_uri())
    WebDriverWait(browser, timeout).until(
        lambda page: page.execute_script("return Boolean(window.vaeExplorer && window.vaeExplorer.ready)"))
    return browser.get_log("browser")
