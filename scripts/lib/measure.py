#!/usr/bin/env python3
"""Runs a command and prints its wall time, CPU time and peak RSS as one JSON line.

Usage: measure.py LABEL -- COMMAND [ARGS...]
The child's peak RSS comes from wait4's rusage, so it is the command's own, not ours.
"""
import json
import os
import sys
import time

def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: measure.py LABEL -- COMMAND [ARGS...]")
    label, command = sys.argv[1], sys.argv[3:]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    print(json.dumps({"label": label, "seconds": round(elapsed, 3),
                      "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
                      "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "exit": code}))
    sys.exit(0 if code == 0 else 1)

main()
