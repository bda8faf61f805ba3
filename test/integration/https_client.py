#!/usr/bin/env python3
"""A TLS client for the HTTPS integration tests (https_test.cc), on Python's ssl module.

Each mode prints one JSON object on stdout. Every socket has a timeout, so a stuck server fails
the test instead of hanging it.

  https_client.py MODE PORT CAFILE [options]
"""
import argparse
import json
import os
import signal
import socket
import ssl
import sys
import time

TIMEOUT = 10.0
REQUEST = b"GET /msg_server HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def context(cafile, version=None):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["http/1.1"])
    if version:
        if version in ("1.0", "1.1"):
            # Old versions are offered only at the lowest security level.
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = VERSIONS[version]
        ctx.maximum_version = VERSIONS[version]
    return ctx


def connect(args, ctx, session=None):
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=TIMEOUT)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session)


def read_response(conn, buf):
    """Reads one HTTP response; returns (status, body, rest of buf)."""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            raise EOFError("closed before a response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise EOFError("closed inside a response body")
        rest += chunk
    return status, rest[:length].decode(), rest[length:]


def cert_serial(conn):
    der = conn.getpeercert(binary_form=True)
    import hashlib
    return hashlib.sha256(der).hexdigest()


def mode_get(args):
    try:
        with connect(args, context(args.cafile, args.version)) as conn:
            conn.sendall(REQUEST)
            status, body, _ = read_response(conn, b"")
            return {"ok": True, "version": conn.version(), "alpn": conn.selected_alpn_protocol(),
                    "status": status, "body": json.loads(body)}
    except (ssl.SSLError, OSError, EOFError) as e:
        return {"ok": False, "error": str(e)}


def mode_keepalive(args):
    """Sequential requests on one connection, then a pipelined burst on it."""
    with connect(args, context(args.cafile, args.version)) as conn:
        statuses = []
        buf = b""
        for _ in range(args.count):
            conn.sendall(REQUEST)
            status, _, buf = read_response(conn, buf)
            statuses.append(status)
        conn.sendall(REQUEST * args.count)
        for _ in range(args.count):
            status, _, buf = read_response(conn, buf)
            statuses.append(status)
        return {"ok": True, "statuses": statuses}


def mode_resume(args):
    ctx = context(args.cafile, args.version)
    reused = []
    session = None
    for _ in range(3):
        with connect(args, ctx, session) as conn:
            conn.sendall(REQUEST)
            read_response(conn, b"")  # the ticket (TLS 1.3) comes with the reply
            reused.append(conn.session_reused)
            session = conn.session
    return {"ok": True, "reused": reused}


def mode_stall(args):
    """Sends the first bytes of a ClientHello and nothing more; measures when the server closes."""
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=TIMEOUT)
    start = time.monotonic()
    raw.sendall(bytes.fromhex("160301020001"))  # a handshake record header and a byte of it
    try:
        data = raw.recv(1024)
        closed = data == b""
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        closed = False
    return {"ok": True, "closed": closed, "seconds": time.monotonic() - start}


def mode_raw(args):
    """Sends bytes (hex) and reads until the server closes."""
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=TIMEOUT)
    raw.sendall(bytes.fromhex(args.hex))
    got = b""
    closed = False
    try:
        while True:
            chunk = raw.recv(65536)
            if not chunk:
                closed = True
                break
            got += chunk
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        pass
    return {"ok": True, "closed": closed, "reply": got.decode("latin-1")}


def mode_reload(args):
    """Holds a connection, swaps the certificate files and reloads, sees the new certificate on a
    new connection, then uses the old connection again."""
    ctx = context(args.cafile)
    old = connect(args, ctx)
    old.sendall(REQUEST)
    _, _, _ = read_response(old, b"")
    before = cert_serial(old)
    for src, dst in ((args.new_cert, args.cert), (args.new_key, args.key)):
        with open(src, "rb") as f:
            data = f.read()
        tmp = dst + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, dst)
    os.kill(args.pid, signal.SIGHUP)
    deadline = time.monotonic() + TIMEOUT
    after = before
    while after == before and time.monotonic() < deadline:
        with connect(args, ctx) as conn:
            after = cert_serial(conn)
        if after == before:
            time.sleep(0.05)
    old.sendall(REQUEST)
    status, _, _ = read_response(old, b"")
    still = cert_serial(old)
    old.close()
    return {"ok": True, "changed": after != before, "old_status": status,
            "old_kept_its_cert": still == before}


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def mode_idle(args):
    """Holds COUNT keep-alive connections idle after one request each; reports the server's RSS
    growth per connection (after a warm-up, so one-time allocations do not count)."""
    ctx = context(args.cafile)

    def one():
        conn = connect(args, ctx)
        conn.sendall(REQUEST)
        read_response(conn, b"")
        return conn

    warm = [one() for _ in range(100)]
    time.sleep(0.5)
    before = rss_kib(args.pid)
    held = [one() for _ in range(args.count)]
    time.sleep(0.5)
    after = rss_kib(args.pid)
    for conn in held + warm:
        conn.close()
    return {"ok": True, "bytes_per_connection": (after - before) * 1024.0 / args.count}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("port", type=int)
    p.add_argument("cafile")
    p.add_argument("--version")
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--hex", default="")
    p.add_argument("--pid", type=int, default=0)
    for name in ("cert", "key", "new-cert", "new-key"):
        p.add_argument("--" + name, default="")
    args = p.parse_args()
    result = globals()["mode_" + args.mode](args)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
