#!/usr/bin/env python3
"""A fake chorus node for CLI tests: the jobs API (POST /v1/jobs, GET
/v1/jobs[/ID], POST /v1/jobs/ID/cancel) with canned, stateful behaviour.

A job stays pending until the first GET with ?wait_ms=, which finishes it:
kind "echo" succeeds with the payload as its result, "fail" fails with a
reason and a worker error, "hang" never finishes, "badresult" succeeds with a
result that is not base64, "bad" is refused with 400, "full" with 429 (the
node's queue is full).  wait_ms over 60000 is
a 400, as on the real node, so the CLI's bound is checked too.

usage: fake-node.py PORT_FILE   (listens on a free loopback port, writes it there)
"""
import base64
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

JOBS = {}  # id -> record
ORDER = []  # ids, oldest first
LOCK = threading.Lock()
PAYLOAD_MAX = 32 * 1024


def now_ms():
    return int(time.time() * 1000)


def new_record(kind, payload, timeout_ms, reward):
    return {
        "id": uuid.uuid4().hex, "kind": kind, "state": "pending", "final": False,
        "reason": "", "reward": reward, "timeout_ms": timeout_ms,
        "created_ms": now_ms() - 1500, "finished_ms": 0, "payload_size": len(payload),
        "worker": "", "worker_name": "", "attempts": [], "_payload": payload,
    }


def finish(job):
    """What one wait does to a pending job, by its kind."""
    if job["final"] or job["kind"] == "hang":
        return
    worker = "ab" * 32
    job.update(worker=worker, worker_name="w1", finished_ms=now_ms(), final=True)
    if job["kind"] == "fail":
        job.update(state="failed", reason="worker reported an error", error="boom\nbang")
        job["attempts"] = [
            {"worker": "cd" * 32, "worker_name": "w2", "outcome": "refused", "ms": 3},
            {"worker": worker, "worker_name": "w1", "outcome": "failed", "ms": 12}]
        return
    result = job["_payload"]
    job.update(state="succeeded", result_size=len(result), result_hash="00" * 32)
    job["result_b64"] = base64.b64encode(result).decode()
    if job["kind"] == "badresult":
        job["result_b64"] = "!!!notbase64"
    job["attempts"] = [{"worker": worker, "worker_name": "w1", "outcome": "ok", "ms": 12}]


def public(job):
    return {k: v for k, v in job.items() if not k.startswith("_")}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("fake-node: " + (fmt % args) + "\n")

    def answer(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        parts = url.path.strip("/").split("/")
        with LOCK:
            if parts == ["v1", "jobs"]:
                limit = int(query.get("limit", ["20"])[0])
                ids = list(reversed(ORDER))[:limit]
                return self.answer(200, {"jobs": [public(JOBS[i]) for i in ids]})
            if len(parts) != 3 or parts[:2] != ["v1", "jobs"] or parts[2] not in JOBS:
                return self.answer(404, {"error": "no such job"})
            job = JOBS[parts[2]]
            if "wait_ms" in query:
                wait_ms = int(query["wait_ms"][0])
                if wait_ms < 0 or wait_ms > 60000:
                    return self.answer(400, {"error": "wait_ms out of range"})
                finish(job)
            return self.answer(200, public(job))

    def do_POST(self):
        parts = urlparse(self.path).path.strip("/").split("/")
        raw = self.body()
        with LOCK:
            if parts == ["v1", "jobs"]:
                return self.submit(raw)
            if len(parts) == 4 and parts[:2] == ["v1", "jobs"] and parts[3] == "cancel":
                job = JOBS.get(parts[2])
                if job is None:
                    return self.answer(404, {"error": "no such job"})
                if job["final"]:
                    return self.answer(409, {"error": "job already finished"})
                job.update(state="cancelled", final=True, reason="cancelled by a user",
                           finished_ms=now_ms())
                return self.answer(200, public(job))
            return self.answer(404, {"error": "not found"})

    def submit(self, raw):
        try:
            req = json.loads(raw)
            payload = base64.b64decode(req["payload_b64"], validate=True)
            kind = req["kind"]
        except (ValueError, KeyError, TypeError):
            return self.answer(400, {"error": "bad job request"})
        if kind == "bad":
            return self.answer(400, {"error": "unknown kind 'bad'"})
        if kind == "full":
            return self.answer(429, {"error": "queue full: 4096 of this node's jobs wait"})
        if len(payload) > PAYLOAD_MAX:
            return self.answer(413, {"error": "payload too large"})
        job = new_record(kind, payload, req.get("timeout_ms", 30000), req.get("reward", 1))
        JOBS[job["id"]] = job
        ORDER.append(job["id"])
        return self.answer(202, public(job))


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, sys.argv[1])  # the test never reads half a port
    server.serve_forever()


if __name__ == "__main__":
    main()
