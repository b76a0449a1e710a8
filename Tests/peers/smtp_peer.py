#!/usr/bin/env python3
"""A programmable SMTP server for Salvo's tests, built on aiosmtpd.

Listens on 127.0.0.1 (port 0 unless --port), prints "PORT <n>" once it accepts
connections, and records what it received under --dump-dir:
  events.jsonl         one JSON object per event (connect, ehlo, starttls, auth, mail,
                       rcpt, data, rset, quit), with a session number and the time it
                       arrived ("at", Unix seconds by this server's clock); with
                       --events-pipe FIFO each line goes to that FIFO too, as it happens
  message-<n>.json     one file per accepted message: mail_from, mail_options,
                       rcpt_tos, and data (base64 of the bytes after un-dot-stuffing)

Recipients decide their fate by local part:
  temp-*   -> 451 4.2.0 mailbox busy, try later
  perm-*   -> 550 5.1.1 no such user
  close-*  -> 421 4.3.2 service shutting down, then the connection is closed
everything else is accepted.

--busy-greetings N greets the first N sessions with 421 and closes them (a primary MX
that is too busy, so the client must go on to the backup).
"""
import argparse
import asyncio
import base64
import json
import os
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

args = None
counter = {"session": 0, "message": 0}


events_pipe = None


def record(event, **fields):
    fields["event"] = event
    fields["at"] = time.time()
    line = json.dumps(fields) + "\n"
    with open(os.path.join(args.dump_dir, "events.jsonl"), "a") as f:
        f.write(line)
    # The same line to the test as it happens, so it waits for the event, not polls.
    if events_pipe is not None:
        events_pipe.write(line)


class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        record("ehlo", session=server.number, name=hostname, tls=server.transport.get_extra_info("sslcontext") is not None or server._original_transport is not None or args.implicit_tls)
        if args.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        record("helo", session=server.number, name=hostname)
        return "250 {}".format(server.hostname)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        record("mail", session=server.number, address=address, options=mail_options)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        record("rcpt", session=server.number, address=address)
        local = address.split("@")[0]
        if local.startswith("temp-"):
            return "451 4.2.0 mailbox busy, try later"
        if local.startswith("perm-"):
            return "550 5.1.1 no such user"
        if local.startswith("close-"):
            server.close_after_reply = True
            return "421 4.3.2 service shutting down"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_RSET(self, server, session, envelope):
        record("rset", session=server.number)
        return "250 2.0.0 OK"

    async def handle_DATA(self, server, session, envelope):
        counter["message"] += 1
        number = counter["message"]
        with open(os.path.join(args.dump_dir, "message-%d.json" % number), "w") as f:
            json.dump({
                "mail_from": envelope.mail_from,
                "mail_options": envelope.mail_options,
                "rcpt_tos": envelope.rcpt_tos,
                "data": base64.b64encode(envelope.original_content).decode(),
                "session": server.number,
                "authenticated": session.authenticated,
            }, f)
        record("data", session=server.number, message=number)
        return "250 2.0.0 queued as M%d" % number

    async def handle_QUIT(self, server, session, envelope):
        record("quit", session=server.number)
        return "221 2.0.0 bye"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == args.user and auth_data.password.decode() == args.password)
    record("auth", session=server.number, mechanism=mechanism, success=ok,
           login=auth_data.login.decode() if isinstance(auth_data, LoginPassword) else None)
    return AuthResult(success=ok, handled=False)


class Server(SMTP):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        counter["session"] += 1
        counter["open"] = counter.get("open", 0) + 1
        self.number = counter["session"]
        self.close_after_reply = False
        # `open` counts the sessions open at once, so tests can check connection limits.
        record("connect", session=self.number, open=counter["open"])

    async def _handle_client(self):
        if self.number <= args.busy_greetings:
            record("busy", session=self.number)
            await self.push("421 4.3.2 too busy, try another MX")
            self.transport.close()
            return
        await super()._handle_client()

    def connection_lost(self, exc):
        counter["open"] -= 1
        record("disconnect", session=self.number, open=counter["open"])
        super().connection_lost(exc)

    async def push(self, status):
        await super().push(status)
        if self.close_after_reply:
            self.close_after_reply = False
            self.transport.close()

    async def smtp_STARTTLS(self, arg):
        record("starttls", session=self.number)
        if args.starttls_refuse:
            await self.push("454 4.7.0 TLS not available right now")
            return
        if args.starttls_break:
            # Agree, then answer the ClientHello with something that is not TLS.
            await self.push("220 2.0.0 Ready to start TLS")
            await asyncio.sleep(0.2)
            self._writer.write(b"this is not a TLS record\r\n")
            await self._writer.drain()
            await asyncio.sleep(0.5)
            self.transport.close()
            return
        if args.inject_after_starttls:
            # The attack of CVE-2011-0411 seen from the other side: plaintext that a
            # naive client would read as if it had come over TLS.
            self._writer.write(b"220 Ready to start TLS\r\n250-injected\r\n250 2.0.0 injected\r\n")
            await self._writer.drain()
            await asyncio.sleep(0.5)
            self.transport.close()
            return
        await super().smtp_STARTTLS(arg)


async def main():
    tls_context = None
    if args.cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)
    excluded = [m for m in ("PLAIN", "LOGIN") if args.auth_mechanisms and m not in args.auth_mechanisms.split(",")]

    def factory():
        return Server(
            Handler(),
            hostname="peer.test",
            tls_context=None if args.implicit_tls else tls_context,
            authenticator=authenticator if args.user else None,
            auth_require_tls=not args.allow_plaintext_auth,
            auth_exclude_mechanism=excluded,
            enable_SMTPUTF8=True,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, host="127.0.0.1", port=args.port,
        ssl=tls_context if args.implicit_tls else None)
    port = server.sockets[0].getsockname()[1]
    print("PORT %d" % port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dump-dir", required=True)
    parser.add_argument("--events-pipe", help="a FIFO the test reads: each event's line is written there too")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--pipelining", action="store_true")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--auth-mechanisms", help="comma-separated subset of PLAIN,LOGIN")
    parser.add_argument("--allow-plaintext-auth", action="store_true")
    parser.add_argument("--starttls-refuse", action="store_true")
    parser.add_argument("--inject-after-starttls", action="store_true")
    parser.add_argument("--starttls-break", action="store_true")
    parser.add_argument("--busy-greetings", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.dump_dir, exist_ok=True)
    if args.events_pipe:
        events_pipe = open(args.events_pipe, "w", buffering=1)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
