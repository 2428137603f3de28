#!/usr/bin/env python3
"""Drives a real headless Chromium through the reservation site, as guests, staff and strangers would.

A guest signs in on the local OpenID provider's own login page, books a table (the form prefilled with the
name the provider gave), lands on the status page through its private link (the state in words, the name
escaped as text), finds the booking under My reservations, cancels it with a reason, and signs out. A
stranger then gets the sign-in page for every private page and 401 from the list API; staff sign in and see
the book. With --phase database-down the same with PostgreSQL stopped: every page says where it read from.
Screenshots of each page. Exits non-zero, saying what was wrong, on any failure.

Talks to Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON messages separated by
NUL on file descriptors 3 and 4), so it needs nothing beyond the Python standard library.

    drive.py --base http://127.0.0.1:8080 --screenshots docs/screenshots --users tests/oidc/demo-users.json
             [--phase database-up|database-down] [--chromium chromium]
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
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
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


def fill_form(browser, name, date_time, notes, tick_failures):
    browser.type_into("#name", name)
    browser.type_into("#people", "4")
    # A datetime-local widget's typing order depends on the locale; set its value as a date picker would.
    browser.evaluate(
        "(() => { const e = document.querySelector('#datetime'); e.value = " + json.dumps(date_time) + ";"
        " e.dispatchEvent(new Event('input', {bubbles: true})); })()")
    browser.type_into("#notes", notes)
    if tick_failures:
        browser.click("#testFailures")
        expect(browser.evaluate("document.querySelector('#testFailures').checked"), "the failure-demo box is ticked")


def submit(browser, selector="button[type=submit]"):
    browser._drain_events()
    browser.click(selector)
    browser.wait_for_event("Page.loadEventFired")


def text_of(browser):
    return browser.evaluate("document.body.innerText")


def sign_in(browser, base, user, password):
    """From the site's header, through the provider's own login page, and back."""
    browser.navigate(base + "/")
    expect(browser.evaluate("!!document.querySelector('nav a[href=\"/signin\"]')"), "the header offers to sign in")
    browser._drain_events()
    browser.click("nav a[href='/signin']")
    browser.wait_for_event("Page.loadEventFired")
    expect(browser.evaluate("!!document.querySelector('#username')"), "the provider's login page is shown")
    browser.type_into("#username", user)
    browser.type_into("#password", password)
    submit(browser)
    path = browser.evaluate("location.pathname")
    expect(path == "/", f"back on the site after signing in as {user} ({path})")


def sign_out(browser):
    submit(browser, "form.signout button")
    expect(browser.evaluate("location.pathname") == "/", "signed out, and home")
    expect(browser.evaluate("!!document.querySelector('nav a[href=\"/signin\"]')"), "the header offers to sign in again")


def guest_journey(browser, base, screenshots, guest, database_up):
    """Sign in, book, find it under My reservations, cancel it, sign out."""
    suffix = "" if database_up else "-database-down"
    sign_in(browser, base, guest["username"], guest["password"])
    prefilled = browser.evaluate("document.querySelector('#name').value")
    expect(prefilled == guest["name"], f"the form is prefilled from the sign-in ({prefilled!r})")
    if database_up:
        browser.screenshot(os.path.join(screenshots, "home-signed-in.png"))
    name = 'Zoë <b>"Ampersand" & Co</b>' if database_up else "Zoë during the outage"
    browser.evaluate("document.querySelector('#name').value = ''")
    fill_form(browser, name, "2031-06-20T19:30" if database_up else "2031-06-21T20:00",
              "Window seat, please. A birthday 🎂", tick_failures=database_up)
    submit(browser, "form[action='/order'] button[type=submit]")

    print("the status page")
    url = browser.evaluate("location.pathname")
    expect(url.startswith("/orders/") and len(url) == len("/orders/") + 20, f"landed on a status page ({url})")
    expect(browser.evaluate("location.search").startswith("?token="), "its address is the private link")
    text = text_of(browser)
    state = browser.evaluate("document.querySelector('.state').innerText")
    expect(state.strip().lower() in ("pending", "confirmed", "duplicate"), f"the state is shown ({state.strip()})")
    expect("Received" in text or "Confirmed" in text or "Already booked" in text, "the state is said in words")
    expect(name in text, "the name is shown exactly as typed, as text")
    expect(browser.evaluate("document.querySelectorAll('dd b').length") == 0, "the name's <b> did not become markup")
    expect("Window seat, please. A birthday 🎂" in text, "the message is shown")
    if database_up:
        expect("Friday 20 June 2031 at 19:30" in text, "the date and time are shown in words")
        expect("test database failures" in text, "the failure demo is explained")
        refresh = browser.evaluate("document.querySelector('meta[http-equiv=refresh]')?.content ?? ''")
        expect(state.strip().lower() != "pending" or refresh == "2", "a pending reservation's page refreshes itself")
        browser.screenshot(os.path.join(screenshots, "status.png"))
    else:
        expect("The database is not answering" in text, "the page says the database is not answering")

    print("my reservations")
    browser.navigate(base + "/my")
    text = text_of(browser)
    expect(name in text, "the booking is under My reservations")
    expect(("The database is not answering" in text) == (not database_up), "My reservations says where it read from")
    browser.screenshot(os.path.join(screenshots, f"my-reservations{suffix}.png"))

    print("cancel it")
    browser.navigate(base + url)
    expect(browser.evaluate("!!document.querySelector('form.cancel')"), "its page offers to cancel it")
    browser.type_into("#reason", "Plans changed")
    submit(browser, "form.cancel button[type=submit]")
    text = text_of(browser)
    expect("Cancelled" in text and "Plans changed" in text, "the page says it is cancelled, and why")
    expect(not browser.evaluate("!!document.querySelector('form.cancel')"), "no cancel form once cancelled")
    if database_up:
        browser.screenshot(os.path.join(screenshots, "cancelled.png"))
    browser.navigate(base + "/my")
    expect("cancelled" in text_of(browser).lower(), "My reservations shows it cancelled")
    sign_out(browser)
    return url


def stranger(browser, base, booked_path):
    """Nothing of anyone's: the sign-in page for pages, 401 for the API."""
    for path in ("/my", "/reservations", booked_path):
        browser.navigate(base + path)
        text = text_of(browser)
        expect("Please sign in" in text, f"a stranger gets the sign-in page at {path}")
        expect("Zoë" not in text, f"and sees no guest's name at {path}")
    # The page's policy allows no script requests (connect-src), so the browser goes there as to a page.
    browser.navigate(base + "/api/v1/reservations")
    problem = json.loads(text_of(browser))
    expect(problem.get("status") == 401 and problem.get("type", "").endswith("/sign-in-required"),
           f"the list API answers a stranger 401 ({problem.get('status')})")


def staff_book(browser, base, screenshots, staff, database_up):
    sign_in(browser, base, staff["username"], staff["password"])
    browser.navigate(base + "/reservations?from=2031-06-20&days=7")
    text = text_of(browser)
    expect("Zoë" in text, "staff see the guests' bookings in the book")
    expect("Friday 20 June 2031" in text or not database_up, "grouped under its day")
    if database_up:
        browser.screenshot(os.path.join(screenshots, "reservations.png"))
    sign_out(browser)


def run(base, screenshots, chromium, users, phase):
    os.makedirs(screenshots, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="rananeeti-chromium-")
    browser = Browser(chromium, profile)
    database_up = phase == "database-up"
    guest, staff = users["guest"], users["staff"]
    try:
        browser.open_page()
        if database_up:
            print("home page, desktop and phone")
            browser.set_viewport(1280, 900, mobile=False)
            browser.navigate(base + "/")
            expect(browser.evaluate("document.querySelector('h1').innerText") == "Book a table", "the home page says 'Book a table'")
            expect("Sign in to book" in text_of(browser), "a stranger is asked to sign in before booking")
            stylesheet_rules = browser.evaluate("document.styleSheets.length ? document.styleSheets[0].cssRules.length : 0")
            expect(stylesheet_rules > 20, "the site's own stylesheet loaded")
            browser.screenshot(os.path.join(screenshots, "home-desktop.png"))
            browser.set_viewport(390, 844, mobile=True, scale=2)
            browser.navigate(base + "/")
            overflow = browser.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            expect(overflow <= 0, "nothing wider than a phone's screen")
            browser.screenshot(os.path.join(screenshots, "home-phone.png"))
            browser.set_viewport(1280, 900, mobile=False)
            browser.navigate(base + "/my")
            browser.screenshot(os.path.join(screenshots, "sign-in.png"))

        print(f"a guest, {phase}")
        booked = guest_journey(browser, base, screenshots, guest, database_up)
        print(f"a stranger, {phase}")
        stranger(browser, base, booked)
        print(f"staff, {phase}")
        staff_book(browser, base, screenshots, staff, database_up)
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the site's address, e.g. http://127.0.0.1:8080")
    parser.add_argument("--screenshots", required=True, help="where to write the PNG screenshots")
    parser.add_argument("--chromium", default="chromium", help="the Chromium executable")
    parser.add_argument("--users", required=True, help="the provider's users (tests/oidc/demo-users.json)")
    parser.add_argument("--phase", choices=["database-up", "database-down"], default="database-up",
                        help="what to expect: PostgreSQL answering, or stopped")
    arguments = parser.parse_args()
    with open(arguments.users) as file:
        users = {user["username"]: user for user in json.load(file)}
    try:
        run(arguments.base.rstrip("/"), arguments.screenshots, arguments.chromium, users, arguments.phase)
    except Failure as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print("browser test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
