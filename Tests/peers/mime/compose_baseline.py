#!/usr/bin/env python3
"""The compose benchmark's baseline: the same campaign message (subject, text and HTML
of about 4 KB, merge fields, List-Unsubscribe, trace headers) built with Python's
`email` package and signed with dkimpy, relaxed/relaxed, one message at a time.

usage: compose_baseline.py COUNT none|ed25519|rsa"""
import base64
import hashlib
import hmac
import sys
import time
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
import nacl.signing

PARAGRAPH = ("Our spring collection has arrived, with fresh produce from farms near {city} "
             "and across the region. ")


def key_for(algorithm):
    if algorithm == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption()), b"rsa-sha256"
    if algorithm == "ed25519":
        return base64.b64encode(bytes(nacl.signing.SigningKey.generate())), b"ed25519-sha256"
    return None, None


def main():
    count = int(sys.argv[1])
    algorithm = sys.argv[2]
    key, signature_algorithm = key_for(algorithm)
    secret = b"bench-secret-bench-secret"
    recipients = [
        {"email": "customer%d@example%d.test" % (i, i % 50), "first_name": "Zoë" if i % 3 == 0 else "Ann",
         "last_name": "Okafor", "city": "Lagos", "points": str(i * 7)}
        for i in range(1000)
    ]
    html_template = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Spring deals</title></head><body>\n"
                     "<h1>Hello {first_name},</h1>\n" + ("<p>" + PARAGRAPH * 2 + "</p>\n") * 8 +
                     "<p>You have <strong>{points}</strong> points. <a href=\"https://shop.example/deals?c=spring-sale\">See the deals</a></p>\n"
                     "<p><a href=\"{unsubscribe_url}\">Unsubscribe</a></p></body></html>")
    text_template = ("Hello {first_name},\n\n" + (PARAGRAPH + "\n\n") * 8 +
                     "You have {points} points. See the deals: https://shop.example/deals?c=spring-sale\n\n"
                     "Unsubscribe: {unsubscribe_url}\n")
    include = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
               b"list-unsubscribe", b"list-unsubscribe-post", b"list-id", b"feedback-id"]
    total = 0
    start = time.perf_counter()
    for n in range(count):
        r = recipients[n % len(recipients)]
        mac = hmac.new(secret, ("spring-sale\0" + r["email"]).encode(), hashlib.sha256).digest()[:16]
        token = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        values = dict(r, unsubscribe_url="https://shop.example/u/" + token)
        escaped = {k: v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
                   for k, v in values.items()}
        msg = EmailMessage(policy=SMTP)
        msg["From"] = Address("Shop", "news", "shop.example")
        msg["To"] = Address(r["first_name"] + " " + r["last_name"], addr_spec=r["email"])
        msg["Subject"] = "%s, spring deals for you in %s" % (r["first_name"], r["city"])
        msg["Date"] = format_datetime(datetime.now(timezone.utc))
        msg["Message-ID"] = make_msgid(domain="shop.example")
        msg["List-Id"] = "customers <customers.shop.example>"
        msg["List-Unsubscribe"] = "<%s>, <mailto:unsubscribe@shop.example?subject=unsubscribe>" % values["unsubscribe_url"]
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["X-Salvo-Campaign"] = "campaign=spring-sale; recipient=%d" % (n % len(recipients))
        msg["Feedback-ID"] = "spring-sale:customers.shop.example:salvo"
        msg.set_content(text_template.format(**values))
        msg.add_alternative(html_template.format(**escaped), subtype="html")
        raw = msg.as_bytes()
        if key is not None:
            signature = dkim.sign(raw, b"s1", b"shop.example", key, include_headers=include,
                                  canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=signature_algorithm)
            raw = signature + raw
        total += len(raw)
    seconds = time.perf_counter() - start
    print("baseline %s: %d messages (%d bytes each) in %.2f s = %d messages/s on one core (Python email + dkimpy)"
          % (algorithm, count, total // count, seconds, count / seconds))


if __name__ == "__main__":
    main()
