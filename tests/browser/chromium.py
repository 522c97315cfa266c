"""Headless Chromium driven over the DevTools protocol, on a pipe: nothing to install but the browser.

``--remote-debugging-pipe`` makes Chromium read protocol commands from file
descriptor 3 and write answers and events to descriptor 4, each message JSON
ended by a NUL byte; no websocket, no port, no npm package in between.  A
``Browser`` is one Chromium process with a fresh profile under tmp; each
``Browser.open`` is a tab that records, from its first request on, what the
DevTools console would show as errors, the page's uncaught exceptions and
every URL it requested.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIMEOUT = 60.0
"""Seconds any one protocol command, page load or evaluation may take."""

FLAGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--allow-file-access-from-files",  # a page under file:// may load the scripts beside it
    "--remote-debugging-pipe",
]


class BrowserError(RuntimeError):
    """Chromium did not start, exited, answered a command with an error, or took too long."""


@dataclass
class Tab:
    """One page: what it logged and requested, recorded as the events arrive."""

    browser: Browser
    session: str
    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.call(method, params, session=self.session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page, promises awaited, returned as JSON."""
        answer = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True,
                           timeout=TIMEOUT * 1000)
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise BrowserError(f"{expression[:80]!r} threw: {details.get('exception', {}).get('description') or details}")
        return answer["result"].get("value")

    def screenshot(self, path: Path, *, scale: float = 1.0, max_height: int = 6000) -> Path:
        """A PNG of the whole page (up to ``max_height`` CSS pixels), written to ``path``."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], max_height), "scale": scale}
        data = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def handle(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            self.console_errors.append(" ".join(_describe(arg) for arg in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":  # failed loads, CSP, ...
            entry = params["entry"]
            self.console_errors.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}".rstrip())
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.page_errors.append(details.get("exception", {}).get("description") or details["text"])
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])

    def foreign_requests(self) -> list[str]:
        """Every URL the page requested but its own: anything it did not carry inline (``data:`` is inline)."""
        return [url for url in self.requests if url != self.url and not url.startswith(("data:", "blob:", "about:"))]


def _above_four(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
    os.close(fd)
    return moved


def _describe(arg: dict[str, Any]) -> str:
    return str(arg["value"]) if "value" in arg else str(arg.get("description", arg.get("type")))


class Browser:
    """One headless Chromium process; ``close()`` (or ``with``) ends it and removes its profile."""

    def __init__(self, executable: str, *, width: int = 1280, height: int = 900) -> None:
        self.width, self.height = width, height
        self.profile = tempfile.TemporaryDirectory(prefix="statuses-chromium-")
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.tabs: dict[str, Tab] = {}
        self.next_id = 0
        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()
        # The child's ends, moved above 4 so that putting them on 3 and 4 cannot clobber one of them.
        to_browser_read, from_browser_write = (_above_four(fd) for fd in (to_browser_read, from_browser_write))
        command = [executable, *FLAGS, f"--user-data-dir={self.profile.name}", f"--window-size={width},{height}"]
        # Chromium wants the pipe on descriptors 3 and 4 exactly: bash puts it there (dash takes no fd above 9).
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$@" 3<&{to_browser_read} 4>&{from_browser_write} {to_browser_read}<&- '
             f"{from_browser_write}>&-", "bash", *command],
            pass_fds=(to_browser_read, from_browser_write), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        try:
            self.call("Browser.getVersion")  # started and listening
        except BrowserError:
            self.close()
            raise

    def _read(self) -> None:
        buffer = b""
        with open(self.from_browser, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for message in messages:
                    self.messages.put(json.loads(message))
        self.messages.put(None)  # Chromium closed the pipe: it exited

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    def _dispatch(self, message: dict[str, Any]) -> None:
        tab = self.tabs.get(message.get("sessionId", ""))
        if tab is not None and "method" in message:
            tab.handle(message["method"], message.get("params", {}))

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its answer, handing the events that come meanwhile to their tabs."""
        self.next_id += 1
        number = self.next_id
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        except OSError as error:
            raise BrowserError(f"Chromium is gone ({error}); it said: {self._said()}") from error
        answer = self._until(lambda answer: answer.get("id") == number, f"{method}: no answer")
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    def wait_for_load(self, tab: Tab, loader: str) -> None:
        """Until the document that navigation ``loader`` brings fires its ``load`` event."""
        self._until(lambda event: event.get("sessionId") == tab.session and event.get("method") == "Page.lifecycleEvent"
                    and event["params"]["name"] == "load" and event["params"]["loaderId"] == loader,
                    f"{tab.url}: not loaded")

    def _until(self, wanted: Callable[[dict[str, Any]], bool], failure: str) -> dict[str, Any]:
        """The first message ``wanted`` accepts, within ``TIMEOUT``; every message is handed to its tab."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                message = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise BrowserError(f"{failure} in {TIMEOUT:.0f} s") from None
            if message is None:
                self.messages.put(None)  # for whoever waits next
                raise BrowserError(f"{failure}: Chromium exited; it said: {self._said()}")
            self._dispatch(message)
            if wanted(message):
                return message

    def open(self, url: str) -> Tab:
        """A new tab at ``url``, loaded (its ``load`` event fired and two frames painted), its events recorded."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        tab = self.tabs[session] = Tab(self, session, url)
        for domain in ("Page", "Runtime", "Log", "Network"):
            tab.call(f"{domain}.enable")
        tab.call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height, deviceScaleFactor=1,
                 mobile=False)
        tab.call("Page.setLifecycleEventsEnabled", enabled=True)
        navigation = tab.call("Page.navigate", url=url)
        if "errorText" in navigation:
            raise BrowserError(f"{url}: {navigation['errorText']}")
        self.wait_for_load(tab, navigation["loaderId"])
        tab.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        return tab

    def _said(self) -> str:
        return b"".join(self.stderr[-20:]).decode(errors="replace").strip() or "(nothing)"

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.call("Browser.close")
            except BrowserError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        os.close(self.to_browser)
        self.profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """``(width, height, rows)`` of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes): each
    row its pixels' bytes, unfiltered.  Enough of PNG to look at a screenshot without an imaging library."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, data, header = 8, b"", b""
    while position < len(png):
        length = int.from_bytes(png[position:position + 4], "big")
        chunk, body = png[position + 4:position + 8], png[position + 8:position + 8 + length]
        header = body if chunk == b"IHDR" else header
        data += body if chunk == b"IDAT" else b""
        position += 12 + length
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour, interlace = header[8], header[9], header[12]
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG: depth {depth}, colour {colour}"
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(data)
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:  # Sub
            for i in range(channels, stride):
                row[i] = (row[i] + row[i - channels]) & 255
        elif kind == 2:  # Up
            row = bytearray((a + b) & 255 for a, b in zip(row, previous))
        elif kind == 3:  # Average
            for i in range(stride):
                row[i] = (row[i] + ((row[i - channels] if i >= channels else 0) + previous[i]) // 2) & 255
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = row[i - channels] if i >= channels else 0
                b, c = previous[i], previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(row))
        previous = row
    return width, height, rows
