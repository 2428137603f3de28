#!/usr/bin/env python3
"""Drives a real headless Chromium through the reservation site, as a guest would.

Opens the home page (screenshots at desktop and phone width), types a reservation into the form, ticks the
"Test database failures" box, clicks "Book the table", and reads the status page it lands on: the state
must be shown in words, with the name escaped as text. Then the list of upcoming reservations. Exits
non-zero, saying what was wrong, on any failure.

Talks to Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON messages separated by
NUL on file descriptors 3 and 4), so it needs nothing beyond the Python standard library.

    drive.py --base http://127.0.0.1:8080 --screenshots docs/screenshots [--chromium chromium]
"""

import argparse
import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TIMEOUT_SECONDS = 30


class Failure(Exception):
    pass


class Browser:
    """One headless Chromium, one page, commands and events over the DevTools pipe."""

    def __init__(self, chromium, profile):
        to_browser_read, to_browser_write = self._high_pipe()
        from_browser_read, from_browser_write = self._high_pipe()
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
            "--remote-debugging-pipe", f"--user-data-dir={profile}", "--window-size=1280,900", "about:blank",
        ]
        # Chromium reads commands from descriptor 3 and writes to descriptor 4.
        wrapper = f'exec "$0" "$@" 3<&{to_browser_read} 4>&{from_browser_write}'
        self.process = subprocess.Popen(
            ["bash", "-c", wrapper] + command,
            pass_fds=(to_browser_read, from_browser_write),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.writer = os.fdopen(to_browser_write, "wb", buffering=0)
        self.reader = os.fdopen(from_browser_read, "rb", buffering=0)
        self.responses = {}
        self.events = queue.Queue()
        self.condition = threading.Condition()
        self.next_id = 0
        self.session = None
        threading.Thread(target=self._read, daemon=True).start()

    @staticmethod
    def _high_pipe():
        # Move both ends above 10, so that the shell's "3<&N 4>&M" cannot clobber one with the other.
        read, write = os.pipe()
        high_read, high_write = fcntl.fcntl(read, fcntl.F_DUPFD, 10), fcntl.fcntl(write, fcntl.F_DUPFD, 10)
        os.close(read)
        os.close(write)
        return high_read, high_write

    def _read(self):
        buffer = b""
        while True:
            chunk = self.reader.read(65536)
            if not chunk:
                with self.condition:
                    self.responses[None] = "closed"
                    self.condition.notify_all()
                return
            buffer += chunk
            while b"\0" in buffer:
                message, buffer = buffer.split(b"\0", 1)
                data = json.loads(message)
                if "id" in data:
                    with self.condition:
                        self.responses[data["id"]] = data
                        self.condition.notify_all()
                else:
                    self.events.put(data)

    def send(self, method, params=None, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self.writer.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_SECONDS
        with self.condition:
            while self.next_id not in self.responses:
                if None in self.responses:
                    raise Failure(f"Chromium closed its pipe during {method}: {self.stderr_tail()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Failure(f"no answer from Chromium to {method} within {TIMEOUT_SECONDS} s")
                self.condition.wait(remaining)
            response = self.responses.pop(self.next_id)
        if "error" in response:
            raise Failure(f"{method} failed: {response['error']}")
        return response.get("result", {})

    def wait_for_event(self, method):
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Failure(f"Chromium sent no {method} within {TIMEOUT_SECONDS} s")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event.get("method") == method:
                return event.get("params", {})

    def open_page(self):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")

    def _drain_events(self):
        while True:
            try:
                self.events.get_nowait()
            except queue.Empty:
                return

    def navigate(self, url):
        self._drain_events()
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise Failure(f"could not open {url}: {result['errorText']}")
        self.wait_for_event("Page.loadEventFired")

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise Failure(f"script failed: {expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def set_viewport(self, width, height, mobile, scale=1):
        self.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile,
        })

    def screenshot(self, path):
        """The whole page, not only the window."""
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics["cssContentSize"]
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        })
        with open(path, "wb") as file:
            file.write(base64.b64decode(shot["data"]))
        print(f"  screenshot {path}")

    def click(self, selector):
        """A real mouse click in the middle of the element, as a person would."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {
                "type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1,
            })

    def type_into(self, selector, text):
        self.click(selector)
        self.send("Input.insertText", {"text": text})

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except Failure:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def stderr_tail(self):
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stderr.read().decode(errors="replace")[-2000:]


def expect(condition, message):
    if not condition:
        raise Failure(message)
    print(f"  ok: {message}")


def run(base, screenshots, chromium):
    os.makedirs(screenshots, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="rananeeti-chromium-")
    browser = Browser(chromium, profile)
    try:
        browser.open_page()

        print("home page, desktop and phone")
        browser.set_viewport(1280, 900, mobile=False)
        browser.navigate(base + "/")
        expect(browser.evaluate("document.querySelector('h1').innerText") == "Book a table", "the home page says 'Book a table'")
        labels = browser.evaluate("[...document.querySelectorAll('label')].map(l => l.htmlFor)")
        expect(set(labels) >= {"name", "people", "datetime", "notes", "testFailures"}, "every field has a label")
        stylesheet_rules = browser.evaluate("document.styleSheets.length ? document.styleSheets[0].cssRules.length : 0")
        expect(stylesheet_rules > 20, "the site's own stylesheet loaded")
        browser.screenshot(os.path.join(screenshots, "home-desktop.png"))
        browser.set_viewport(390, 844, mobile=True, scale=2)
        browser.navigate(base + "/")
        overflow = browser.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        expect(overflow <= 0, "nothing wider than a phone's screen")
        browser.screenshot(os.path.join(screenshots, "home-phone.png"))
        browser.set_viewport(1280, 900, mobile=False)

        print("fill in and submit the form")
        browser.navigate(base + "/")
        name = 'Zoë <b>"Ampersand" & Co</b>'
        browser.type_into("#name", name)
        browser.type_into("#people", "4")
        # A datetime-local widget's typing order depends on the locale; set its value as a date picker would.
        browser.evaluate(
            "(() => { const e = document.querySelector('#datetime'); e.value = '2031-06-20T19:30';"
            " e.dispatchEvent(new Event('input', {bubbles: true})); })()")
        browser.type_into("#notes", "Window seat, please. A birthday 🎂")
        browser.click("#testFailures")
        expect(browser.evaluate("document.querySelector('#testFailures').checked"), "the failure-demo box is ticked")
        browser._drain_events()
        browser.click("button[type=submit]")
        browser.wait_for_event("Page.loadEventFired")

        print("the status page")
        url = browser.evaluate("location.pathname")
        expect(url.startswith("/orders/") and len(url) == len("/orders/") + 20, f"landed on a status page ({url})")
        text = browser.evaluate("document.body.innerText")
        state = browser.evaluate("document.querySelector('.state').innerText")
        expect(state.strip().lower() in ("pending", "confirmed", "duplicate"), f"the state is shown ({state.strip()})")
        expect("Received" in text or "Confirmed" in text or "Already booked" in text, "the state is said in words")
        expect(name in text, "the name is shown exactly as typed, as text")
        expect(browser.evaluate("document.querySelectorAll('dd b').length") == 0, "the name's <b> did not become markup")
        expect("Friday 20 June 2031 at 19:30" in text, "the date and time are shown in words")
        expect("Window seat, please. A birthday 🎂" in text, "the message is shown")
        expect("test database failures" in text, "the failure demo is explained")
        refresh = browser.evaluate("document.querySelector('meta[http-equiv=refresh]')?.content ?? ''")
        expect(state.strip().lower() != "pending" or refresh == "2", "a pending reservation's page refreshes itself")
        browser.screenshot(os.path.join(screenshots, "status.png"))

        print("upcoming reservations")
        browser.navigate(base + "/reservations?from=2031-06-20&days=7")
        text = browser.evaluate("document.body.innerText")
        expect(name in text, "the reservation is in the list")
        expect("Friday 20 June 2031" in text, "grouped under its day")
        browser.screenshot(os.path.join(screenshots, "reservations.png"))
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the site's address, e.g. http://127.0.0.1:8080")
    parser.add_argument("--screenshots", required=True, help="where to write the PNG screenshots")
    parser.add_argument("--chromium", default="chromium", help="the Chromium executable")
    arguments = parser.parse_args()
    try:
        run(arguments.base.rstrip("/"), arguments.screenshots, arguments.chromium)
    except Failure as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print("browser test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
