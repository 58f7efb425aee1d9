#!/usr/bin/python3
"""A small EHR-like backend for phiguard's demo and end-to-end tests.

It speaks plain HTTP/1.1 on loopback (or a unix socket) with keep-alive and
chunked bodies, keeps FHIR resources in memory, and has diagnostic endpoints
the tests use to see exactly what reached it. Standard library only.
"""
import argparse
import asyncio
import base64
import hashlib
import itertools
import json
import os
import struct
import sys
import time
from urllib.parse import parse_qs, urlsplit

MAX_HEAD = 1 << 20


class Backend:
    def __init__(self):
        self.conn_ids = itertools.count(1)
        self.accepted = 0
        self.log = []          # what reached the backend, per request
        self.store = {}        # (type, id) -> resource
        self.next_id = itertools.count(1)

    # ---- plumbing ----
    async def handle(self, reader, writer):
        conn_id = next(self.conn_ids)
        self.accepted += 1
        try:
            while True:
                head = await read_head(reader)
                if head is None:
                    break
                method, target, version, headers = head
                body = await read_body(reader, headers)
                path = urlsplit(target).path
                self.log.append({"method": method, "path": path, "target": target,
                                 "headers": headers, "body_len": len(body), "conn": conn_id})
                keep = version == "HTTP/1.1" and not has_token(headers, "connection", "close")
                if has_token(headers, "connection", "upgrade") and get(headers, "upgrade"):
                    if path == "/ws":
                        await self.websocket(reader, writer, headers)
                    break
                close = await self.route(writer, method, target, headers, body, conn_id)
                await writer.drain()
                if close or not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            try:
                writer.close()
                await writer.wait_closed()
            except Exception:
                pass

    async def route(self, w, method, target, headers, body, conn_id):
        u = urlsplit(target)
        q = {k: v[-1] for k, v in parse_qs(u.query).items()}
        p = u.path
        if p == "/":
            return send(w, 200, b"<!doctype html><title>Sample EHR</title><h1>Sample EHR backend</h1>"
                        b"<p>This app is unmodified; phiguard guards it.</p>", "text/html")
        if p == "/echo":
            return send_json(w, 200, {"method": method, "path": p, "query": u.query,
                                      "headers": headers, "body_len": len(body),
                                      "body_sha256": hashlib.sha256(body).hexdigest(),
                                      "conn": conn_id})
        if p == "/echo-body":
            return send(w, 200, body, get(headers, "content-type") or "application/octet-stream")
        if p == "/bytes":
            return send(w, 200, pattern(int(q.get("n", "0"))), "application/octet-stream")
        if p == "/chunked":
            data = pattern(int(q.get("n", "0")))
            k = max(1, int(q.get("chunk", "4096")))
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(data), k):
                part = data[i:i + k]
                w.write(b"%x\r\n%s\r\n" % (len(part), part))
            w.write(b"0\r\n\r\n")
            return False
        if p == "/close-delimited":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
            w.write(pattern(int(q.get("n", "0"))))
            return True
        if p == "/slow":
            await asyncio.sleep(int(q.get("ms", "1000")) / 1000)
            return send_json(w, 200, {"slept_ms": int(q.get("ms", "1000"))})
        if p.startswith("/status/"):
            code = int(p.rsplit("/", 1)[1])
            if code in (204, 304):
                w.write(b"HTTP/1.1 %d X\r\n\r\n" % code)
                return False
            return send_json(w, code, {"status": code})
        if p == "/headers":
            body = b'{"ok":true}'
            w.write(b"HTTP/1.1 200 OK\r\nServer: SampleEHR/1.0 (Python)\r\nX-Powered-By: Python\r\n"
                    b"X-Custom: kept\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            return False
        if p == "/garbage":
            w.write(b"THIS IS NOT HTTP\r\n\r\n")
            return True
        if p == "/smuggle":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            return True
        if p == "/_log":
            if q.get("clear"):
                self.log.clear()
                return send_json(w, 200, {"cleared": True})
            return send_json(w, 200, self.log[:-1])  # without this request itself
        if p == "/conn":
            return send_json(w, 200, {"conn": conn_id, "accepted": self.accepted})
        if p.startswith("/fhir/"):
            return self.fhir(w, method, p, q, body)
        return send_json(w, 404, {"error": "not found", "path": p})

    # ---- a tiny FHIR store ----
    def fhir(self, w, method, path, q, body):
        parts = [x for x in path.split("/")[2:] if x]
        if not parts:
            return send_json(w, 404, {"error": "not found"})
        rtype = parts[0]
        rid = parts[1] if len(parts) > 1 else None
        ctype = "application/fhir+json"
        if method == "GET" and rid is None:
            want = q.get("identifier")
            hits = [r for (t, _), r in self.store.items() if t == rtype and
                    (want is None or any(token_matches(want, i) for i in r.get("identifier", []) if isinstance(i, dict)))]
            return send_json(w, 200, {"resourceType": "Bundle", "type": "searchset", "total": len(hits),
                                      "entry": [{"resource": r} for r in hits]}, ctype)
        if method == "GET":
            r = self.store.get((rtype, rid))
            return send_json(w, 200, r, ctype) if r else send_json(w, 404, {"error": "not found"})
        if method in ("POST", "PUT"):
            try:
                r = json.loads(body or b"{}")
            except ValueError:
                return send_json(w, 400, {"error": "invalid JSON"})
            if not isinstance(r, dict):
                return send_json(w, 400, {"error": "expected a JSON object"})
            rid = rid or r.get("id") or str(next(self.next_id))
            r["resourceType"] = rtype
            r["id"] = rid
            created = (rtype, rid) not in self.store
            self.store[(rtype, rid)] = r
            return send_json(w, 201 if created else 200, r, ctype)
        if method == "DELETE" and rid:
            self.store.pop((rtype, rid), None)
            w.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            return False
        return send_json(w, 405, {"error": "method not allowed"})

    # ---- WebSocket echo (RFC 6455, enough for tests) ----
    async def websocket(self, reader, writer, headers):
        key = get(headers, "sec-websocket-key") or ""
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        await writer.drain()
        while True:
            b1, b2 = await reader.readexactly(2)
            op, masked, n = b1 & 0x0F, b2 & 0x80, b2 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await reader.readexactly(8))[0]
            mask = await reader.readexactly(4) if masked else b"\0\0\0\0"
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(await reader.readexactly(n)))
            if op == 8:
                writer.write(b"\x88\x00")
                await writer.drain()
                return
            hdr = bytes([0x80 | op])
            hdr += bytes([n]) if n < 126 else (b"\x7e" + struct.pack("!H", n) if n < 65536 else b"\x7f" + struct.pack("!Q", n))
            writer.write(hdr + data)
            await writer.drain()


def token_matches(want, ident):
    """FHIR token search: a comma separates alternatives, and each is
    "value" or "system|value"."""
    for alt in want.split(","):
        system, bar, value = alt.rpartition("|")
        if ident.get("value") == value and (not bar or not system or ident.get("system") == system):
            return True
    return False


def pattern(n):
    block = bytes(range(256))
    return (block * (n // 256 + 1))[:n]


def get(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def has_token(headers, name, token):
    return any(token in [t.strip().lower() for t in v.split(",")] for k, v in headers if k.lower() == name)


def send(w, code, body, ctype):
    w.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" %
            (code, REASONS.get(code, b"Status"), ctype.encode(), len(body)) + body)
    return False


def send_json(w, code, obj, ctype="application/json"):
    return send(w, code, json.dumps(obj).encode(), ctype)


REASONS = {200: b"OK", 201: b"Created", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed",
           500: b"Internal Server Error"}


async def read_head(reader):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            return None  # the client closed between requests
        raise ValueError("partial head")
    except asyncio.LimitOverrunError:
        raise ValueError("head too large")
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers.append([k, v.strip()])
    return method, target, version, headers


async def read_body(reader, headers):
    te = get(headers, "transfer-encoding")
    if te and te.lower() == "chunked":
        parts = []  # joined once: += on bytes would copy the body once per chunk
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    n = int(get(headers, "content-length") or 0)
    return await reader.readexactly(n) if n else b""


async def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--listen", help="host:port (port 0 picks a free one)")
    ap.add_argument("--unix", help="unix socket path")
    ap.add_argument("--port-file", help="write the bound port here")
    a = ap.parse_args()
    app = Backend()
    if a.unix:
        server = await asyncio.start_unix_server(app.handle, path=a.unix, limit=MAX_HEAD)
    else:
        host, port = (a.listen or "127.0.0.1:0").rsplit(":", 1)
        server = await asyncio.start_server(app.handle, host, int(port), limit=MAX_HEAD)
        bound = server.sockets[0].getsockname()[1]
        if a.port_file:
            tmp = a.port_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(str(bound))
            os.rename(tmp, a.port_file)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
