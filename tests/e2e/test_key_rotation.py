#!/usr/bin/env python3
"""test_key_rotation.py - the signing key lifecycle of docs/keys.md over real HTTP.

1. The docs/keys.md example block (marked `test_key_rotation: example`) runs as written, in an
   empty directory with this build's programs first on PATH and a free port for 8080.
2. Rotation under load: jwtsessiond with a key file; `wrk` validates (GET /v1/auth) tokens issued
   before and between two rotations (CLI rotate + SIGHUP, then CLI rotate + the admin call) while
   they happen: no answer but 200 for tokens within their lifetime. The JWKS shows the next key
   before it signs; ETag/304; a bad key file on reload leaves the old keys serving with the error
   reported; after its retire time a token signed by the first key (forged with a far exp, so only
   the retirement can refuse it) gets 401 JWTS_E_KEY_NOT_FOUND where it passed before.
3. A --verify-only daemon on the same Redis, whose key file lacks the signer's new key: a flood of
   tokens with the unknown kid causes one reload, not one per token; once the file holds the key,
   the next unknown kid after --key-refetch-interval reloads it and the token is accepted.
"""
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Daemon, Redis, b64url_json, free_port, request, wait_until  # noqa: E402

CLI = os.environ.get("JWTS_CLI", "build/cli/jwtsession")
WRK = shutil.which("wrk")
LIFE = 8  # seconds: access token lifetime, and the rotation's --token-lifetime
ROTATE = ["--publish-ahead", "1s", "--token-lifetime", "%ds" % LIFE, "--leeway", "1s"]


def cli(*args, check=True):
    p = subprocess.run([CLI] + list(args), capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, "jwtsession %s: %s" % (" ".join(args), p.stderr)
    return p


def kid_of(token):
    return b64url_json(token.split(".")[0])["kid"]


def jwks_kids(d):
    r = d.req("GET", "/.well-known/jwks.json")
    assert r.status == 200, r
    return [k["kid"] for k in r.json()["keys"]], r


def states(path):
    """kid -> state of the key file at path (its lifecycle members)."""
    with open(path) as f:
        return {k["kid"]: k["jwts_state"] for k in json.load(f)["keys"]}


def metric(d, name):
    text = d.req("GET", "/metrics").body.decode()
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


class DocExample(unittest.TestCase):
    def test_docs_example_runs(self):
        modes = {}
        rc, out, log = harness.run_doc_example(
            "keys.md", "test_key_rotation: example", CLI,
            inspect=lambda d: modes.update(keys=os.stat(os.path.join(d, "keys.json")).st_mode & 0o777))
        self.assertEqual(rc, 0, out + log[-3000:])
        self.assertFalse([m for m in harness.SANITIZER_MARKS if m in log], log[-8000:])
        self.assertRegex(out, r"(?i)cache-control: public, max-age=2")
        self.assertRegex(out, r'(?i)etag: "[A-Za-z0-9_-]{22}"')
        self.assertIn("\n304\n", out)
        self.assertIn('"reloaded":true', out)
        status = re.findall(r"^(active|next|retiring)\s", out, re.M)
        self.assertEqual(status[-3:], ["active", "next", "retiring"], out)
        self.assertIn('jwtsessiond_key_reloads_total{result="ok"} 2', out)
        self.assertIn('"trigger":"SIGHUP"', log)
        self.assertIn('"trigger":"admin"', log)
        self.assertEqual(modes["keys"], 0o600)


@unittest.skipUnless(WRK, "no wrk")
class RotationUnderLoad(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="jwts-keys-")
        self.keys = os.path.join(self.tmp, "keys.json")
        self.lua = os.path.join(self.tmp, "tokens.lua")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def wrk(self, port, tokens, seconds):
        """Start wrk validating tokens round robin on GET /v1/auth for seconds."""
        with open(self.lua, "w") as f:
            f.write("local tokens = {%s}\nlocal i = 0\n" % ",".join('"%s"' % t for t in tokens))
            f.write("request = function()\n  i = i + 1\n"
                    "  return wrk.format('GET', '/v1/auth', {['Authorization'] = 'Bearer ' .. tokens[i % #tokens + 1]})\n"
                    "end\n")
        return subprocess.Popen([WRK, "-t1", "-c4", "-d%ds" % seconds, "--timeout", "5s", "-s", self.lua,
                                 "http://127.0.0.1:%d/" % port], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)

    def wrk_result(self, proc):
        out, _ = proc.communicate(timeout=60)
        m = re.search(r"(\d+) requests in", out)
        self.assertTrue(m, out)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        return int(m.group(1)), int(non2xx.group(1)) if non2xx else 0, \
            sum(int(g) for g in errors.groups()) if errors else 0, out

    def assert_live(self, tokens, seconds):
        """The test's own precondition: every token outlives the next wrk run."""
        for t in tokens:
            exp = b64url_json(t.split(".")[1])["exp"]
            self.assertGreater(exp, time.time() + seconds + 0.5, "machine too slow for the token lifetime")

    def rotate_under_load(self, d, tokens, reload):
        """A 2 s wrk run over tokens with a rotation and reload in its middle; returns the new active kid."""
        with open(self.keys) as f:
            published = [k["jwts_published_at"] for k in json.load(f)["keys"] if k["jwts_state"] == "next"][0]
        time.sleep(max(0, published + 1 - time.time()))  # publish-ahead (1 s) before the rotation
        self.assert_live(tokens, 2)
        load = self.wrk(d.port, tokens, 2)
        time.sleep(0.7)
        cli("key", "rotate", "--key", self.keys, *ROTATE)
        reload()
        n, non2xx, errors, out = self.wrk_result(load)
        print("wrk during a rotation: %d requests, %d non-2xx, %d socket errors" % (n, non2xx, errors))
        self.assertGreater(n, 0, out)
        self.assertEqual(non2xx, 0, out)
        self.assertEqual(errors, 0, out)
        return [k for k, s in states(self.keys).items() if s == "active"][0]

    def forge(self, key_jwk, session):
        """A token signed by key_jwk for a real session, with an exp far away."""
        path = os.path.join(self.tmp, "k1.jwk")
        with open(path, "w") as f:
            f.write(json.dumps(key_jwk))
        os.chmod(path, 0o600)
        claims = {"iss": "jwtsession", "sub": session["user_id"], "sid": session["session_id"],
                  "iat": int(time.time()), "exp": int(time.time()) + 3600}
        return cli("token", "sign", "--key", path, "--claims", json.dumps(claims)).stdout.strip()

    def test_rotation_under_load(self):
        cli("key", "rotate", "--key", self.keys, "--alg", "ES256", *ROTATE)
        self.assertEqual(os.stat(self.keys).st_mode & 0o777, 0o600)
        first = states(self.keys)
        k1 = [k for k, s in first.items() if s == "active"][0]
        k2 = [k for k, s in first.items() if s == "next"][0]
        with open(self.keys) as f:
            k1_jwk = {k: v for k, v in [x for x in json.load(f)["keys"] if x["kid"] == k1][0].items()
                      if not k.startswith("jwts_")}
        with Daemon("--store", "memory", "--key", self.keys, "--access-ttl", "%ds" % LIFE,
                    "--jwks-max-age", "1s") as d:
            # publish-ahead: the next key is in the JWKS while the active key signs
            kids, r = jwks_kids(d)
            self.assertEqual(sorted(kids), sorted([k1, k2]))
            self.assertEqual(r.headers["cache-control"], "public, max-age=1")
            etag = r.headers["etag"]
            self.assertRegex(etag, r'^"[A-Za-z0-9_-]{22}"$')
            r304 = d.req("GET", "/.well-known/jwks.json", headers={"If-None-Match": 'W/"x", ' + etag})
            self.assertEqual((r304.status, r304.body), (304, b""))
            self.assertEqual(r304.headers["etag"], etag)
            self.assertEqual(d.req("GET", "/.well-known/jwks.json", headers={"If-None-Match": '"other"'}).status, 200)
            s1 = [d.create("user%d" % i) for i in range(4)]
            t1 = [s["access_token"] for s in s1]
            self.assertEqual({kid_of(t) for t in t1}, {k1})
            forged = self.forge(k1_jwk, s1[0])
            self.assertEqual(d.req("GET", "/v1/auth", token=forged).status, 200)  # k1 still verifies

            # rotation 1 under load: CLI rotate + SIGHUP
            hup = lambda: d.proc.send_signal(signal.SIGHUP)  # noqa: E731
            active = self.rotate_under_load(d, t1, hup)
            self.assertEqual(active, k2)
            self.assertTrue(wait_until(lambda: kid_of(d.create("probe")["access_token"]) == k2, timeout=10))
            kids, r = jwks_kids(d)
            self.assertNotEqual(r.headers["etag"], etag)
            k3 = [k for k, s in states(self.keys).items() if s == "next"][0]
            self.assertEqual(sorted(kids), sorted([k1, k2, k3]))  # k3 published before it signs

            # rotation 2 under load, tokens of both keys: CLI rotate + the admin call
            t2 = [d.create("late%d" % i)["access_token"] for i in range(4)]
            self.assertEqual({kid_of(t) for t in t2}, {k2})
            admin = lambda: self.assertEqual(d.admin("POST", "/v1/admin/keys/reload").status, 200)  # noqa: E731
            active = self.rotate_under_load(d, t1 + t2, admin)
            self.assertEqual(active, k3)
            s3 = d.create("third")
            self.assertEqual(kid_of(s3["access_token"]), k3)
            self.assertEqual(metric(d, 'jwtsessiond_key_reloads_total{result="ok"}'), 2)
            self.assertNotIn("was not in the JWKS before", d.log_text())  # each key was published ahead
            self.assertEqual(metric(d, 'jwtsessiond_keys{state="retiring"}'), 2)

            # a bad key file: the reload fails, the keys in service keep serving
            with open(self.keys) as f:
                good = f.read()
            with open(self.keys, "w") as f:
                f.write(good.replace('"jwts_state":"next"', '"jwts_state":"active"'))
            r = d.admin("POST", "/v1/admin/keys/reload")
            self.assertEqual(r.status, 422, r)
            self.assertEqual(r.json()["error"], "JWTS_E_MALFORMED")
            self.assertIn("exactly one is needed", r.json()["message"])
            d.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_until(lambda: metric(d, 'jwtsessiond_key_reloads_total{result="failed"}') == 2))
            self.assertIn("key reload failed: the keys in service are kept", d.log_text())
            self.assertEqual(d.req("GET", "/v1/auth", token=s3["access_token"]).status, 200)
            self.assertEqual(d.req("GET", "/v1/auth", token=t2[0]).status, 200)
            self.assertEqual(kid_of(d.create("after-bad")["access_token"]), k3)
            with open(self.keys, "w") as f:
                f.write(good)

            # k1's retire time passes: a reload leaves it out; its tokens are refused
            with open(self.keys) as f:
                retire_at = [k["jwts_retire_at"] for k in json.load(f)["keys"] if k["kid"] == k1][0]
            time.sleep(max(0, retire_at - time.time()) + 0.1)
            self.assertEqual(d.admin("POST", "/v1/admin/keys/reload").status, 200)
            kids, _ = jwks_kids(d)
            self.assertNotIn(k1, kids)
            r = d.req("GET", "/v1/users/%s/sessions" % s1[0]["user_id"], token=forged)
            self.assertEqual(r.status, 401, r)
            self.assertEqual(r.json()["error"], "JWTS_E_KEY_NOT_FOUND")
            self.assertEqual(d.req("GET", "/v1/auth", token=forged).status, 401)
            self.assertEqual(d.req("GET", "/v1/auth", token=s3["access_token"]).status, 200)


class VerifierRefetch(unittest.TestCase):
    def test_unknown_kid_refetch_once_per_interval(self):
        tmp = tempfile.mkdtemp(prefix="jwts-keys-")
        try:
            keys, public = os.path.join(tmp, "keys.json"), os.path.join(tmp, "public.json")
            cli("key", "rotate", "--key", keys, "--alg", "EdDSA", "--publish-ahead", "0")
            with open(public, "w") as f:
                f.write(cli("jwks", keys).stdout)
            with Redis() as redis:
                store = ["--store", redis.url() + "?key_prefix=rot:", "--cache=false"]
                with Daemon(*store, "--key", keys) as signer, \
                        Daemon(*store, "--key", public, "--verify-only", "--key-refetch-interval", "2s") as verifier:
                    s = signer.create("alice")
                    self.assertEqual(verifier.req("GET", "/v1/auth", token=s["access_token"]).status, 200)
                    # the signer rotates twice: its active key is one the verifier's file never had
                    cli("key", "rotate", "--key", keys, "--publish-ahead", "0")
                    cli("key", "rotate", "--key", keys, "--publish-ahead", "0")
                    self.assertEqual(signer.admin("POST", "/v1/admin/keys/reload").status, 200)
                    self.assertIn("was not in the JWKS before", signer.log_text())  # no reload in between
                    new = signer.create("bob")
                    path = "/v1/users/bob/sessions"
                    flood = [verifier.req("GET", path, token=new["access_token"]) for _ in range(40)]
                    self.assertEqual({(r.status, r.json()["error"]) for r in flood}, {(401, "JWTS_E_KEY_NOT_FOUND")})
                    reloads = lambda: [l for l in verifier.log_lines()  # noqa: E731
                                       if l.get("msg") == "keys reloaded" and l.get("trigger") == "unknown kid"]
                    self.assertTrue(wait_until(lambda: len(reloads()) == 1, timeout=5))
                    # the verifier's file gets the new key; within the interval nothing reloads
                    with open(public + ".new", "w") as f:
                        f.write(cli("jwks", keys).stdout)
                    os.replace(public + ".new", public)
                    self.assertTrue(wait_until(
                        lambda: verifier.req("GET", path, token=new["access_token"]).status == 200, timeout=10, step=0.1))
                    done = reloads()
                    self.assertEqual(len(done), 2)
                    ts = [datetime.datetime.strptime(l["ts"], "%Y-%m-%dT%H:%M:%S.%fZ") for l in done]
                    self.assertGreaterEqual((ts[1] - ts[0]).total_seconds(), 1.9)  # not before the interval ran out
                    self.assertEqual(metric(verifier, 'jwtsessiond_key_reloads_total{result="ok"}'), 2)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
