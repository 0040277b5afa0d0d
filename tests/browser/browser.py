"""
browser.py -- drives a real headless Chromium over the DevTools protocol, for
tests of the pages Hourglass writes or serves (the partner's quality page,
later the analytics page).

    from browser import Browser, unavailable
    reason = unavailable()          # None, or why Chromium cannot run here
    with Browser() as b:
        b.load("file:///tmp/page.html")          # or http://127.0.0.1:PORT/...
        b.wait_for("#trend")                     # a CSS selector
        n = b.evaluate("document.querySelectorAll('#trend g.day').length")
        b.screenshot("/path/out.png")            # the whole page, PNG

Chromium (Debian's `chromium`, deploy/install-deps.sh) runs with
--headless=new, a user-data-dir of its own in a temporary directory, the
DevTools port picked by Chromium on loopback (read from DevToolsActivePort),
and --no-sandbox only when running as root (Chromium refuses its sandbox
there). close() (or leaving the with block) asks it to quit, then kills its
process group and removes the directory. Needs python3-websocket.
"""
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserError(Exception):
    pass


def chromium_path():
    """The Chromium binary ($HOURGLASS_CHROMIUM, else the first on PATH), or None."""
    env = os.environ.get("HOURGLASS_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def unavailable():
    """None when a browser test can run; else the reason, for pytest.skip."""
    if not chromium_path():
        if os.environ.get("HOURGLASS_CHROMIUM"):
            return "HOURGLASS_CHROMIUM=%s is not an executable" % os.environ["HOURGLASS_CHROMIUM"]
        return ("no Chromium found (%s; deploy/install-deps.sh installs Debian's chromium)"
                % ", ".join(CANDIDATES))
    try:
        import websocket  # noqa: F401
    except ImportError:
        return "python3-websocket is missing (deploy/install-deps.sh installs it)"
    return None


class Browser:
    """One headless Chromium with one page (tab); commands over its DevTools websocket."""

    def __init__(self, width=1280, height=900, timeout=30.0):
        import websocket

        reason = unavailable()
        if reason:
            raise BrowserError(reason)
        self.timeout = timeout
        self.dir = tempfile.mkdtemp(prefix="hg-chromium-")
        self.log_path = os.path.join(self.dir, "chromium.log")
        args = [chromium_path(), "--headless=new", "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "--user-data-dir=" + os.path.join(self.dir, "profile"),
                "--no-first-run", "--no-default-browser-check", "--disable-gpu",
                "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--metrics-recording-only",
                "--hide-scrollbars", "--mute-audio", "--window-size=%d,%d" % (width, height),
                "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium will not run its sandbox as root
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._ids = itertools.count(1)
        self._events = []
        self.ws = None
        try:
            url = self._devtools_url()
            self.ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
            target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self._call("Target.attachToTarget",
                                      {"targetId": target, "flatten": True})["sessionId"]
            self.call("Page.enable")
            self.call("Runtime.enable")
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1,
                       "mobile": False})
        except Exception:
            self.close()
            raise

    # ---- protocol ---------------------------------------------------------

    def _devtools_url(self):
        """ws://127.0.0.1:PORT/devtools/browser/ID from the profile's DevToolsActivePort."""
        port_file = os.path.join(self.dir, "profile", "DevToolsActivePort")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrowserError("chromium exited with %s: %s"
                                   % (self.proc.returncode, self.log_tail()))
            try:
                with open(port_file) as f:
                    lines = f.read().split("\n")
                if len(lines) >= 2 and lines[0].strip() and lines[1].strip():
                    return "ws://127.0.0.1:%s%s" % (lines[0].strip(), lines[1].strip())
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise BrowserError("chromium did not open its DevTools port within %.0f s: %s"
                           % (self.timeout, self.log_tail()))

    def _send(self, method, params, session):
        msg_id = next(self._ids)
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + self.timeout
        while True:
            if time.monotonic() > deadline:
                raise BrowserError("%s: no answer within %.0f s" % (method, self.timeout))
            reply = json.loads(self.ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise BrowserError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def _call(self, method, params=None):
        """A command to the browser itself."""
        return self._send(method, params, None)

    def call(self, method, params=None):
        """A command to the page (DevTools protocol method and params); its result."""
        return self._send(method, params, self.session)

    def _wait_event(self, method, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self._events):
                if ev.get("method") == method and ev.get("sessionId") == self.session:
                    del self._events[: i + 1]
                    return ev.get("params", {})
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("no %s within %.0f s" % (method, timeout))
            self.ws.settimeout(left)
            try:
                msg = json.loads(self.ws.recv())
            finally:
                self.ws.settimeout(self.timeout)
            if "method" in msg:
                self._events.append(msg)

    # ---- what tests use ---------------------------------------------------

    def load(self, url, timeout=None):
        """Navigates to url and waits for its load event."""
        self._events.clear()
        res = self.call("Page.navigate", {"url": url})
        if res.get("errorText"):
            raise BrowserError("cannot load %s: %s" % (url, res["errorText"]))
        self._wait_event("Page.loadEventFired", timeout or self.timeout)

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (awaited when a promise)."""
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True})
        if "exceptionDetails" in res:
            raise BrowserError("%s: %s" % (expression, res["exceptionDetails"]))
        return res.get("result", {}).get("value")

    def wait_for(self, selector, timeout=None):
        """Waits until the page has an element matching the CSS selector."""
        deadline = time.monotonic() + (timeout or self.timeout)
        probe = "document.querySelector(%s) !== null" % json.dumps(selector)
        while not self.evaluate(probe):
            if time.monotonic() > deadline:
                raise BrowserError("no element %s within %.0f s" % (selector,
                                                                    timeout or self.timeout))
            time.sleep(0.05)

    def screenshot(self, path, full_page=True):
        """Saves a PNG of the page (the whole page, or the viewport) to path."""
        params = {"format": "png"}
        if full_page:
            m = self.call("Page.getLayoutMetrics")
            size = m.get("cssContentSize") or m["contentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {"x": 0, "y": 0, "width": size["width"],
                              "height": size["height"], "scale": 1}
        data = self.call("Page.captureScreenshot", params)["data"]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def log_tail(self, n=2000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self):
        """Quits Chromium (kills its process group if it lingers), removes its directory."""
        if self.ws is not None:
            try:
                self._call("Browser.close")
            except Exception:
                pass
            try:
                self.ws.close()
            except Exception:
                pass
            self.ws = None
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its zygote and renderers too
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
