"""A real server and a real browser: `streamlit run app.py` on a free loopback port, driven by
Playwright through Debian's Chromium (downloading a browser is not possible here).

Where /usr/bin/chromium or playwright is missing the tests are skipped with a message that
says so; with WORKBENCH_REQUIRE_BROWSER=1 (set by .ci/run) they fail instead.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from workbench import demo, train
from workbench.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "tests" / "screenshots"
READY = "[data-testid='stApp'][data-test-script-state='notRunning']"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"browser tests skipped: {CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "browser tests skipped: the playwright package is not installed"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("WORKBENCH_REQUIRE_BROWSER"):
        raise pytest.UsageError(reason.replace("skipped", "required but cannot run"))
    for item in items:
        if "browser" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run app.py` for one workspace; stopped when the test or module ends."""

    def __init__(self, workspace: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "WORKBENCH_WORKSPACE": str(workspace)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(self.port),
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"streamlit did not start on port {self.port}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    p = context.new_page()
    yield p
    context.close()


@pytest.fixture(scope="session")
def trained_demo(tmp_path_factory) -> Workspace:
    """The demo workspace with one run on a time split, made through the core."""
    ws = Workspace.open(tmp_path_factory.mktemp("browser-demo"))
    demo.setup(ws)
    train.train(ws, train.TrainSpec(demo.DATASET, demo.TARGET, split="time:time_hour"))
    return ws


@pytest.fixture(scope="module")
def demo_server(trained_demo):
    server = Server(trained_demo.root)
    yield server
    server.stop()


@pytest.fixture
def fresh_server(tmp_path):
    """A new server on an empty workspace, for first-start and deep-link tests."""
    servers = []

    def start(workspace: Path | None = None) -> Server:
        servers.append(Server(workspace or tmp_path))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


def settle(page, *, timeout: float = 90_000) -> None:
    """Wait until Streamlit says the script run finished (after giving a rerun time to start)."""
    page.wait_for_timeout(150)
    page.wait_for_selector(READY, timeout=timeout)
    page.wait_for_timeout(100)


def shoot(page, name: str) -> Path:
    """``name.png`` at the 1400x1000 viewport, and ``name-full.png`` with the whole page.

    Streamlit scrolls inside its main container, so the full shot grows the viewport to it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    size = page.viewport_size
    height = page.evaluate("document.querySelector(\"[data-testid='stMainBlockContainer']\").scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 120, 8000)})
    page.wait_for_timeout(400)
    page.screenshot(path=str(SHOTS / f"{name}-full.png"))
    page.set_viewport_size(size)
    return path


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``, as a user would."""
    box = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text(label, exact=True))
    box.first.click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def no_exceptions(page) -> None:
    errors = page.locator("[data-testid='stException']")
    assert errors.count() == 0, errors.first.inner_text()
