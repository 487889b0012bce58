"""Fixtures for the browser tests: a JupyterLab server on a copy of the notebooks, and Chromium.

`lab` starts the venv's JupyterLab on 127.0.0.1 (a free port, a random token) with its root in a
temporary folder that holds a copy of notebooks/, and its own MMLAB_HOME and Jupyter folders, so
nothing outside the temporary folder is read or written. `browser` is Debian's Chromium, headless,
with a fresh profile; `page` a new 1366 x 768 page in it (a laptop screen). When a test ends its
kernels are shut down; when the module ends, the server and Chromium (so they do not idle
through the rest of the suite). Every wait has a time limit. Screenshots go to one folder,
printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_setup import CHROMIUM, CHROMIUM_ARGS, SCREEN

ROOT = Path(__file__).resolve().parents[2]
SERVER_START_S = 90
SERVER_STOP_S = 30
SCREENSHOTS = pytest.StashKey[Path]()


@dataclass
class Lab:
    """A running JupyterLab server."""

    base_url: str
    token: str
    root: Path  # the server's root folder: the copied notebooks
    screenshots: Path

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}?token={self.token}"

    def api(self, method: str, path: str, timeout: float = 30) -> object:
        """Call the server's REST API; returns the decoded JSON answer (None when empty)."""
        request = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def kernels(self) -> list[dict] | None:
        """The server's kernels; None while it cannot list them (it fails while one starts)."""
        try:
            return self.api("GET", "kernels")
        except urllib.error.HTTPError:
            return None

    def shut_down_kernels(self) -> None:
        deadline = time.monotonic() + SERVER_STOP_S
        while (kernels := self.kernels()) is None and time.monotonic() < deadline:
            time.sleep(0.5)
        for kernel in kernels or []:
            self.api("DELETE", f"kernels/{kernel['id']}", timeout=SERVER_STOP_S)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(lab: Lab, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            lab.api("GET", "status", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer in {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


def _stop(lab: Lab, server: subprocess.Popen) -> None:
    """Shut the kernels and the server down through the API; kill the server if that fails."""
    try:
        lab.shut_down_kernels()
        lab.api("POST", "shutdown")
        server.wait(SERVER_STOP_S)
    except (OSError, subprocess.TimeoutExpired):
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)  # the server and what it started in its group
            server.wait(SERVER_STOP_S)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", base / "notebooks")
    settings = base / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)  # no "fetch Jupyter news?" question over the notebook
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    screenshots = tmp_path_factory.mktemp("browser-screenshots")
    pytestconfig.stash[SCREENSHOTS] = screenshots
    port, token = free_port(), secrets.token_hex(16)
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, MMLAB_HOME=str(base / "mmlab_home"), IPYTHONDIR=str(base / "ipython"),
               JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_DATA_DIR=str(base / "data"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"), PYTHONPATH=python_path)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={base / 'notebooks'}",
               f"--LabApp.user_settings_dir={base / 'user-settings'}",
               f"--LabApp.workspaces_dir={base / 'workspaces'}",
               "--LabApp.extension_manager=readonly"]  # the PyPI one waits for the network at exit
    log = base / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, base / "notebooks", screenshots)
    try:
        _wait_until_up(lab, server, log)
        yield lab
    finally:
        _stop(lab, server)


@pytest.fixture(scope="module")
def browser(lab: Lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                              timeout=60_000)  # a fresh temporary profile
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, lab: Lab):
    """A new 1366 x 768 page (its own cookies and storage); its kernels stop when the test ends."""
    context = browser.new_context(viewport=SCREEN)
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()
        lab.shut_down_kernels()


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if SCREENSHOTS in config.stash:
        terminalreporter.write_line(f"browser test screenshots: {config.stash[SCREENSHOTS]}")
