"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
JSON messages on file descriptors 3 and 4, each ended by a NUL byte), with the standard library only: no websocket
client, no port, no driver to install. Opens a page, and says what the console and the network saw and what a
JavaScript expression returns once the page has loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Nothing but the page: no GPU, no updater, no sync, no first-run, no background requests of Chromium's own.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--remote-debugging-pipe",
    "--window-size=1100,900",
)


def available() -> bool:
    return Path(CHROMIUM).exists()


@dataclass
class Visit:
    """What one page load showed: console errors and exceptions, every URL requested, and the expression's value."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    value: Any = None


class Chromium:
    def __init__(self, timeout: float = 60):
        self.timeout = timeout
        self.deadline = 0.0
        self.next_id = 0
        self.buffer = b""
        self.events: list[dict] = []

    def __enter__(self) -> Chromium:
        self.profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        to_browser, self.writer = os.pipe()
        self.reader, from_browser = os.pipe()
        # The protocol's two pipes must be the browser's fds 3 and 4: bash puts them there (dash takes one digit).
        command = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}'
        arguments = [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile.name}", "about:blank"]
        self.log = Path(self.profile.name) / "chromium.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                ["bash", "-c", command, *arguments],
                pass_fds=(to_browser, from_browser),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        os.close(to_browser)
        os.close(from_browser)
        self.deadline = time.monotonic() + self.timeout
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError, TimeoutError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.writer)
        os.close(self.reader)
        self.profile.cleanup()

    def send(self, method: str, session: str | None = None, **params: Any) -> dict:
        """One command; returns its result, keeping the events that arrive meanwhile."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params} | ({"sessionId": session} if session else {})
        os.write(self.writer, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._receive())

    def _log_tail(self) -> str:
        """Chromium's own messages, less the D-Bus ones a container without a session bus always gets."""
        lines = [line for line in self.log.read_text(errors="replace").splitlines() if "dbus" not in line]
        return "\n".join(lines[-20:])

    def _receive(self) -> dict:
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.reader], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer within {self.timeout} s: {self._log_tail()}")
            chunk = os.read(self.reader, 1 << 16)
            if not chunk:
                raise OSError(f"Chromium closed the pipe: {self._log_tail()}")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def visit(self, url: str, expression: str) -> Visit:
        """Load `url` in a new tab, wait for its load event, then evaluate `expression` (its value returned as JSON)."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session)
        self.send("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired")
        value = self.send("Runtime.evaluate", session, expression=expression, returnByValue=True)
        visit = Visit(value=value.get("result", {}).get("value"))
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                visit.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                visit.errors.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                visit.errors.append(params["entry"]["text"])
            elif method == "Network.requestWillBeSent":
                visit.requests.append(params["request"]["url"])
        return visit
