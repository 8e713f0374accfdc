"""A headless Chromium driven over the DevTools protocol, with the standard library only.

The browser reads commands on its fd 3 and writes replies and events on its
fd 4 (``--remote-debugging-pipe``): JSON messages, each ended by a NUL byte.
Every wait has a deadline, so a stuck browser fails a test instead of hanging
it. The network is closed three ways: flags that stop Chromium's own calls
home, a host resolver that resolves nothing, and the page's network emulated
offline.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import time

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--disable-breakpad", "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-debugging-pipe",
]


class BrowserError(RuntimeError):
    """The browser failed, answered with an error, or did not answer in time."""


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, executable: str, profile: str, width: int = 1400, height: int = 700,
                 timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.events: list[dict] = []
        self._next_id = 0
        self._buffer = b""
        commands_r, self._commands = _pipe_above(10)
        self._replies, replies_w = _pipe_above(10)

        def child_fds():  # runs in the child, before exec: the pipes become its fds 3 and 4
            os.dup2(commands_r, 3)
            os.dup2(replies_w, 4)

        self._process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=child_fds, close_fds=False,
        )
        os.close(commands_r)
        os.close(replies_w)
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self.send("Target.attachToTarget",
                                      {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Network"):
                self.page(f"{domain}.enable")
            self.page("Network.emulateNetworkConditions", {
                "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the browser (its own process only) and close the pipes."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=self.timeout)
        for fd in (self._commands, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command and return its result; ``BrowserError`` on an error or a timeout."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        reply = self._wait(lambda m: m.get("id") == self._next_id, f"the reply to {method}")
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def page(self, method: str, params: dict | None = None) -> dict:
        """``send`` to the page's session."""
        return self.send(method, params, self._session)

    def open(self, url: str) -> None:
        """Load ``url`` in the page and wait for its load event."""
        self.events.clear()
        self.page("Page.navigate", {"url": url})
        self._wait(lambda m: m.get("method") == "Page.loadEventFired", f"{url} to load")

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (JSON-serializable)."""
        result = self.page("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str) -> None:
        """Wait until a JavaScript expression is true (events such as hashchange come a moment later)."""
        deadline = time.monotonic() + self.timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise BrowserError(f"still false after {self.timeout} s: {expression}")
            time.sleep(0.02)

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) in the middle of the element."""
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent",
                      {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1})

    def press(self, key: str) -> None:
        """Press and release a key such as ``"ArrowRight"``."""
        codes = {"ArrowLeft": 37, "ArrowRight": 39}
        for kind in ("keyDown", "keyUp"):
            self.page("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key,
                                                 "windowsVirtualKeyCode": codes[key]})

    def screenshot(self) -> bytes:
        """The page as PNG bytes."""
        import base64

        return base64.b64decode(self.page("Page.captureScreenshot", {"format": "png"})["data"])

    def _wait(self, wanted, what: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no answer from the browser within {self.timeout} s, waiting for {what}")
            ready, _, _ = select.select([self._replies], [], [], left)
            if ready:
                chunk = os.read(self._replies, 1 << 16)
                if not chunk:
                    raise BrowserError(f"the browser exited (status {self._process.poll()}) "
                                       f"while waiting for {what}")
                self._buffer += chunk


def _pipe_above(lowest: int) -> tuple[int, int]:
    """A pipe whose two fds are both >= ``lowest``, so moving them to 3 and 4 overwrites neither."""
    r, w = os.pipe()
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, lowest) for fd in (r, w)]
    os.close(r)
    os.close(w)
    return moved[0], moved[1]
