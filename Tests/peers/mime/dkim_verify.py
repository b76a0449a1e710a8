#!/usr/bin/env python3
"""Verifies DKIM signatures with dkimpy, the independent verifier Salvo's tests use.
The public keys come from the request instead of DNS, through dkimpy's `dnsfunc`.

stdin: JSON {"records": {"s1._domainkey.shop.example": "v=DKIM1; k=rsa; p=..."},
             "messages": [base64 of the raw message, ...]}
stdout: JSON list of {"ok": bool, "log": "..."} per message."""
import base64
import io
import json
import logging
import sys

import dkim


def main():
    request = json.load(sys.stdin)
    records = {name.lower().rstrip("."): value for name, value in request["records"].items()}

    def dnsfunc(name, timeout=5):
        key = name.decode("ascii").lower().rstrip(".")
        value = records.get(key)
        return value.encode("ascii") if value is not None else None

    results = []
    for encoded in request["messages"]:
        raw = base64.b64decode(encoded)
        stream = io.StringIO()
        logger = logging.getLogger("dkim-check")
        logger.handlers = [logging.StreamHandler(stream)]
        logger.setLevel(logging.DEBUG)
        # Every DKIM-Signature must verify (a dual-signed message carries two).
        count = sum(1 for line in raw.split(b"\r\n") if line.lower().startswith(b"dkim-signature:"))
        ok = count > 0
        try:
            verifier = dkim.DKIM(raw, logger=logger)
            for index in range(count):
                ok = verifier.verify(idx=index, dnsfunc=dnsfunc) and ok
        except Exception as error:  # report, don't crash the batch
            ok = False
            stream.write("exception: %r" % (error,))
        results.append({"ok": bool(ok), "signatures": count, "log": stream.getvalue()[-2000:]})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
