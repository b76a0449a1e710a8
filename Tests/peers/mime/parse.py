#!/usr/bin/env python3
"""Parses messages with Python's `email` package, the independent reader Salvo's
tests compare against.

stdin: JSON {"messages": [base64 of the raw message, ...]}
stdout: JSON list, one object per message: decoded headers, defects, the MIME tree
(content types), each leaf's decoded content, and line facts (longest line, bare
CR/LF)."""
import base64
import email
import email.header
import email.policy
import hashlib
import json
import sys


def leaf(part):
    info = {
        "content_type": part.get_content_type(),
        "charset": part.get_content_charset(),
        "transfer_encoding": part.get("Content-Transfer-Encoding"),
        "filename": part.get_filename(),
        "disposition": part.get_content_disposition(),
    }
    if part.get_content_maintype() == "text":
        # Line endings as a reader sees them: "\n".
        info["text"] = part.get_content().replace("\r\n", "\n")
    else:
        payload = part.get_payload(decode=True) or b""
        info["sha256"] = hashlib.sha256(payload).hexdigest()
        info["size"] = len(payload)
    return info


def tree(part):
    if part.is_multipart():
        return {"content_type": part.get_content_type(), "parts": [tree(p) for p in part.iter_parts()]}
    return {"content_type": part.get_content_type()}


def examine(raw):
    lines = raw.split(b"\r\n")
    bare = any(b"\r" in line or b"\n" in line for line in lines)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    headers = []
    for name, value in msg.items():
        headers.append([name, str(value)])
    leaves = [leaf(p) for p in msg.walk() if not p.is_multipart()]
    defects = [type(d).__name__ for p in msg.walk() for d in p.defects]
    for name, value in msg.items():
        defects += [type(d).__name__ for d in getattr(value, "defects", [])]
    to = msg["To"]
    frm = msg["From"]
    addresses = {}
    for key, header in (("to", to), ("from", frm)):
        if header is not None:
            addresses[key] = [[a.display_name, a.addr_spec] for a in header.addresses]
    # The RFC 2047 reading of To and Subject through the legacy decoder, which joins
    # adjacent encoded-words as RFC 2047 §6.2 says. (The modern address parser of
    # Python 3.11 puts a space between adjacent encoded-words in a display name, even
    # when reading back what Python itself wrote.)
    legacy = email.message_from_bytes(raw, policy=email.policy.compat32)
    rfc2047 = {}
    for name in ("To", "From", "Subject"):
        value = legacy.get(name)
        if value is not None:
            rfc2047[name.lower()] = str(email.header.make_header(email.header.decode_header(value)))
    return {
        "rfc2047": rfc2047,
        "headers": headers,
        "header_names": [name for name, _ in msg.items()],
        "addresses": addresses,
        "tree": tree(msg),
        "leaves": leaves,
        "defects": defects,
        "max_line": max(len(line) for line in lines),
        "bare_line_break": bare,
        "ends_with_crlf": raw.endswith(b"\r\n"),
    }


def main():
    request = json.load(sys.stdin)
    results = [examine(base64.b64decode(m)) for m in request["messages"]]
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
