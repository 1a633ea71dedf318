#!/usr/bin/env python3
"""Submits many jobs to a chorus node, and measures what the queue did with them.

Used by the queue's e2e tests (tests/e2e/e2e-queue*.sh) and bench/queue-bench.sh.

  queue-jobs.py submit PORT TOKEN KIND PAYLOAD N OUT [PRIORITY]
      POSTs N jobs over one keep-alive connection, as fast as the node answers;
      appends "ID PAYLOAD" for each accepted job (202) and "refused CODE ERROR"
      for each refusal to OUT, one line each.  "{n}" in PAYLOAD is the job's
      number (1..N).  Stops at N, or 60 s.
  queue-jobs.py stream PORT TOKEN KIND REWARD CONNS SECONDS OUT STOP
      Keeps CONNS jobs in flight (one keep-alive connection each, POST
      /v1/jobs?wait_ms=30000: answered once the job is final) until SECONDS
      pass or the file STOP exists; appends "ok ID" for each job that
      succeeded and "failed WHAT" for anything else (a refusal, a job that
      ended otherwise, a broken connection: it is opened again) to OUT.
      A job's payload is "CONN-K", unique in the stream.
  queue-jobs.py states PORT FILE
      GETs /v1/jobs/ID for every ID (the first word of each line of FILE) and
      prints how many are in each state, as JSON ("missing": not found).
  queue-jobs.py stats PORT...
      Reads every client's jobs (GET /v1/jobs?limit=1000) and prints, as JSON:
      the jobs and how they ended, the makespan (first submit to last end), each
      client's share of the slot-time used while every client had jobs waiting
      (from the last client's first submit to the first client's last start),
      and the slot-time used.
  queue-jobs.py latency LOG...
      Queue-to-start latency from workers' logs (info: event=work-done as a slot
      frees, event=run as a job starts): on each worker, a start takes the
      earliest freed slot not taken yet; prints p50, p99, max and the count,
      and the slot-time the works took (their ms=).
A job's run is [finished_ms - the last attempt's ms, finished_ms], on the
client's clock (the attempt starts when the client dispatches, late bound: when
a worker's slot is free).  (Latency is from the workers' own clocks: the
client's view adds the receipt's and the dispatch's trips.)
"""
import base64
import http.client
import json
import sys
import time


def submit(port, token, kind, payload, n, out, priority=None):
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    deadline = time.time() + 60
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    with open(out, "a") as f:
        for k in range(1, n + 1):
            if time.time() > deadline:
                break
            text = payload.replace("{n}", str(k))
            body = {"kind": kind, "payload_b64": base64.b64encode(text.encode()).decode()}
            if priority is not None:
                body["priority"] = int(priority)
            conn.request("POST", "/v1/jobs", json.dumps(body), headers)
            r = conn.getresponse()
            doc = r.read()
            if r.status == 202:
                f.write("%s %s\n" % (json.loads(doc)["id"], text))
            else:
                f.write("refused %d %s\n" % (r.status, json.loads(doc).get("error", "")))
            f.flush()


def stream(port, token, kind, reward, conns, seconds, out, stop):
    import os
    import threading
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    deadline = time.time() + seconds
    lock = threading.Lock()
    f = open(out, "a")

    def note(line):
        with lock:
            f.write(line + "\n")
            f.flush()

    def one(c):
        conn = None
        k = 0
        while time.time() < deadline and not os.path.exists(stop):
            k += 1
            text = "%d-%d" % (c, k)
            body = {"kind": kind, "reward": reward,
                    "payload_b64": base64.b64encode(text.encode()).decode()}
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=40)
                conn.request("POST", "/v1/jobs?wait_ms=30000", json.dumps(body), headers)
                r = conn.getresponse()
                doc = json.loads(r.read() or b"{}")
            except (OSError, http.client.HTTPException, ValueError) as e:
                note("failed %s %s" % (text, type(e).__name__))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
                continue
            if r.status == 200 and doc.get("state") == "succeeded":
                note("ok %s" % doc["id"])
            else:
                note("failed %s %d %s" % (text, r.status, doc.get("state", doc.get("error", ""))))

    threads = [threading.Thread(target=one, args=(c,)) for c in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    f.close()


def states(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    count = {}
    for line in open(path):
        if not line.strip() or line.startswith("refused"):
            continue
        conn.request("GET", "/v1/jobs/" + line.split()[0])
        r = conn.getresponse()
        doc = r.read()
        st = json.loads(doc)["state"] if r.status == 200 else "missing"
        count[st] = count.get(st, 0) + 1
    return count


def jobs_of(port):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    conn.request("GET", "/v1/jobs?limit=1000")
    return json.loads(conn.getresponse().read())["jobs"]


def pct(v, p):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]


def stats(ports):
    runs = []  # (client, worker, start_ms, end_ms, created_ms)
    states = {}
    for c, port in enumerate(ports):
        for j in jobs_of(port):
            states[j["state"]] = states.get(j["state"], 0) + 1
            if j["state"] != "succeeded" or not j["attempts"]:
                continue
            end = j["finished_ms"]
            runs.append((c, j["worker_name"], end - j["attempts"][-1]["ms"], end, j["created_ms"]))
    if not runs:
        return {"states": states}
    t0 = min(r[4] for r in runs)
    t1 = max(r[3] for r in runs)
    clients = sorted(set(r[0] for r in runs))
    # While every client had jobs waiting: from the last client's first submit to
    # the first client's last start.
    window_start = max(min(r[4] for r in runs if r[0] == c) for c in clients)
    window_end = min(max(r[2] for r in runs if r[0] == c) for c in clients)
    held = [0.0] * len(ports)
    for c, _, s, e, _ in runs:
        held[c] += max(0.0, min(e, window_end) - max(s, window_start))
    total = sum(held) or 1.0
    busy = sum(e - s for _, _, s, e, _ in runs)
    return {
        "states": states,
        "jobs": len(runs),
        "makespan_s": (t1 - t0) / 1000.0,
        "busy_slot_s": busy / 1000.0,
        "window_s": (window_end - window_start) / 1000.0,
        "share": [h / total for h in held],
    }


def log_ms(line):
    # 2026-12-07T12:58:24.514Z INFO ...
    t = line.split(" ", 1)[0]
    hms = t[11:23]
    return ((int(hms[0:2]) * 60 + int(hms[3:5])) * 60 + float(hms[6:])) * 1000.0


def latency(logs):
    lat = []
    busy_ms = 0
    for path in logs:
        freed = []
        for line in open(path, errors="replace"):
            if " event=work-done " in line:
                freed.append(log_ms(line))
                busy_ms += int(line.split(" ms=", 1)[1].split()[0])
            elif " event=run " in line and freed:
                lat.append(log_ms(line) - freed.pop(0))
    return {"p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99), "max_ms": max(lat or [0]),
            "n": len(lat), "busy_slot_s": busy_ms / 1000.0}


def main(argv):
    if len(argv) >= 8 and argv[1] == "submit":
        submit(argv[2], argv[3], argv[4], argv[5], int(argv[6]), argv[7],
               argv[8] if len(argv) > 8 else None)
    elif len(argv) == 10 and argv[1] == "stream":
        stream(argv[2], argv[3], argv[4], int(argv[5]), int(argv[6]), float(argv[7]),
               argv[8], argv[9])
    elif len(argv) == 4 and argv[1] == "states":
        print(json.dumps(states(argv[2], argv[3]), sort_keys=True))
    elif len(argv) >= 3 and argv[1] == "latency":
        print(json.dumps(latency(argv[2:])))
    elif len(argv) >= 3 and argv[1] == "stats":
        print(json.dumps(stats(argv[2:])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
