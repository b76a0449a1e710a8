#!/usr/bin/env python3
"""Runs a command and prints its wall time, CPU time and peak RSS as one JSON line.

Usage: measure.py LABEL [--copies N] -- COMMAND [ARGS...]
The child's peak RSS comes from wait4's rusage, so it is the command's own, not ours.
With --copies, N copies run at once: the wall time is from the first start to the last
end, the CPU time is theirs added up, the peak RSS the largest, and the exit status the
first that is not 0.
"""
import json
import os
import sys
import time

def main():
    arguments = sys.argv[2:]
    copies = 1
    if arguments[:1] == ["--copies"] and len(arguments) > 1:
        copies, arguments = int(arguments[1]), arguments[2:]
    if len(arguments) < 2 or arguments[0] != "--" or copies < 1:
        sys.exit("usage: measure.py LABEL [--copies N] -- COMMAND [ARGS...]")
    label, command = sys.argv[1], arguments[1:]
    start = time.monotonic()
    pids = []
    for _ in range(copies):
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            try:
                os.execvp(command[0], command)
            finally:
                os._exit(127)
        pids.append(pid)
    cpu, rss, code = 0.0, 0.0, 0
    for pid in pids:
        _, status, usage = os.wait4(pid, 0)
        cpu += usage.ru_utime + usage.ru_stime
        rss = max(rss, usage.ru_maxrss / 1024)
        code = code or os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - start
    print(json.dumps({"label": label, "seconds": round(elapsed, 3), "cpu_seconds": round(cpu, 3),
                      "peak_rss_mb": round(rss, 1), "exit": code}))
    sys.exit(0 if code == 0 else 1)

main()
