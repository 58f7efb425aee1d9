"""A syslog receiver for the end-to-end tests: RFC 6587 octet-counted
frames over TCP or TLS on 127.0.0.1, each RFC 5424 message parsed. It can
be stopped and started again on the same port, and told never to read (a
SIEM that hangs)."""
import re
import socket
import ssl
import threading
from dataclasses import dataclass

BOM = b"\xef\xbb\xbf"
HEADER = re.compile(rb"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) ")


@dataclass
class Message:
    pri: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    sd_id: str
    params: dict
    bom: bool
    body: bytes  # MSG without the BOM


def parse_sd(data, i):
    """One SD-ELEMENT at data[i] ('['): (sd_id, params, index after ']')."""
    assert data[i:i + 1] == b"[", data[i:i + 40]
    j = i + 1
    while data[j:j + 1] not in (b" ", b"]"):
        j += 1
    sd_id = data[i + 1:j].decode("ascii")
    params = {}
    while data[j:j + 1] == b" ":
        eq = data.index(b"=", j)
        name = data[j + 1:eq].decode("ascii")
        assert data[eq + 1:eq + 2] == b'"'
        k, value = eq + 2, b""
        while True:
            ch = data[k:k + 1]
            assert ch, "unterminated PARAM-VALUE"
            if ch == b"\\" and data[k + 1:k + 2] in (b'"', b"\\", b"]"):
                value += data[k + 1:k + 2]
                k += 2
            elif ch == b'"':
                k += 1
                break
            else:
                assert ch not in (b'"', b"]"), "unescaped PARAM-VALUE character"
                value += ch
                k += 1
        params[name] = value.decode("utf-8")
        j = k
    assert data[j:j + 1] == b"]"
    return sd_id, params, j + 1


def parse_message(msg):
    m = HEADER.match(msg)
    assert m, msg[:120]
    sd_id, params, end = parse_sd(msg, m.end())
    assert msg[end:end + 1] == b" ", "MSG must follow one space after STRUCTURED-DATA"
    body = msg[end + 1:]
    bom = body.startswith(BOM)
    return Message(int(m.group(1)), *(g.decode("ascii") for g in m.groups()[1:]), sd_id, params, bom,
                   body[3:] if bom else body)


class SyslogReceiver:
    def __init__(self, port, tls=None, read=True):
        self.port = port
        self.tls = tls  # a server-side ssl.SSLContext, or None
        self.read = read
        self.messages = []
        self.connections = 0
        self.tls_failures = []
        self.lock = threading.Lock()
        self.sock = None

    def start(self):
        self.stopping = threading.Event()
        self.threads, self.clients = [], []
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if not self.read:  # small buffers: a hung receiver fills up soon
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.bind(("127.0.0.1", self.port))
        s.listen(16)
        s.settimeout(0.1)
        self.sock = s
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, c):
        with self.lock:
            self.clients.append(c)
        if self.tls:
            try:
                c.settimeout(10)
                c = self.tls.wrap_socket(c, server_side=True)
            except (ssl.SSLError, OSError) as e:
                with self.lock:
                    self.tls_failures.append(str(e))
                c.close()
                return
            with self.lock:
                self.clients.append(c)
        if not self.read:
            self.stopping.wait()
            return
        c.settimeout(0.1)
        buf = b""
        while not self.stopping.is_set():
            try:
                d = c.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except OSError:
                break
            if not d:
                break
            buf += d
            while True:
                sp = buf.find(b" ")
                if sp < 0:
                    break
                n = int(buf[:sp])
                if len(buf) < sp + 1 + n:
                    break
                msg, buf = buf[sp + 1:sp + 1 + n], buf[sp + 1 + n:]
                with self.lock:
                    self.messages.append(parse_message(msg))
        c.close()

    def stop(self):
        """Closes the listener and every connection (a receiver that dies)."""
        self.stopping.set()
        self.sock.close()
        for t in self.threads:
            t.join(timeout=10)
        with self.lock:
            for c in self.clients:
                try:
                    c.close()
                except OSError:
                    pass

    def by_chain(self):
        """Record bytes per chain, in arrival order."""
        out = {}
        with self.lock:
            for m in self.messages:
                out.setdefault(m.params["chain"], []).append(m.body)
        return out

    def snapshot(self):
        with self.lock:
            return list(self.messages)

