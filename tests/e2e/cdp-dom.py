#!/usr/bin/env python3
"""Renders a page in headless Chromium and waits until its text holds every needle.

  cdp-dom.py CHROMIUM URL PROFILE_DIR OUT_PREFIX TIMEOUT_S NEEDLE...

Starts Chromium (--headless=new --no-sandbox, a fresh --user-data-dir, the
DevTools protocol on a port it picks), talks to the page over the DevTools
WebSocket (a minimal client: the standard library has none), polls
document.body.innerText every 250 ms until every NEEDLE is in it or TIMEOUT_S
passes, then writes OUT_PREFIX.html (the rendered DOM), OUT_PREFIX.png (a
screenshot) and OUT_PREFIX.pid, stops Chromium by its pid, and exits 0 when
all needles were found, 1 otherwise (the missing ones on stderr).
"""
import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request


class WS:
    def __init__(self, url):
        assert url.startswith("ws://")
        hostport, path = url[5:].split("/", 1)
        host, port = hostport.split(":")
        self.s = socket.create_connection((host, int(port)), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n" % (path, hostport, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            c = self.s.recv(1)
            if not c:
                raise IOError("handshake")
            head += c
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise IOError("handshake: %r" % head[:80])
        self.n = 0

    def _recv(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise IOError("closed")
            b += c
        return b

    def send(self, obj):
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        hdr = bytes([0x81])
        if len(data) < 126:
            hdr += bytes([0x80 | len(data)])
        elif len(data) < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", len(data))
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", len(data))
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self):
        msg = b""
        while True:
            b0, b1 = self._recv(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv(8))[0]
            msg += self._recv(n)
            if b0 & 0x80:
                return json.loads(msg)

    def call(self, method, **params):
        self.n += 1
        self.send({"id": self.n, "method": method, "params": params})
        while True:
            m = self.recv()
            if m.get("id") == self.n:
                return m.get("result", {})


def main():
    chromium, url, profile, out, timeout_s = sys.argv[1:6]
    needles = sys.argv[6:]
    deadline = time.time() + float(timeout_s)
    os.makedirs(profile, exist_ok=True)
    p = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                          "--no-first-run", "--user-data-dir=" + profile,
                          "--remote-debugging-port=0", "--window-size=1280,900", url],
                         stdout=subprocess.DEVNULL, stderr=open(out + ".chromium.log", "w"))
    open(out + ".pid", "w").write(str(p.pid))
    text, missing = "", needles
    try:
        portfile = os.path.join(profile, "DevToolsActivePort")
        while not os.path.exists(portfile) and time.time() < deadline:
            time.sleep(0.1)
        port = open(portfile).read().split()[0]
        page = None
        while page is None and time.time() < deadline:
            targets = json.load(urllib.request.urlopen("http://127.0.0.1:%s/json/list" % port))
            page = next((t for t in targets if t.get("type") == "page"), None)
            time.sleep(0.1)
        ws = WS(page["webSocketDebuggerUrl"])
        while time.time() < deadline:
            r = ws.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''")
            text = r.get("result", {}).get("value", "") or ""
            missing = [n for n in needles if n not in text]
            if not missing:
                break
            time.sleep(0.25)
        html = ws.call("Runtime.evaluate", expression="document.documentElement.outerHTML")
        open(out + ".html", "w").write(html.get("result", {}).get("value", ""))
        shot = ws.call("Page.captureScreenshot", format="png")
        open(out + ".png", "wb").write(base64.b64decode(shot.get("data", "")))
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if missing:
        sys.stderr.write("missing: %s\n" % " ".join(missing))
        return 1
    return 0


sys.exit(main())
