"""Driving the workbench in a real browser: a `streamlit run app.py` server on a free loopback
port, and Debian's Chromium through Playwright. Used by the browser tests and bench_browser.py.

Every wait here is for a state (a line the server prints, a URL parameter, an attribute, an
element's text or value), never a fixed time, so the tests pass on a busy machine too."""
from __future__ import annotations

import collections
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "tests" / "screenshots"
READY = "[data-testid='stApp'][data-test-script-state='notRunning']"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def expect(actual):
    """Playwright's ``expect``, retrying for up to 60 s rather than its default 5 s, which a run
    on a busy machine can outlast. Imported when called, so that without playwright the browser
    tests are skipped with a message (conftest.py) rather than failing to import."""
    from playwright.sync_api import expect as playwright_expect
    playwright_expect.set_options(timeout=60_000)
    return playwright_expect(actual)


def launch(playwright):
    """Debian's Chromium, headless, with background networking off (the network is closed)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run app.py` for one workspace; stopped when the test or module ends.

    Ready when streamlit prints its URL, which it does once it accepts sessions (after its
    `Server.start()` returns); the welcome message is switched on so that the line always comes.
    A thread reads the server's output to the end, so the pipe never fills up and blocks the
    server, and keeps the last lines for the error when the server does not start."""

    def __init__(self, workspace: Path, script: str = "app.py", *, timeout: float = 60):
        self.workspace = workspace
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output: collections.deque[str] = collections.deque(maxlen=200)
        env = {**os.environ, "WORKBENCH_WORKSPACE": str(workspace), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(self.port),
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
             "--logger.hideWelcomeMessage", "false"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace")
        self._listening = threading.Event()
        self._exited = threading.Event()
        threading.Thread(target=self._read_output, daemon=True).start()
        if not self._listening.wait(timeout) or self._exited.is_set():
            self.stop()
            output = "".join(self.output)[-4000:]
            raise RuntimeError(f"streamlit did not start on port {self.port}; its output:\n{output}")
        with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=10) as r:
            assert r.status == 200, f"{self.url}/_stcore/health answered {r.status}"

    def _read_output(self) -> None:
        """Keep the server's output until it ends; say when it prints its URL, or exits."""
        for line in self.proc.stdout:
            self.output.append(line)
            if f"URL: {self.url}" in line:
                self._listening.set()
        self._exited.set()
        self._listening.set()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def settle(page, *, timeout: float = 90_000) -> None:
    """Wait until no script run is in progress.

    Streamlit marks a run as running only once the server has started it, so right after a
    click this can still see the run before. Wait first for the state the click leads to (a URL
    parameter, a heading, a text), then settle."""
    page.wait_for_selector(READY, timeout=timeout)


LONG = 900_000  # ms: the longest a test waits for work that takes ~10 s on an idle machine (training)


def wait_long(locator, what: str, timeout: float = LONG) -> None:
    """Wait for ``locator`` while the app does slow work (training, a search), which a loaded
    machine can make many times slower; if it never comes, say what was awaited."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        locator.wait_for(timeout=timeout)
    except PlaywrightTimeout:
        raise AssertionError(f"waited {timeout / 1000:.0f} s for {what}; it never came") from None


def wait_for_params(page, **params: str) -> None:
    """Wait until the URL's query holds each ``key=value`` (the view the app writes there)."""
    def holds(url: str) -> bool:
        query = parse_qs(urlparse(url).query)
        return all(query.get(k) == [v] for k, v in params.items())
    page.wait_for_url(holds)


def shoot(page, name: str) -> Path:
    """``name.png`` at the 1400x1000 viewport, and ``name-full.png`` with the whole page.

    Streamlit scrolls inside its main container, so the full shot grows the viewport to it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    size = page.viewport_size
    height = page.evaluate("document.querySelector(\"[data-testid='stMainBlockContainer']\").scrollHeight")
    full = min(int(height) + 120, 8000)
    page.set_viewport_size({"width": size["width"], "height": full})
    # the width is unchanged, so nothing lays out anew: wait for the taller window and a frame drawn in it
    page.wait_for_function("h => window.innerHeight === h", arg=full)
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    page.screenshot(path=str(SHOTS / f"{name}-full.png"))
    page.set_viewport_size(size)
    page.wait_for_function("h => window.innerHeight === h", arg=size["height"])
    return path


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``, as a user would, and wait until the
    selectbox shows it. The rerun this starts is the caller's to wait for, by the state it leads
    to (see :func:`settle`)."""
    box = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text(label, exact=True))
    box.first.click()
    # the open list draws only the options in view, so a long one hides its last: type to filter
    # it down to the option, as a user with many columns would
    box.first.get_by_role("combobox").fill(option)
    page.get_by_role("option", name=option, exact=True).click()
    expect(box.first.get_by_role("combobox")).to_have_value(option)


def click_point(point) -> None:
    """Click a point (a bar) of a plotly chart once it stops moving.

    Plotly's drag layer lies over the bars and takes the click, so Playwright's check that the
    element itself would receive it fails and the click is forced; forcing also skips the check
    that the element is stable, done here instead: the same box in two animation frames in a row."""
    point.wait_for()
    point.page.wait_for_function(
        """e => { if (!e.isConnected) return true;
                  const r = e.getBoundingClientRect(), now = [r.x, r.y, r.width, r.height].join();
                  const same = e.__lastBox === now; e.__lastBox = now; return same && r.width > 0; }""",
        arg=point.element_handle(), polling="raf")
    point.click(force=True)


def grid_cell(table, row: int):
    """The first cell of data row ``row`` in a dataframe's accessible table (the grid draws on a
    canvas and keeps this table inside it for screen readers, with the rows now in view)."""
    return table.locator(f"tbody tr[aria-rowindex='{row + 2}'] td[role='gridcell']").first


def select_row(table, row: int) -> None:
    """Select data row ``row`` of a ``st.dataframe`` with single-row selection, as a reader does:
    a click on the row's box in the selection column, then wait until the grid marks the row
    selected.

    The grid draws on a canvas, so the click's place comes from the grid itself: its canvas
    holds the header and the rows in view in about equal bands, and its accessible table lists
    the rows in view. Selecting from the keyboard (focus a cell, Shift+Space) is not used: once a
    chart on the page has been clicked, the grid no longer takes focus from its cells. The row
    must be among those in view (the first ten or so)."""
    table.scroll_into_view_if_needed()
    expect(grid_cell(table, row)).to_have_count(1)  # the row is drawn
    bands = table.locator("tbody tr").count() + 1  # the rows in view and the header
    canvas = table.locator("canvas").first.bounding_box()
    band = canvas["height"] / bands
    first_column = min(band, canvas["width"] / 20)  # the selection column: about a row's height wide
    table.page.mouse.click(canvas["x"] + first_column / 2, canvas["y"] + band * (row + 1.5))
    expect(table.locator(f"tbody tr[aria-rowindex='{row + 2}']")).to_have_attribute("aria-selected", "true")


def no_exceptions(page) -> None:
    errors = page.locator("[data-testid='stException']")
    assert errors.count() == 0, errors.first.inner_text()
