"""Holds a write lock on a SQLite database for a while, as another program would (a
backup tool, a second writer, an administrator's sqlite3 shell in a transaction).

    python3 sqlite_lock.py DB SECONDS [DUMP_DIR]

Prints "locked" once it holds the lock (BEGIN IMMEDIATE, which in WAL mode keeps every
other writer out and lets readers read), then "released" when it lets go. With DUMP_DIR
(an smtp-sink dump folder) it also prints, at the moment it took the lock and at the
moment before it lets go, how many messages the sink had received by then:
"delivered-at-lock N" and "delivered-at-release N", so a test counts what went out while
the lock was held, and nothing after.
"""
import os
import sqlite3
import sys
import time

database, seconds = sys.argv[1], float(sys.argv[2])
dump = sys.argv[3] if len(sys.argv) > 3 else None


def delivered():
    count = 0
    for name in os.listdir(dump):
        try:
            with open(os.path.join(dump, name), "rb") as f:
                if b"\nReceived: " in f.read():
                    count += 1
        except OSError:
            pass
    return count


connection = sqlite3.connect(database, timeout=60, isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
if dump:
    print("delivered-at-lock %d" % delivered(), flush=True)
print("locked", flush=True)
time.sleep(seconds)
if dump:
    print("delivered-at-release %d" % delivered(), flush=True)
print("releasing", flush=True)
connection.execute("ROLLBACK")
print("released", flush=True)
