"""A private JupyterLab server and a Chromium for the browser tests.

The server serves a temporary copy of the course on 127.0.0.1, on a free port, with a random
token, and with its own runtime, config, data, workspace and settings folders, so it neither
reads nor writes the user's Jupyter set-up or the repo. It is stopped by its process id.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent

# nbgrader's server extensions: the formgrader and Validate need them. They are enabled in
# the venv's own config already; naming them here keeps the tests independent of that.
SERVER_EXTENSIONS = (
    "jupyterlab",
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.validate_assignment",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
)

# User settings for the temporary settings folder: no news popup over the bottom-right
# corner, no update check (no network here), all cells rendered.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    # Every cell in the page at once (the default adds them lazily): two to three seconds
    # faster per notebook here, and nothing to scroll into view before it can be checked.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    # A headless page may count as in the background: its timers must not be throttled.
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_digest(*folders: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folders`` (new files show up too)."""
    digest = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                rel = str(path.relative_to(folder.parent))
                digest[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


class LabServer:
    """``jupyter lab`` over ``root`` (the server's root_dir and cwd), started and stopped."""

    def __init__(self, root: Path, scratch: Path):
        self.root = root
        self.scratch = scratch
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = scratch / "jupyter-lab.log"
        self.proc: subprocess.Popen | None = None
        self._shutdowns: list[threading.Thread] = []

    def env(self) -> dict[str, str]:
        dirs = {
            "JUPYTER_CONFIG_DIR": self.scratch / "config",
            "JUPYTER_DATA_DIR": self.scratch / "data",
            "JUPYTER_RUNTIME_DIR": self.scratch / "runtime",
            "JUPYTERLAB_SETTINGS_DIR": self.scratch / "settings",
            "JUPYTERLAB_WORKSPACES_DIR": self.scratch / "workspaces",
            "IPYTHONDIR": self.scratch / "ipython",
        }
        for folder in dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, **{name: str(path) for name, path in dirs.items()})
        # nbgrader finds alembic on PATH, and the kernel is this venv's Python.
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(BIN.parent)
        env.pop("PYTHONHOME", None)
        env.pop("MPLBACKEND", None)  # the kernel's inline backend must draw the figures
        env.pop("JUPYTER_TOKEN", None)
        return env

    def _write_settings(self, env: dict[str, str]) -> None:
        settings_dir = Path(env["JUPYTERLAB_SETTINGS_DIR"])
        for rel, values in LAB_SETTINGS.items():
            path = settings_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=2))
        # nbgrader's exchange in the scratch folder, not the system-wide default (which the
        # formgrader would otherwise report missing, or try to create).
        exchange = self.scratch / "exchange"
        exchange.mkdir(exist_ok=True)
        config = Path(env["JUPYTER_CONFIG_DIR"]) / "nbgrader_config.py"
        config.write_text(f"c = get_config()  # noqa: F821\nc.Exchange.root = {str(exchange)!r}\n")

    def launch(self) -> None:
        """Start the server process; ``wait_ready`` waits until it answers."""
        env = self.env()
        self._write_settings(env)
        extensions = "{" + ",".join(f"'{name}': True" for name in SERVER_EXTENSIONS) + "}"
        args = [
            str(BIN / "jupyter"),
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            f"--ServerApp.jpserver_extensions={extensions}",
            f"--LabApp.user_settings_dir={env['JUPYTERLAB_SETTINGS_DIR']}",
            f"--LabApp.workspaces_dir={env['JUPYTERLAB_WORKSPACES_DIR']}",
            "--LabApp.news_url=None",  # no news feed, so no news popup
            "--ServerApp.terminals_enabled=False",
            # Kernels talk to the server over Unix sockets in the runtime folder. Over TCP,
            # two servers starting kernels at the same moment can pick the same free port;
            # the loser fails to bind, and its restarts reuse the port (seen here).
            "--KernelManager.transport=ipc",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--allow-root")
        log = self.log_path.open("wb")
        # Its own process group, so that a server that must be killed takes its kernels along.
        self.proc = subprocess.Popen(
            args,
            cwd=self.root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with {self.proc.returncode} before it was ready:\n"
                    + self.log_tail()
                )
            try:
                self.api("GET", "/api/status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"jupyter lab did not answer within {timeout} s:\n" + self.log_tail()
                )
            time.sleep(0.25)

    def api(self, method: str, path: str, body: dict | None = None):
        """A REST call with the token; returns the decoded JSON (or None)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def lab_url(self, path: str = "") -> str:
        """A Lab URL that opens ``path`` (relative to the root) in a fresh workspace."""
        target = f"/lab/tree/{path}" if path else "/lab"
        return f"{self.url}{target}?reset&token={self.token}"

    def shutdown_kernels(self) -> None:
        """Shut down the running kernels (each opened notebook starts one) in the background:
        the server takes a few seconds per kernel, and the next test need not wait."""
        sessions = self.api("GET", "/api/sessions") or []

        def delete():
            for session in sessions:
                try:
                    self.api("DELETE", f"/api/sessions/{session['id']}")
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass  # gone already, or the server is stopping

        thread = threading.Thread(target=delete, name="shutdown-kernels", daemon=True)
        thread.start()
        self._shutdowns.append(thread)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30) -> None:
        """Terminate the server by its pid, wait, and kill it (and its kernels) if it does not
        go."""
        for thread in self._shutdowns:
            thread.join(timeout=timeout)
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # the server shuts its remaining kernels down, then exits
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group the server leads: it and its kernels
            proc.wait(timeout=timeout)


def chromium_executable() -> str | None:
    """The system Chromium (Debian's package), or None to use Playwright's own download.

    ``BROWSER_TESTS_CHROMIUM`` names another executable.
    """
    named = os.environ.get("BROWSER_TESTS_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def launch_chromium(playwright):
    """Launch headless Chromium; a missing browser is an error that says how to get one."""
    executable = chromium_executable()
    try:
        if executable:
            return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        return playwright.chromium.launch(args=CHROMIUM_ARGS)
    except Exception as error:  # Playwright raises its own Error type with the details
        where = executable or "Playwright's own Chromium download"
        raise RuntimeError(
            f"The browser tests need Chromium and could not start {where}: {error}\n"
            "Install it: on Debian/Ubuntu `apt-get install chromium` (then `which chromium`), "
            "elsewhere `.venv/bin/playwright install chromium`; or set BROWSER_TESTS_CHROMIUM "
            "to a Chromium executable."
        ) from error
