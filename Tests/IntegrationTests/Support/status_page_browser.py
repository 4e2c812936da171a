#!/usr/bin/env python3
"""Drives headless Chromium through the status page for StatusPageBrowserTests.

Talks the DevTools protocol over --remote-debugging-pipe (fd 3: commands in, fd 4: replies out,
NUL-terminated JSON), so it needs only the Python standard library and Debian's `chromium`.

Steps: open /?token=... (the cookie exchange), wait until the page is live with every member and
the map drawn, force one member down through the admin API (POST with the bearer token), wait
until the page shows it down WITHOUT a reload (a marker set in the page must survive), route an
address through the page's box, save desktop and phone screenshots. Prints one JSON object with
what it saw; exits non-zero with a message on stderr when a step fails or a deadline passes.
"""
import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request


class Failure(Exception):
    pass


class Browser:
    def __init__(self, chromium, profile, width, height):
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # High, close-on-exec copies, so placing them at 3 and 4 in the child cannot collide.
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 20)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 20)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def place_pipes():
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-sync", "--mute-audio",
             f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=place_pipes, close_fds=False)
        os.close(child_in)
        os.close(child_out)
        self.write_fd = to_chrome_w
        self.read_fd = from_chrome_r
        self.buffer = b""
        self.next_id = 0
        self.session = None

    def send(self, method, params=None, session=True, timeout=20):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self.receive(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise Failure(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def receive(self, deadline):
        while b"\0" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Failure("no answer from chromium in time")
            ready, _, _ = select.select([self.read_fd], [], [], remaining)
            if ready:
                chunk = os.read(self.read_fd, 1 << 16)
                if not chunk:
                    raise Failure("chromium closed the DevTools pipe: " + self.stderr_tail())
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def stderr_tail(self):
        try:
            self.process.kill()
            return self.process.communicate(timeout=5)[1].decode(errors="replace")[-2000:]
        except Exception as error:  # noqa: BLE001 - diagnostics only
            return str(error)

    def open_page(self):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise Failure(f"page script failed: {expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, what, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return
            time.sleep(0.1)
        state = self.evaluate("document.body ? document.body.dataset.state + ' / ' + "
                              "document.getElementById('updated')?.textContent : document.title")
        raise Failure(f"timed out after {timeout}s waiting for {what} (page: {state})")

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.write_fd)
        os.close(self.read_fd)


def js(value):
    return json.dumps(value)


def run(args):
    base = args.base.rstrip("/")
    profile = tempfile.mkdtemp(prefix="proxima-chromium-")
    browser = Browser(args.chromium, profile, 1000, 900)
    seen = {}
    try:
        browser.open_page()
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 1000, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        browser.send("Page.navigate", {"url": f"{base}/?token={args.token}"})
        browser.wait_for(
            f"document.body && document.body.dataset.state === 'live' && "
            f"document.querySelectorAll('#members-body tr').length === {args.members} && "
            f"document.querySelectorAll('#backends g.backend').length === {args.backends}",
            "the live page with every member", args.timeout)
        seen["url_after_sign_in"] = browser.evaluate("location.pathname + location.search")
        seen["cookie_visible_to_script"] = browser.evaluate("document.cookie")
        seen["flows"] = browser.evaluate("document.querySelectorAll('#flows line').length")
        seen["flow_titles"] = browser.evaluate(
            "Array.from(document.querySelectorAll('#flows line title')).map(t => t.textContent)")
        row = f"tr[data-address={js(args.force)}]"
        seen["health_before"] = browser.evaluate(f"document.querySelector({js(row + ' td.health')}).textContent")
        browser.evaluate("window.__proximaMarker = 'same-document'; true")
        updates_before = int(browser.evaluate("document.body.dataset.updates"))

        request = urllib.request.Request(
            f"{base}/backends/{args.force}/force", data=b'{"state": "down"}', method="POST",
            headers={"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            seen["force_status"] = response.status

        browser.wait_for(
            f"document.querySelector({js(row + ' td.health')}).textContent === 'down' && "
            f"document.querySelector({js(row + ' td.forced')}).textContent === 'down' && "
            f"document.querySelector({js('#backends g.backend.down[data-address=' + js(args.force) + ']')}) !== null",
            f"{args.force} shown down", args.timeout)
        seen["marker_after"] = browser.evaluate("window.__proximaMarker || null")
        seen["updates_between"] = int(browser.evaluate("document.body.dataset.updates")) - updates_before
        seen["health_after"] = browser.evaluate(f"document.querySelector({js(row + ' td.health')}).textContent")
        seen["load_cells"] = browser.evaluate(
            "Array.from(document.querySelectorAll('#members-body tr td:nth-child(7)')).map(t => t.textContent)")

        browser.evaluate(f"document.getElementById('route-ip').value = {js(args.route)}; "
                         "document.getElementById('route-form').requestSubmit(); true")
        browser.wait_for("document.getElementById('route-out').textContent.includes('answer')",
                         "the route explanation", args.timeout)
        seen["route_text"] = browser.evaluate("document.getElementById('route-out').textContent")
        browser.screenshot(os.path.join(args.out, "status-page.png"))

        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
        browser.wait_for("document.documentElement.clientWidth === 390", "the phone viewport", args.timeout)
        seen["phone_scroll_width"] = browser.evaluate("document.documentElement.scrollWidth")
        browser.screenshot(os.path.join(args.out, "status-page-phone.png"))
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps(seen))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--base", required=True, help="admin listener, e.g. http://127.0.0.1:8053")
    parser.add_argument("--token", required=True)
    parser.add_argument("--force", required=True, help="member address to force down")
    parser.add_argument("--members", type=int, required=True, help="table rows expected")
    parser.add_argument("--backends", type=int, required=True, help="map dots expected")
    parser.add_argument("--route", required=True, help="address for the route box")
    parser.add_argument("--out", required=True, help="directory for the screenshots")
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    try:
        run(args)
    except Failure as error:
        print(f"status_page_browser: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
