#!/usr/bin/env python3
"""A hostile SMTP server for Salvo's fault tests: one misbehaviour per run (--mode).

Listens on 127.0.0.1 (port 0 unless --port), prints "PORT <n>" once it accepts
connections, and appends one JSON object per event to --events (JSON lines):
  {"event": "connect", "session": 1, "open": 1, "client": "127.0.0.1"}   the client's address
  {"event": "line", "session": 1, "text": "EHLO mail.shop.example"}   every line received
  {"event": "reply", "session": 1, "text": "250 2.1.0 OK"}             every reply line sent
  {"event": "auth", "session": 1, "success": false}
  {"event": "message", "session": 1, "rcpts": ["a@x.test"], "bytes": 4211}  content accepted
  {"event": "disconnect", "session": 1, "open": 0}
so a test asserts what the peer saw: how many connections, logins, commands, messages.
With --events-pipe FIFO each line goes to that FIFO too, as it happens, for a test that
waits for an event instead of reading the file again and again.

Modes (everything not named behaves as a plain, well-behaved ESMTP server with
PIPELINING and 8BITMIME):
  normal             the well-behaved server
  never-greet        accepts TCP, reads and records what arrives, never writes
  accept-no-read     accepts TCP, never reads and never writes
  drip               sends its greeting (three lines) one byte every --drip-interval seconds
  greet-421          greets "421 4.7.0 Try again later" and closes
  greet-554          greets "554 5.7.1 ..." and waits for QUIT (RFC 5321 3.1)
  greet-tss04        greets with Yahoo's "421 4.7.0 [TSS04] ..." and closes
  data-250           answers DATA with 250 instead of 354 (and takes what follows as commands)
  data-554           answers DATA with 554 5.5.1 (no valid recipients)
  extra-reply        answers MAIL with two 250 lines: one reply too many, shifting later
                     pipelined replies; recipients whose local part starts with bad- get
                     550 5.1.1, the rest 250
  missing-reply      never answers the first RCPT of a transaction (the others are answered)
  auth-535           offers AUTH PLAIN LOGIN and refuses every login with 535 5.7.8
  helo-504           Postfix's reject_non_fqdn_helo_hostname with smtpd_delay_reject: an
                     EHLO/HELO name without a dot is refused at RCPT with
                     "504 5.5.2 <name>: Helo command rejected: need fully-qualified hostname"
  ehlo-504           refuses EHLO with 504 5.5.2 and HELO with 504 5.5.2
  stall-after-mail   answers up to MAIL, then never answers again (keeps reading)
  rcpt-temp          answers every RCPT with 451 4.7.1 greylisted, try again later

Recipients whose local part starts with "bad-" get 550 5.1.1 in every mode that reaches
RCPT. Every loop is bounded: a session ends after --session-limit seconds whatever
happens, and the server after --lifetime seconds.
"""
import argparse
import asyncio
import base64
import json
import sys
import time

args = None
state = {"session": 0, "open": 0}


events_pipe = None


def record(event, **fields):
    fields["event"] = event
    line = json.dumps(fields) + "\n"
    with open(args.events, "a") as f:
        f.write(line)
    # The same line to the test as it happens, so it waits for the event, not polls.
    if events_pipe is not None:
        events_pipe.write(line)


class Session:
    def __init__(self, reader, writer):
        state["session"] += 1
        self.number = state["session"]
        self.reader = reader
        self.writer = writer
        self.helo = None
        self.rcpts = []
        self.mail = None
        self.stalled = False
        self.first_rcpt_done = False

    async def reply(self, *lines):
        for line in lines:
            record("reply", session=self.number, text=line)
            self.writer.write((line + "\r\n").encode())
        await self.writer.drain()

    async def readline(self):
        line = await self.reader.readline()
        if not line:
            return None
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        record("line", session=self.number, text=text[:300])
        return text

    async def run(self):
        mode = args.mode
        if mode == "accept-no-read":
            await asyncio.sleep(args.session_limit)
            return
        if mode == "never-greet":
            while await self.readline() is not None:
                pass
            return
        if mode == "drip":
            # Eight lines, 253 bytes: at one byte every 0.5 s the whole greeting takes
            # over two minutes, so a client held up for a minute on a loaded machine (a
            # full suite once kept one from hanging up for 44 s) still leaves before the
            # end, and one that never leaves sees it finish inside a session limit of
            # three minutes.
            greeting = (b"220-hostile.test ESMTP slowly\r\n" + b"220-hostile.test is in no hurry\r\n" * 6
                        + b"220 hostile.test ready\r\n")
            # The client's hang-up is read, not waited for: a write into its closed
            # socket need not fail (the transport drops it), and what it sent before
            # leaving (a QUIT) is recorded as any line is.
            hung_up = asyncio.Event()

            async def watch():
                while await self.readline() is not None:
                    pass
                hung_up.set()

            watcher = asyncio.ensure_future(watch())
            try:
                for byte in greeting:
                    if hung_up.is_set():
                        return
                    self.writer.write(bytes([byte]))
                    await self.writer.drain()
                    await asyncio.sleep(args.drip_interval)
            finally:
                watcher.cancel()
            record("reply", session=self.number, text=greeting.decode().rstrip("\r\n"))
            # Then behave, slowly: the client should long have gone.
        elif mode == "greet-421":
            await self.reply("421 4.7.0 Try again later")
            return
        elif mode == "greet-tss04":
            await self.reply("421 4.7.0 [TSS04] Messages from 127.0.0.1 temporarily deferred due to "
                             "unexpected volume or user complaints - 4.16.55.1; "
                             "see https://postmaster.yahooinc.com/error-codes")
            return
        elif mode == "greet-554":
            await self.reply("554 5.7.1 hostile.test: no SMTP service for you")
            while True:
                line = await self.readline()
                if line is None:
                    return
                if line.upper().startswith("QUIT"):
                    await self.reply("221 2.0.0 bye")
                    return
                await self.reply("503 5.5.1 no service")
        else:
            await self.reply("220 hostile.test ESMTP")
        await self.commands()

    async def commands(self):
        mode = args.mode
        while True:
            line = await self.readline()
            if line is None:
                return
            if self.stalled:
                continue
            verb = line.split(" ", 1)[0].upper()
            rest = line[len(verb):].strip()
            if verb == "EHLO":
                self.helo = rest
                if mode == "ehlo-504":
                    await self.reply("504 5.5.2 <%s>: Helo command rejected: need fully-qualified hostname" % rest)
                    continue
                lines = ["250-hostile.test", "250-PIPELINING", "250-8BITMIME"]
                if mode == "auth-535":
                    lines.append("250-AUTH PLAIN LOGIN")
                lines.append("250 SIZE 10485760")
                await self.reply(*lines)
            elif verb == "HELO":
                self.helo = rest
                if mode == "ehlo-504":
                    await self.reply("504 5.5.2 <%s>: Helo command rejected: need fully-qualified hostname" % rest)
                    continue
                await self.reply("250 hostile.test")
            elif verb == "AUTH":
                await self.auth(rest)
            elif verb == "MAIL":
                self.mail = rest
                self.rcpts = []
                self.first_rcpt_done = False
                if mode == "extra-reply":
                    await self.reply("250 2.1.0 OK", "250 2.1.0 OK")
                else:
                    await self.reply("250 2.1.0 OK")
                if mode == "stall-after-mail":
                    self.stalled = True
            elif verb == "RCPT":
                await self.rcpt(rest)
            elif verb == "DATA":
                if mode == "data-250":
                    await self.reply("250 2.0.0 OK")
                elif mode == "data-554" or not self.rcpts:
                    await self.reply("554 5.5.1 no valid recipients")
                else:
                    await self.reply("354 End data with <CR><LF>.<CR><LF>")
                    await self.content()
            elif verb == "RSET":
                self.mail = None
                self.rcpts = []
                await self.reply("250 2.0.0 OK")
            elif verb == "NOOP":
                await self.reply("250 2.0.0 OK")
            elif verb == "QUIT":
                await self.reply("221 2.0.0 bye")
                return
            else:
                await self.reply("502 5.5.2 command not recognised")

    async def auth(self, rest):
        parts = rest.split(" ")
        mechanism = parts[0].upper()
        if mechanism == "PLAIN" and len(parts) == 1:
            await self.reply("334 ")
            if await self.readline() is None:
                return
        elif mechanism == "LOGIN":
            if len(parts) == 1:
                await self.reply("334 " + base64.b64encode(b"Username:").decode())
                if await self.readline() is None:
                    return
            await self.reply("334 " + base64.b64encode(b"Password:").decode())
            if await self.readline() is None:
                return
        record("auth", session=self.number, success=False)
        await self.reply("535 5.7.8 Error: authentication failed: bad credentials")

    async def rcpt(self, rest):
        mode = args.mode
        address = rest.split(":", 1)[-1].strip().split(" ")[0].strip("<>")
        local = address.split("@")[0]
        if mode == "missing-reply" and not self.first_rcpt_done:
            self.first_rcpt_done = True
            return
        if mode == "helo-504" and (self.helo is None or "." not in self.helo):
            await self.reply("504 5.5.2 <%s>: Helo command rejected: need fully-qualified hostname" % self.helo)
            return
        if mode == "rcpt-temp":
            await self.reply("451 4.7.1 <%s>: Recipient address rejected: greylisted, try again later" % address)
            return
        if local.startswith("bad-"):
            await self.reply("550 5.1.1 <%s>: Recipient address rejected: User unknown" % address)
            return
        self.rcpts.append(address)
        await self.reply("250 2.1.5 OK")

    async def content(self):
        size = 0
        while True:
            line = await self.reader.readline()
            if not line:
                return
            if line in (b".\r\n", b".\n"):
                break
            size += len(line)
        record("message", session=self.number, rcpts=self.rcpts, bytes=size)
        await self.reply("250 2.0.0 Ok: queued as H%d" % self.number)
        self.mail = None
        self.rcpts = []


async def serve(reader, writer):
    session = Session(reader, writer)
    state["open"] += 1
    peer = writer.get_extra_info("peername")
    record("connect", session=session.number, open=state["open"], client=peer[0] if peer else None)
    try:
        await asyncio.wait_for(session.run(), timeout=args.session_limit)
    except (asyncio.TimeoutError, ConnectionError, OSError):
        pass
    finally:
        state["open"] -= 1
        record("disconnect", session=session.number, open=state["open"])
        try:
            writer.close()
        except Exception:
            pass


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", args.port)
    port = server.sockets[0].getsockname()[1]
    print("PORT %d" % port, flush=True)
    async with server:
        await asyncio.sleep(args.lifetime)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="normal")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--events", required=True)
    parser.add_argument("--events-pipe", help="a FIFO the test reads: each event's line is written there too")
    parser.add_argument("--drip-interval", type=float, default=1.0)
    parser.add_argument("--session-limit", type=float, default=120.0)
    parser.add_argument("--lifetime", type=float, default=900.0)
    args = parser.parse_args()
    open(args.events, "a").close()
    if args.events_pipe:
        events_pipe = open(args.events_pipe, "w", buffering=1)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
