"""test_events.py - jwtsessiond's lifecycle-event webhook (docs/events.md).

The receiver is the Python block of docs/events.md, run as written. It is down while the daemon
goes through every lifecycle path over HTTP (create, limit eviction, refresh, revoke by the user
and by the admin, revoke-user, theft, a new device, expiry) and comes up 10 s later (2 s under a sanitizer,
where the same path runs again); it must then receive every event exactly once, HMAC-verified,
within the retry bound, and the counters must say so. A second daemon with a queue of 2 and no
receiver counts the events it drops. An https receiver is reached when its certificate is trusted
(--events-webhook-ca) and refused when it is not; bad webhook settings stop the daemon at start.
"""
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from harness import SOURCE_DIR, Daemon, free_port, request, wait_until

OUTAGE_S = 2.0 if any(k in os.environ for k in ("ASAN_OPTIONS", "TSAN_OPTIONS")) else 10.0
RETRY_BOUND_S = 2.0 + 5.0  # the longest backoff, plus slack for a loaded 2-core machine


def receiver_source():
    with open(os.path.join(SOURCE_DIR, "docs", "events.md")) as f:
        doc = f.read()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    assert len(blocks) == 1, "docs/events.md should hold exactly one python block"
    return blocks[0]


def metric(d, name):
    text = d.req("GET", "/metrics").body.decode()
    m = re.search(r"^%s (\d+)" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


class TestEventsWebhook(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="jwts-events-")
        self.key_file = os.path.join(self.tmp, "webhook.key")
        with open(self.key_file, "w") as f:
            f.write("e2e-webhook-key-" + os.urandom(12).hex() + "\n")
        os.chmod(self.key_file, stat.S_IRUSR | stat.S_IWUSR)
        self.receiver_py = os.path.join(self.tmp, "webhook_receiver.py")
        with open(self.receiver_py, "w") as f:
            f.write(receiver_source())
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)

    def start_receiver(self, port, out):
        p = subprocess.Popen([sys.executable, self.receiver_py, str(port), self.key_file], stdout=out,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def test_outage_then_everything_delivered(self):
        rport = free_port()
        url = "http://127.0.0.1:%d/events" % rport
        with Daemon("--events-webhook", url, "--events-webhook-secret-file", self.key_file, "--store", "memory",
                    "--max-sessions", "2", "--limit-policy", "evict-oldest", "--refresh-grace", "off",
                    "--absolute-lifetime", "5s", "--events-retry", "1m", "--events-new-device") as d:
            t0 = time.monotonic()
            expect = []  # (type, session_id, reason)

            def create(user):
                t = d.create(user)
                expect.append(("created", t["session_id"], None))
                return t

            # the limit: a third session of alice evicts her oldest
            a1, a2 = create("alice"), create("alice")
            a3 = create("alice")
            live = {x["session_id"] for x in d.admin("GET", "/v1/users/alice/sessions").json()["sessions"]}
            if a1["session_id"] in live:  # created within one millisecond: either may be the oldest
                a1, a2 = a2, a1
            self.assertEqual(live, {a2["session_id"], a3["session_id"]})
            expect.append(("revoked", a1["session_id"], "limit"))
            # refresh, then the user revokes their own session
            r = d.req("POST", "/v1/refresh", json_body={"refresh_token": a2["refresh_token"]})
            self.assertEqual(r.status, 200, r)
            expect.append(("refreshed", a2["session_id"], None))
            r = d.req("DELETE", "/v1/sessions/" + a2["session_id"], token=r.json()["access_token"])
            self.assertEqual(r.status, 200, r)
            expect.append(("revoked", a2["session_id"], "user"))
            # the admin revokes one session, then all of bob's
            r = d.admin("DELETE", "/v1/sessions/%s?user_id=alice" % a3["session_id"])
            self.assertEqual(r.status, 200, r)
            expect.append(("revoked", a3["session_id"], "admin"))
            b1, b2 = create("bob"), create("bob")
            r = d.admin("DELETE", "/v1/users/bob/sessions")
            self.assertEqual(r.json()["revoked"], 2, r)
            expect += [("revoked", b1["session_id"], "admin"), ("revoked", b2["session_id"], "admin")]
            # theft: the first refresh token comes back after two rotations
            c = create("carol")
            t1 = d.req("POST", "/v1/refresh", json_body={"refresh_token": c["refresh_token"]}).json()
            d.req("POST", "/v1/refresh", json_body={"refresh_token": t1["refresh_token"]})
            expect += [("refreshed", c["session_id"], None)] * 2
            r = d.req("POST", "/v1/refresh", json_body={"refresh_token": c["refresh_token"]})
            self.assertEqual(r.status, 401, r)
            expect += [("theft_detected", c["session_id"], None), ("revoked", c["session_id"], "theft")]
            # a new device (--events-new-device): erin's first phone, the same phone again, frank's laptop;
            # all three expire with dave
            def create_on(user, ua):
                r = d.admin("POST", "/v1/sessions", json_body={
                    "user_id": user, "device": {"ip": "192.0.2.7", "user_agent": ua}})
                self.assertEqual(r.status, 201, r)
                return r.json()
            e1 = create_on("erin", "Phone/1")
            e2 = create_on("erin", "Phone/1")
            e3 = create_on("frank", "Laptop/2")
            expect += [(kind, x["session_id"], None) for x in (e1, e2, e3) for kind in ("created", "expired")]
            expect += [("new_device", e1["session_id"], None), ("new_device", e3["session_id"], None)]
            # failures emit nothing: a revoke of what is gone, a forged refresh
            self.assertEqual(d.admin("DELETE", "/v1/sessions/%s?user_id=alice" % a3["session_id"]).status, 404)
            # expiry: dave's session reaches its 5 s lifetime during the outage
            dave = create("dave")
            expect.append(("expired", dave["session_id"], None))
            issued = (a1, a2, a3, b1, b2, c, dave, t1, e1, e2, e3)
            secrets = {x["refresh_token"] for x in issued} | {x["access_token"] for x in issued}

            self.assertEqual(metric(d, "jwtsessiond_events_delivered_total"), 0)
            left = OUTAGE_S - (time.monotonic() - t0)
            self.assertGreater(left, 0, "the lifecycle took longer than the outage")
            time.sleep(left)
            self.assertTrue(wait_until(lambda: d.req("GET", "/healthz").status == 200))
            out_path = os.path.join(self.tmp, "events.jsonl")
            with open(out_path, "w") as out:
                up = time.monotonic()
                self.start_receiver(rport, out)

                def received():
                    with open(out_path) as f:
                        return [l for l in f.read().splitlines() if l.strip()]

                self.assertTrue(wait_until(lambda: len(received()) >= len(expect), timeout=RETRY_BOUND_S + 8),
                                "received %d of %d events: %s" % (len(received()), len(expect), d.log_text()[-2000:]))
                took = time.monotonic() - up
            # every event exactly once, nothing else
            import json
            events = [json.loads(l) for l in received()]
            got = sorted((e["type"], e["session_id"], e.get("reason")) for e in events)
            self.assertEqual(got, sorted(expect, key=lambda x: (x[0], x[1], x[2] or "")))
            self.assertLess(took, RETRY_BOUND_S + 8)
            with open(out_path) as f:
                text = f.read()
            for s in secrets:
                self.assertNotIn(s, text)
                self.assertNotIn(s, d.log_text())
            theft = [e for e in events if e["type"] == "theft_detected"][0]
            self.assertEqual(theft["user_id"], "carol")
            self.assertEqual(theft["generation"], 2)
            self.assertEqual(theft.get("client_ip"), "127.0.0.1")  # who showed the old token
            laptop = [e for e in events if e["type"] == "new_device" and e["session_id"] == e3["session_id"]][0]
            self.assertEqual((laptop["user_id"], laptop["client_ip"], laptop["user_agent"]),
                             ("frank", "192.0.2.7", "Laptop/2"))
            self.assertTrue(wait_until(lambda: metric(d, "jwtsessiond_events_delivered_total") == len(expect)))
            self.assertEqual(metric(d, "jwtsessiond_events_dropped_total"), 0)
            self.assertEqual(metric(d, "jwtsessiond_events_failed_total"), 0)
            self.assertIn("events webhook failed; retrying", d.log_text())
            # the receiver refuses what is not signed with the key
            r = request(rport, "POST", "/events", body=b"[]", headers={
                "Content-Type": "application/json", "X-Jwts-Timestamp": str(int(time.time())),
                "X-Jwts-Signature": "sha256=" + "0" * 64, "X-Jwts-Delivery": "forged"})
            self.assertEqual(r.status, 401)

    def test_full_queue_drops_and_counts(self):
        url = "http://127.0.0.1:%d/" % free_port()  # nobody listens
        with Daemon("--events-webhook", url, "--events-webhook-secret-file", self.key_file, "--store", "memory",
                    "--events-queue", "2", "--shutdown-timeout", "1s") as d:
            for _ in range(6):
                d.create("erin")
            # the sender holds up to 2 queued (the batch it retries stays in the queue)
            self.assertEqual(metric(d, "jwtsessiond_events_dropped_total"), 4)
            self.assertEqual(metric(d, "jwtsessiond_events_delivered_total"), 0)

    def https_receiver(self, got):
        """An https receiver on a free port with a fresh self-signed certificate for 127.0.0.1; it
        checks each delivery's HMAC and appends the events to got. Returns (port, cert, server)."""
        cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        import hashlib
        import hmac
        import http.server
        import json
        import ssl
        import threading
        with open(self.key_file, "rb") as f:
            secret = f.read().strip()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                mac = hmac.new(secret, self.headers["X-Jwts-Timestamp"].encode() + b"." + body, hashlib.sha256)
                ok = hmac.compare_digest("sha256=" + mac.hexdigest(), self.headers["X-Jwts-Signature"])
                if ok:
                    got.extend(json.loads(body))
                self.send_response(204 if ok else 401)
                self.end_headers()

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return srv.server_address[1], cert

    def test_https_webhook_verifies_the_certificate(self):
        got = []
        port, cert = self.https_receiver(got)
        url = "https://127.0.0.1:%d/events" % port
        # trusted through --events-webhook-ca: delivered, signed
        with Daemon("--events-webhook", url, "--events-webhook-secret-file", self.key_file, "--store", "memory",
                    "--events-webhook-ca", cert) as d:
            t = d.create("grace")
            self.assertTrue(wait_until(lambda: len(got) == 1, timeout=10), d.log_text()[-2000:])
            self.assertEqual((got[0]["type"], got[0]["session_id"]), ("created", t["session_id"]))
            self.assertEqual(metric(d, "jwtsessiond_events_delivered_total"), 1)
        # the same receiver without that CA: its certificate is refused, nothing is delivered
        with Daemon("--events-webhook", url, "--events-webhook-secret-file", self.key_file, "--store", "memory",
                    "--events-retry", "1s") as d:
            d.create("heidi")
            self.assertTrue(wait_until(lambda: metric(d, "jwtsessiond_events_failed_total") == 1, timeout=15),
                            d.log_text()[-2000:])
            self.assertEqual(len(got), 1)
            self.assertEqual(metric(d, "jwtsessiond_events_delivered_total"), 0)
            self.assertIn("certificate", d.log_text())  # the log says why

    def test_bad_webhook_settings_are_refused(self):
        daemon = os.environ.get("JWTSESSIOND", "build/daemon/jwtsessiond")
        for args, says in [(["--events-webhook", "ftp://127.0.0.1/x"], b"http:// and https://"),
                           (["--events-webhook", "https://user:pw@127.0.0.1/x"], b"without credentials"),
                           (["--events-webhook", "https://127.0.0.1/x", "--events-webhook-ca",
                             os.path.join(self.tmp, "missing.pem")], b"events-webhook-ca")]:
            p = subprocess.run([daemon, "--listen", "127.0.0.1:%d" % free_port(), "--store", "memory",
                                "--events-webhook-secret-file", self.key_file] + args, capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(says, p.stderr)
            self.assertNotIn(b"pw@", p.stderr)

    def test_secret_file_readable_by_others_is_refused(self):
        os.chmod(self.key_file, 0o644)
        port = free_port()
        p = subprocess.run([os.environ.get("JWTSESSIOND", "build/daemon/jwtsessiond"), "--listen",
                            "127.0.0.1:%d" % port, "--store", "memory", "--events-webhook", "http://127.0.0.1:1/",
                            "--events-webhook-secret-file", self.key_file], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"chmod 600", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
