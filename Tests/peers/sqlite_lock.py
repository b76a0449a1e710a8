"""Holds a write lock on a SQLite database for a while, as another program would (a
backup tool, a second writer, an administrator's sqlite3 shell in a transaction).

    python3 sqlite_lock.py DB SECONDS

Prints "locked" once it holds the lock (BEGIN IMMEDIATE, which in WAL mode keeps every
other writer out and lets readers read), then "released" when it lets go.
"""
import sqlite3
import sys
import time

database, seconds = sys.argv[1], float(sys.argv[2])
connection = sqlite3.connect(database, timeout=60, isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(seconds)
print("releasing", flush=True)
connection.execute("ROLLBACK")
print("released", flush=True)
