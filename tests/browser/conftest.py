"""Fixtures for the browser tests. Where /usr/bin/chromium or playwright is missing they are
skipped with a message that says so; with WORKBENCH_REQUIRE_BROWSER=1 (set by .ci/run) the run
stops with that message instead."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness import CHROMIUM, Server, launch
from workbench import Workspace


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


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    p = context.new_page()
    yield p
    context.close()


@pytest.fixture(scope="module")
def demo_server(demo_ws):
    """A server on the demo workspace with a trained run (the demo_ws fixture of tests/conftest.py)."""
    server = Server(demo_ws.root)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def scratch(demo_ws, tmp_path_factory):
    """A server on a copy of the demo workspace, for tests that write to it (datasets, saved
    slices), so the shared demo workspace stays as the other tests expect: (server, workspace)."""
    root = tmp_path_factory.mktemp("scratch") / "ws"
    shutil.copytree(demo_ws.root, root)
    server = Server(root)
    yield server, Workspace.open(root)
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
