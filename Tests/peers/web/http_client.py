#!/usr/bin/env python3
"""A real HTTP client for Salvo's web tests: Python's http.client against 127.0.0.1.

Reads one JSON job on stdin and writes one JSON answer on stdout.

  {"port": P, "requests": [{"method", "path", "headers": {}, "body": "text"}]}
      -> [{"status", "reason", "headers": {lower-case name: value}, "body"}], one
         connection per request.
  {"port": P, "burst": {"paths": [...], "method": "POST", "headers": {}, "body": "text",
                        "concurrency": 20}}
      -> {"statuses": {"200": n, ...}, "errors": ["..."], "latencies_ms": [...]}: each
         of `concurrency` threads keeps one connection and takes paths from a queue.
  {"port": P, "raw": {"send": "text", "then_wait": seconds}}
      -> {"reply": "what came back", "closed": bool}: sends bytes as written (a slow or
         oversized request), then reads until the server closes or the wait ends.
"""
import http.client
import json
import queue
import socket
import sys
import threading
import time


def one(port, spec):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = spec.get("body")
        connection.request(spec.get("method", "GET"), spec["path"],
                           body=body.encode("utf-8") if body is not None else None,
                           headers=spec.get("headers", {}))
        response = connection.getresponse()
        return {
            "status": response.status,
            "reason": response.reason,
            "headers": {name.lower(): value for name, value in response.getheaders()},
            "body": response.read().decode("utf-8", "replace"),
        }
    finally:
        connection.close()


def burst(port, job):
    paths = queue.Queue()
    for path in job["paths"]:
        paths.put(path)
    lock = threading.Lock()
    statuses, errors, latencies = {}, [], []
    body = job.get("body", "").encode("utf-8")
    headers = job.get("headers", {})
    method = job.get("method", "POST")

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            try:
                path = paths.get_nowait()
            except queue.Empty:
                break
            started = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = str(response.status)
                if response.getheader("connection", "").lower() == "close":
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            except Exception as error:  # noqa: BLE001 - every failure is reported
                status = None
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                with lock:
                    errors.append(f"{path[:3]}…: {type(error).__name__}: {error}")
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if status:
                    statuses[status] = statuses.get(status, 0) + 1
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(job.get("concurrency", 20))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"statuses": statuses, "errors": errors, "latencies_ms": latencies}


def raw(port, job):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(job["send"].encode("utf-8"))
    deadline = time.monotonic() + job.get("then_wait", 10)
    received, closed = b"", False
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        received += chunk
    sock.close()
    return {"reply": received.decode("utf-8", "replace"), "closed": closed}


def main():
    job = json.load(sys.stdin)
    port = job["port"]
    if "requests" in job:
        answer = [one(port, spec) for spec in job["requests"]]
    elif "burst" in job:
        answer = burst(port, job["burst"])
    else:
        answer = raw(port, job["raw"])
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
