"""test_badinput.py - hostile and broken clients: jwtsessiond answers 4xx (JSON where it answers
itself), stays up, and keeps serving everyone else.

Oversized bodies, headers and URLs; malformed JSON and wrong content types; clients that trickle
bytes or stall; many idle connections; garbage that is not HTTP at all. After every test the
daemon must still be running and answer /healthz and a real token check.
"""
import json
import socket
import threading
import time
import unittest

from harness import ADMIN_KEY, Daemon, request, wait_until


def raw_exchange(port, data, timeout=10.0, read=True):
    """Send raw bytes; return what the server sent back until it closed or went quiet."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may close before reading everything (e.g. after a 413)
        if not read:
            return b""
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
            if _complete(out):
                break
        return out
    finally:
        s.close()


def _complete(resp):
    head, sep, body = resp.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def status_of(resp):
    return int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.") else None


def json_error(resp):
    return json.loads(resp.partition(b"\r\n\r\n")[2])["error"]


def closed_by_server(sock, timeout):
    """True when the server closes sock (EOF or reset) within timeout seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("--max-body", "16k", "--max-header", "8k", "--max-url", "4k")
        cls.token = cls.d.create("steady")["access_token"]

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop()
        cls.d.close()
        assert code == 0

    def tearDown(self):
        self.assertTrue(self.d.alive(), "jwtsessiond died")
        self.assertEqual(self.d.req("GET", "/healthz").status, 200)
        self.assertEqual(self.d.req("GET", "/v1/auth", token=self.token).status, 200)

    def post(self, path, body, ctype="application/json", extra=b""):
        head = ("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\n"
                "Content-Length: %d\r\n" % (path, ADMIN_KEY, ctype, len(body))).encode()
        return raw_exchange(self.d.port, head + extra + b"\r\n" + body)

    # ---- oversized ----

    def test_declared_huge_body_refused_before_upload(self):
        head = ("POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n" % ADMIN_KEY).encode()
        resp = raw_exchange(self.d.port, head)  # the body is never sent
        self.assertEqual(status_of(resp), 413, resp[:200])
        self.assertEqual(json_error(resp), "JWTS_E_LIMIT")

    def test_sent_body_over_limit(self):
        body = json.dumps({"user_id": "a", "metadata": {"x": "y" * 20000}}).encode()
        resp = self.post("/v1/sessions", body)
        self.assertEqual(status_of(resp), 413, resp[:200])
        self.assertEqual(json_error(resp), "JWTS_E_LIMIT")

    def test_chunked_body_over_limit(self):
        chunk = b"a" * 4096
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"
        head = ("POST /v1/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n").encode()
        resp = raw_exchange(self.d.port, head + body)
        self.assertEqual(status_of(resp), 413, resp[:200])

    def test_chunked_body_far_over_limit_answered_at_once(self):
        # issue #12 item 5: past the drain allowance libmicrohttpd cannot queue an answer mid-upload;
        # the client used to wait for the connection timeout (30 s) and get nothing
        head = ("POST /v1/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n").encode()
        chunk = b"a" * 65536
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)

        def upload():
            try:
                s.sendall(head)
                for _ in range(64):  # 4 MiB, far past --max-body and the 1 MiB drained before closing
                    s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                pass  # the server answered and closed

        t0 = time.monotonic()
        sender = threading.Thread(target=upload)
        sender.start()
        resp = b""
        try:
            while not _complete(resp):
                try:
                    data = s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    break
                if not data:
                    break
                resp += data
        finally:
            took = time.monotonic() - t0
            s.close()
            sender.join()
        self.assertEqual(status_of(resp), 413, resp[:200])
        self.assertEqual(json_error(resp), "JWTS_E_LIMIT")
        self.assertLess(took, 5.0)

    # ---- ambiguous requests (issue #12 item 6) ----

    def test_ambiguous_requests_refused(self):
        body = b'{"user_id":"dup"}'
        create = ("POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  "Content-Type: application/json\r\n" % ADMIN_KEY).encode()
        auth = ("GET /v1/auth HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s" % self.token).encode()
        cases = {
            "two different Content-Length": create + b"Content-Length: %d\r\nContent-Length: 40\r\n\r\n%s"
                                            % (len(body), body),
            "two equal Content-Length": create + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n%s"
                                        % (len(body), len(body), body),
            "Content-Length and chunked": create + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n"
                                          b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), len(body), body),
            "two Authorization": auth + b"\r\nAuthorization: Bearer " + ADMIN_KEY.encode() + b"\r\n\r\n",
            "two equal Authorization": auth + b"\r\n" + auth.split(b"\r\n")[2] + b"\r\n\r\n",
            "NUL in Authorization": auth + b"\x00junk\r\n\r\n",
            "NUL in another header": auth + b"\r\nX-Note: a\x00b\r\n\r\n",
            "two Host": auth + b"\r\nHost: y\r\n\r\n",
        }
        for name, req in cases.items():
            with self.subTest(name):
                resp = raw_exchange(self.d.port, req)
                self.assertEqual(status_of(resp), 400, resp[:300])
                self.assertEqual(json_error(resp), "JWTS_E_MALFORMED")
                self.assertIn(b"\r\nConnection: close\r\n", resp.partition(b"\r\n\r\n")[0])
        # the same requests without the second copy are fine
        self.assertEqual(status_of(raw_exchange(self.d.port, auth + b"\r\n\r\n")), 200)

    def test_invalid_utf8_path_keeps_the_log_valid_json(self):
        # issue #12 item 8: raw bytes of the path went into the JSON access log unescaped
        resp = raw_exchange(self.d.port, b"GET /v1/users/\xff\xfe%ff/sessions HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIsNotNone(status_of(resp))
        self.assertTrue(wait_until(lambda: b"%ff/sessions" in self.d.log_bytes(), timeout=5))  # this request's line
        text = self.d.log_bytes().decode("utf-8")  # strict: raises on invalid UTF-8
        paths = [json.loads(line).get("path", "") for line in text.splitlines() if line.strip()]
        self.assertIn("/v1/users/\ufffd\ufffd%ff/sessions", paths)

    def test_headers_over_limit(self):
        resp = raw_exchange(self.d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n")
        self.assertEqual(status_of(resp), 431, resp[:200])
        self.assertEqual(json_error(resp), "JWTS_E_LIMIT")
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
        resp = raw_exchange(self.d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        self.assertEqual(status_of(resp), 431, resp[:200])

    def test_headers_far_over_the_connection_pool(self):
        resp = raw_exchange(self.d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300000 + b"\r\n\r\n")
        # libmicrohttpd refuses these itself (431) or drops the connection; either way no 2xx
        self.assertTrue(resp == b"" or status_of(resp) >= 400, resp[:200])

    def test_url_over_limit(self):
        resp = raw_exchange(self.d.port, b"GET /v1/users/" + b"a" * 5000 + b"/sessions HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status_of(resp), 414, resp[:200])
        self.assertEqual(json_error(resp), "JWTS_E_LIMIT")
        resp = raw_exchange(self.d.port, b"GET /healthz?" + b"a=b&" * 1200 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status_of(resp), 414, resp[:200])
        resp = raw_exchange(self.d.port, b"GET /" + b"a" * 300000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(resp == b"" or status_of(resp) >= 400, resp[:200])

    def test_long_garbage_token(self):
        r = self.d.req("GET", "/v1/auth", token="x" * 7000)
        self.assertEqual(r.status, 401)

    # ---- malformed ----

    def test_malformed_json(self):
        cases = [b"{", b"{\"user_id\":\"a\"", b"[" * 5000 + b"]" * 5000, b"{\"user_id\":\"\xff\xfe\"}",
                 b"{\"user_id\":\"a\\u0000b\"}", b"null", b"{\"user_id\":\"a\"} trailing", b"\x00\x01\x02",
                 b"{\"user_id\":\"a\",\"metadata\":{\"n\":1\x00}}"]  # a raw NUL between tokens
        for body in cases:
            with self.subTest(body=body[:40]):
                resp = self.post("/v1/sessions", body)
                self.assertEqual(status_of(resp), 400, resp[:300])
                self.assertIn(json_error(resp), ("JWTS_E_MALFORMED", "JWTS_E_INVALID_ARGUMENT"))

    def test_wrong_content_type(self):
        for ctype in ["text/plain", "multipart/form-data; boundary=x", "application/json-seq", "*/*"]:
            with self.subTest(ctype=ctype):
                resp = self.post("/v1/sessions", b'{"user_id":"a"}', ctype=ctype)
                self.assertEqual(status_of(resp), 415, resp[:200])
                self.assertEqual(json_error(resp), "JWTS_E_UNSUPPORTED")

    def test_bad_paths(self):
        for path, status in [(b"/v1/users/%zz/sessions", 400), (b"/v1/users/a%00b/sessions", 400),
                             (b"/v1/sessions/", 400), (b"/v1/users//sessions", 400), (b"/../../etc/passwd", 404)]:
            with self.subTest(path=path):
                resp = raw_exchange(self.d.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                                    + ADMIN_KEY.encode() + b"\r\n\r\n")
                got = status_of(resp)
                self.assertTrue(got == status or (status == 400 and got == 405), (path, resp[:200]))

    def test_not_http_at_all(self):
        for junk in [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100,  # a TLS ClientHello
                     b"HELLO\r\n\r\n", b"GET\r\n\r\n", b"\xff" * 5000 + b"\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n"]:
            with self.subTest(junk=junk[:20]):
                resp = raw_exchange(self.d.port, junk)
                self.assertTrue(resp == b"" or status_of(resp) is None or status_of(resp) >= 400, resp[:200])

    # ---- slow and idle clients ----

    def test_trickling_clients_do_not_block_others(self):
        request_bytes = ("GET /v1/auth HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % self.token).encode()
        results = [None] * 10

        def trickle(i):
            s = socket.create_connection(("127.0.0.1", self.d.port), timeout=30)
            try:
                for k in range(0, len(request_bytes), 16):
                    s.sendall(request_bytes[k:k + 16])
                    time.sleep(0.02)
                resp = b""
                while not _complete(resp):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    resp += chunk
                results[i] = status_of(resp)
            finally:
                s.close()

        threads = [threading.Thread(target=trickle, args=(i,)) for i in range(len(results))]
        for t in threads:
            t.start()
        served = 0
        while any(t.is_alive() for t in threads):
            self.assertEqual(self.d.req("GET", "/v1/auth", token=self.token).status, 200)
            served += 1
        for t in threads:
            t.join()
        self.assertGreater(served, 0)
        self.assertEqual(results, [200] * len(results))

    def test_many_idle_connections(self):
        # from one other address: past --max-connections-per-ip (256) its connections are refused
        socks = []
        for _ in range(300):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.settimeout(10)
            s.connect(("127.0.0.1", self.d.port))
            socks.append(s)
        try:
            for k, s in enumerate(socks[:100]):
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # half a request, then silence
            for _ in range(20):
                self.assertEqual(self.d.req("GET", "/v1/auth", token=self.token).status, 200)
        finally:
            for s in socks:
                s.close()

    def test_concurrent_mixed_traffic(self):
        errors = []

        def worker(n):
            try:
                for i in range(30):
                    if i % 3 == 0:
                        r = request(self.d.port, "GET", "/v1/auth", token=self.token)
                        assert r.status == 200, r
                    elif i % 3 == 1:
                        r = request(self.d.port, "POST", "/v1/sessions", body=b"{oops",
                                    headers={"Content-Type": "application/json"}, token=ADMIN_KEY)
                        assert r.status == 400, r
                    else:
                        r = request(self.d.port, "GET", "/v1/auth", token="bad.token.here")
                        assert r.status == 401, r
            except Exception as e:  # noqa: BLE001 - collected and reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])


class IdleLimits(unittest.TestCase):
    """A daemon with a tiny connection limit (8, one of them kept for new clients): connections
    waiting for a request head give way to new clients; when none can, a new client gets a 503 at
    once; stalled requests are closed by the timeout."""

    @staticmethod
    def stalled_body(port):
        """A request whose head the server has processed (it answered 100 Continue), then a
        stalled body."""
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /v1/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(1024)
        assert got.startswith(b"HTTP/1.1 100"), got
        s.sendall(b"{\"refresh")
        return s

    def test_idle_connections_give_way_to_a_new_client(self):
        with Daemon("--threads", "1", "--max-connections", "8", "--connection-timeout", "30s",
                    "--head-timeout", "30s") as d:
            token = d.create("reaper")["access_token"]
            socks = [socket.create_connection(("127.0.0.1", d.port), timeout=10) for _ in range(8)]
            try:
                socks[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # half a head, then silence
                # every slot is held by a connection that sent no complete request: a new client is
                # served at once, and the oldest waiting connections are closed to make room
                r = d.req("GET", "/v1/auth", token=token, timeout=3)
                self.assertEqual(r.status, 200)
                self.assertTrue(closed_by_server(socks[0], 2))
                self.assertTrue(closed_by_server(socks[1], 2))
                self.assertFalse(closed_by_server(socks[7], 0.2))
            finally:
                for s in socks:
                    s.close()

    def test_no_connection_to_give_way_answers_503(self):
        with Daemon("--threads", "1", "--max-connections", "8", "--connection-timeout", "30s") as d:
            stalled = [self.stalled_body(d.port) for _ in range(7)]
            try:
                # every slot but the reserved one holds a request in progress: nothing can give way,
                # so the new client is answered 503 at once instead of waiting in the backlog
                resp = raw_exchange(d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
                self.assertEqual(status_of(resp), 503, resp[:300])
                self.assertEqual(json_error(resp), "JWTS_E_LIMIT")
                head = resp.partition(b"\r\n\r\n")[0]
                self.assertIn(b"\r\nRetry-After: ", head)
                self.assertIn(b"\r\nConnection: close\r\n", head)
            finally:
                for s in stalled:
                    s.close()
            self.assertTrue(wait_until(lambda: d.req("GET", "/healthz").status == 200, timeout=10))

    def test_stalled_connections_are_closed_after_the_timeout(self):
        with Daemon("--threads", "1", "--max-connections", "8", "--connection-timeout", "1") as d:
            token = d.create("reaper")["access_token"]
            socks = [self.stalled_body(d.port) for _ in range(2)]
            socks.append(socket.create_connection(("127.0.0.1", d.port), timeout=10))
            socks[2].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # a stalled head
            try:
                for s in socks:
                    self.assertTrue(closed_by_server(s, 15))
            finally:
                for s in socks:
                    s.close()
            self.assertEqual(d.req("GET", "/v1/auth", token=token).status, 200)
            self.assertIn('"outcome":"timeout"', d.log_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
