"""test_api.py - jwtsessiond's HTTP API over real HTTP: every endpoint and its errors.

Each class starts its own jwtsessiond on a free loopback port and stops it by pid. The store is
memory, or the Redis deployment JWTS_E2E_STORE names (redis, cluster, sentinel; harness.py), with
the daemon's near cache on unless JWTS_E2E_CACHE=false: CTest runs every variant.
Run: JWTSESSIOND=build/daemon/jwtsessiond [JWTS_E2E_STORE=cluster] python3 tests/e2e/test_api.py
"""
import http.server
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import ADMIN_KEY, DAEMON, STORE_NAME, Daemon, b64url_json, free_port, request, wait_until


def error_of(r):
    body = r.json()
    assert set(body) == {"error", "message"}, body
    assert body["message"], body
    return body["error"]


class Base(unittest.TestCase):
    daemon_args = ()
    daemon_env = None

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(*cls.daemon_args, env=cls.daemon_env)

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop()
        text = cls.d.log_text()
        cls.d.close()
        assert code == 0, "jwtsessiond exit code %s" % code
        cls.check_log(text)

    # Secrets that must never reach the log; tests add every token they see.
    secrets = set()

    @classmethod
    def check_log(cls, text):
        for line in text.splitlines():
            json.loads(line)  # every line is one JSON object
        for s in cls.secrets | {ADMIN_KEY}:
            assert s not in text, "a secret reached the log"

    def create(self, user="alice", metadata=None):
        t = self.d.create(user, metadata)
        self.secrets.update({t["access_token"], t["refresh_token"]})
        return t

    def assertError(self, r, status, name):
        self.assertEqual(r.status, status, r)
        self.assertEqual(error_of(r), name, r)
        self.assertTrue(r.headers["content-type"].startswith("application/json"))

    def assertAuthError(self, r, status, name):
        """GET /v1/auth's refusals: no body (a proxy's auth subrequest keeps its connection), the
        error in headers, and on a 401 a Bearer challenge naming it."""
        self.assertEqual(r.status, status, r)
        self.assertEqual((r.body, r.headers["content-length"]), (b"", "0"), r)
        self.assertEqual(r.headers["x-session-error"], name, r)
        self.assertTrue(r.headers["x-session-error-description"], r)
        if status == 401:
            self.assertTrue(r.headers["www-authenticate"].startswith('Bearer realm="jwtsession"'), r)


class TestHealth(Base):
    def test_healthz(self):
        r = self.d.req("GET", "/healthz")
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))

    def test_readyz(self):
        r = self.d.req("GET", "/readyz")
        self.assertEqual((r.status, r.json()), (200, {"status": "ready", "store": STORE_NAME}))

    def test_unknown_path_404(self):
        self.assertError(self.d.req("GET", "/nope"), 404, "JWTS_E_NOT_FOUND")
        self.assertError(self.d.req("GET", "/v1/users/alice"), 404, "JWTS_E_NOT_FOUND")

    def test_wrong_method_405(self):
        r = self.d.req("PUT", "/v1/auth")
        self.assertError(r, 405, "JWTS_E_UNSUPPORTED")
        self.assertEqual(r.headers["allow"], "GET, HEAD")
        r = self.d.req("GET", "/v1/sessions")
        self.assertError(r, 405, "JWTS_E_UNSUPPORTED")
        self.assertEqual(r.headers["allow"], "POST")
        r = self.d.req("PUT", "/v1/sessions/abc")
        self.assertError(r, 405, "JWTS_E_UNSUPPORTED")
        self.assertEqual(r.headers["allow"], "GET, DELETE, PATCH")

    def test_jwks_of_generated_hmac_key_is_empty(self):
        r = self.d.req("GET", "/.well-known/jwks.json")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"keys": []})

    def test_metrics(self):
        self.d.req("GET", "/healthz")
        r = self.d.req("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/plain"))
        text = r.body.decode()
        self.assertIn('jwtsessiond_http_requests_total{route="/healthz",code="2xx"}', text)
        self.assertIn("jwtsession_keyset_keys", text)
        r = self.d.req("GET", "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        self.assertTrue(r.headers["content-type"].startswith("application/openmetrics-text"))
        self.assertTrue(r.body.decode().rstrip().endswith("# EOF"))


class TestCreate(Base):
    def test_create_returns_tokens(self):
        r = self.d.admin("POST", "/v1/sessions", json_body={"user_id": "alice", "metadata": {"device": "phone"}})
        self.assertEqual(r.status, 201, r)
        t = r.json()
        self.secrets.update({t["access_token"], t["refresh_token"]})
        self.assertEqual(t["user_id"], "alice")
        self.assertEqual(t["token_type"], "Bearer")
        self.assertEqual(t["expires_in"], 900)
        self.assertEqual(t["refresh_expires_in"], 30 * 86400)
        header, claims = (b64url_json(p) for p in t["access_token"].split(".")[:2])
        self.assertEqual(header["alg"], "HS256")
        self.assertEqual(claims["sub"], "alice")
        self.assertEqual(claims["sid"], t["session_id"])
        self.assertEqual(claims["iss"], "jwtsession")
        self.assertEqual(claims["exp"] - claims["iat"], 900)

    def test_metadata_kept_byte_for_byte(self):
        t = self.create("meta-user", None)
        raw = b'{"user_id":"meta-user2","metadata":{"n":1.10,"big":9007199254740993,"s":"\\u00e9"}}'
        r = self.d.admin("POST", "/v1/sessions", body=raw, headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 201, r)
        r = self.d.admin("GET", "/v1/users/meta-user2/sessions")
        self.assertIn(b'"n":1.10', r.body)
        self.assertIn(b'"big":9007199254740993', r.body)
        self.assertTrue(t)

    def test_no_token_401_with_bare_challenge(self):
        r = self.d.req("POST", "/v1/sessions", json_body={"user_id": "alice"})
        self.assertError(r, 401, "JWTS_E_INVALID_ARGUMENT")
        self.assertEqual(r.headers["www-authenticate"], 'Bearer realm="jwtsession"')

    def test_wrong_admin_key_401(self):
        r = self.d.req("POST", "/v1/sessions", json_body={"user_id": "alice"}, token=ADMIN_KEY + "x")
        self.assertError(r, 401, "JWTS_E_MALFORMED")
        self.assertIn('error="invalid_token"', r.headers["www-authenticate"])
        r = self.d.req("POST", "/v1/sessions", json_body={"user_id": "alice"}, token=ADMIN_KEY[:-1])
        self.assertEqual(r.status, 401)

    def test_user_token_is_not_admin_403(self):
        t = self.create("bob")
        r = self.d.req("POST", "/v1/sessions", json_body={"user_id": "bob"}, token=t["access_token"])
        self.assertError(r, 403, "JWTS_E_CLAIM_MISMATCH")

    def test_bad_bodies_400(self):
        cases = [
            ({"metadata": {}}, "JWTS_E_INVALID_ARGUMENT"),               # no user_id
            ({"user_id": 7}, "JWTS_E_INVALID_ARGUMENT"),                 # not a string
            ({"user_id": "a", "admin": True}, "JWTS_E_INVALID_ARGUMENT"),  # unknown member
            ({"user_id": "a{b}"}, "JWTS_E_INVALID_ARGUMENT"),            # braces
            ({"user_id": ""}, "JWTS_E_INVALID_ARGUMENT"),
            ({"user_id": "x" * 256}, "JWTS_E_INVALID_ARGUMENT"),
            ({"user_id": "a", "metadata": [1]}, "JWTS_E_INVALID_ARGUMENT"),
            ({"user_id": "a", "metadata": "x"}, "JWTS_E_INVALID_ARGUMENT"),
        ]
        for body, name in cases:
            with self.subTest(body=body):
                self.assertError(self.d.admin("POST", "/v1/sessions", json_body=body), 400, name)

    def test_malformed_json_400(self):
        for raw in [b"{", b"", b"[]", b'"x"', b'{"user_id":"a","user_id":"b"}', b"{'user_id':'a'}", b"\xff\xfe"]:
            with self.subTest(raw=raw):
                r = self.d.admin("POST", "/v1/sessions", body=raw, headers={"Content-Type": "application/json"})
                self.assertError(r, 400, "JWTS_E_MALFORMED")

    def test_metadata_too_deep_400(self):
        deep = {}
        cur = deep
        for _ in range(40):
            cur["a"] = {}
            cur = cur["a"]
        r = self.d.admin("POST", "/v1/sessions", json_body={"user_id": "deep", "metadata": deep})
        self.assertEqual(r.status, 400, r)

    def test_wrong_content_type_415(self):
        for ct in [None, "text/plain", "application/jsonx", "application/x-www-form-urlencoded"]:
            with self.subTest(ct=ct):
                headers = {"Content-Type": ct} if ct else {}
                r = self.d.admin("POST", "/v1/sessions", body=b'{"user_id":"a"}', headers=headers)
                self.assertError(r, 415, "JWTS_E_UNSUPPORTED")
        r = self.d.admin("POST", "/v1/sessions", body=b'{"user_id":"ct"}',
                         headers={"Content-Type": "Application/JSON; charset=utf-8"})
        self.assertEqual(r.status, 201, r)
        self.secrets.update({r.json()["access_token"], r.json()["refresh_token"]})

    def test_body_too_large_413(self):
        big = {"user_id": "a", "metadata": {"x": "y" * (70 * 1024)}}
        self.assertError(self.d.admin("POST", "/v1/sessions", json_body=big), 413, "JWTS_E_LIMIT")


class TestAuth(Base):
    def test_valid_token_200_with_headers(self):
        t = self.create("carol")
        r = self.d.req("GET", "/v1/auth", token=t["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["x-session-user"], "carol")
        self.assertEqual(r.headers["x-session-id"], t["session_id"])
        self.assertEqual((r.body, r.headers["content-length"]), (b"", "0"))  # nothing for a proxy to drain
        exp = b64url_json(t["access_token"].split(".")[1])["exp"]
        self.assertEqual(r.headers["x-session-expires"], str(exp))
        r = self.d.req("HEAD", "/v1/auth", token=t["access_token"])
        self.assertEqual((r.status, r.headers["x-session-user"], r.body), (200, "carol", b""))
        r = self.d.req("HEAD", "/v1/auth", token="not-a-jwt")
        self.assertEqual((r.status, r.headers["x-session-error"], r.body), (401, "JWTS_E_MALFORMED", b""))

    def test_missing_token_401(self):
        r = self.d.req("GET", "/v1/auth")
        self.assertAuthError(r, 401, "JWTS_E_INVALID_ARGUMENT")
        self.assertEqual(r.headers["www-authenticate"], 'Bearer realm="jwtsession"')
        r = self.d.req("GET", "/v1/auth", headers={"Authorization": "Basic YTpi"})
        self.assertEqual(r.status, 401)

    def test_garbage_token_401(self):
        r = self.d.req("GET", "/v1/auth", token="not-a-jwt")
        self.assertAuthError(r, 401, "JWTS_E_MALFORMED")
        www = r.headers["www-authenticate"]
        self.assertTrue(www.startswith('Bearer realm="jwtsession", error="invalid_token", error_description="'), www)

    def test_error_description_is_a_safe_quoted_string(self):
        """RFC 6750 3: error_description holds only %x20-21 / %x23-5B / %x5D-7E, bounded."""
        for token in ["not-a-jwt", "a.b.c", "\u00e9\u00e9.x.y", 'x"y\\z.a.b', "x" * 5000]:
            with self.subTest(token=token[:20]):
                r = self.d.req("GET", "/v1/auth", headers={"Authorization": ("Bearer " + token).encode().decode("latin-1")})
                self.assertEqual(r.status, 401, r)
                www = r.headers["www-authenticate"]
                desc = www.split('error_description="', 1)[1]
                self.assertTrue(desc.endswith('"'), www)
                self.assertTrue(all(0x20 <= ord(c) <= 0x7e and c not in '"\\' for c in desc[:-1]), www)
                self.assertLess(len(www), 512)

    def test_tampered_signature_401(self):
        t = self.create("dave")
        h, p, s = t["access_token"].split(".")
        s = ("A" if s[0] != "A" else "B") + s[1:]
        r = self.d.req("GET", "/v1/auth", token="%s.%s.%s" % (h, p, s))
        self.assertAuthError(r, 401, "JWTS_E_BAD_SIGNATURE")

    def test_admin_key_is_not_a_session_401(self):
        self.assertEqual(self.d.req("GET", "/v1/auth", token=ADMIN_KEY).status, 401)


class TestRefresh(Base):
    def test_rotation_and_grace(self):
        t = self.create("erin")
        r = self.d.req("POST", "/v1/refresh", json_body={"refresh_token": t["refresh_token"]})
        self.assertEqual(r.status, 200, r)
        n = r.json()
        self.secrets.update({n["access_token"], n["refresh_token"]})
        self.assertEqual(n["session_id"], t["session_id"])
        self.assertEqual(n["user_id"], "erin")
        self.assertNotEqual(n["refresh_token"], t["refresh_token"])
        self.assertEqual(self.d.req("GET", "/v1/auth", token=n["access_token"]).status, 200)
        # Inside the grace window the previous token gets the same new pair.
        again = self.d.req("POST", "/v1/refresh", json_body={"refresh_token": t["refresh_token"]})
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json()["refresh_token"], n["refresh_token"])

    def test_bad_requests(self):
        self.assertError(self.d.req("POST", "/v1/refresh", json_body={}), 400, "JWTS_E_INVALID_ARGUMENT")
        self.assertError(self.d.req("POST", "/v1/refresh", json_body={"refresh_token": 1}), 400,
                         "JWTS_E_INVALID_ARGUMENT")
        self.assertError(self.d.req("POST", "/v1/refresh", json_body={"refresh_token": "junk"}), 401,
                         "JWTS_E_MALFORMED")
        t = self.create("frank")
        forged = t["refresh_token"][:-4] + ("AAAA" if not t["refresh_token"].endswith("AAAA") else "BBBB")
        r = self.d.req("POST", "/v1/refresh", json_body={"refresh_token": forged})
        self.assertEqual(r.status, 401, r)


class TestRefreshNoGrace(Base):
    daemon_args = ("--refresh-grace", "off")

    def refresh(self, token):
        r = self.d.req("POST", "/v1/refresh", json_body={"refresh_token": token})
        if r.status == 200:
            self.secrets.update({r.json()["access_token"], r.json()["refresh_token"]})
        return r

    def test_reuse_revokes_session(self):
        t = self.create("grace-less")
        r = self.refresh(t["refresh_token"])
        self.assertEqual(r.status, 200, r)
        n = r.json()
        # No window at all, but the new pair was never used: a retry (a lost reply) gets it again.
        again = self.refresh(t["refresh_token"])
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json()["refresh_token"], n["refresh_token"])
        # Once the new pair is used, the old token coming back is theft.
        self.assertEqual(self.d.req("GET", "/v1/auth", token=n["access_token"]).status, 200)
        r = self.refresh(t["refresh_token"])
        self.assertError(r, 401, "JWTS_E_REFRESH_REUSED")
        self.assertAuthError(self.d.req("GET", "/v1/auth", token=n["access_token"]), 401, "JWTS_E_REVOKED")
        r = self.refresh(n["refresh_token"])
        self.assertEqual(r.status, 401, r)

    def test_token_two_rotations_old_revokes_session(self):
        # A thief rotates a stolen token twice; the victim's token then revokes the session.
        stolen = self.create("two-rotations")
        r1 = self.refresh(stolen["refresh_token"]).json()
        r2 = self.refresh(r1["refresh_token"]).json()
        self.assertEqual(self.d.req("GET", "/v1/auth", token=r2["access_token"]).status, 200)
        self.assertError(self.refresh(stolen["refresh_token"]), 401, "JWTS_E_REFRESH_REUSED")
        self.assertAuthError(self.d.req("GET", "/v1/auth", token=r2["access_token"]), 401, "JWTS_E_REVOKED")

    def test_forged_token_after_rotations_revokes_nothing(self):
        t = self.create("forged-after")
        r2 = self.refresh(self.refresh(t["refresh_token"]).json()["refresh_token"]).json()
        forged = r2["refresh_token"][:-4] + ("AAAA" if not r2["refresh_token"].endswith("AAAA") else "BBBB")
        self.assertError(self.refresh(forged), 401, "JWTS_E_NOT_FOUND")
        self.assertEqual(self.d.req("GET", "/v1/auth", token=r2["access_token"]).status, 200)


class TestSessions(Base):
    def test_revoke_own_session(self):
        t = self.create("gina")
        other = self.create("gina")
        sid = t["session_id"]
        r = self.d.req("DELETE", "/v1/sessions/" + sid, token=t["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"revoked": 1, "session_id": sid, "user_id": "gina"})
        self.assertAuthError(self.d.req("GET", "/v1/auth", token=t["access_token"]), 401, "JWTS_E_REVOKED")
        self.assertEqual(self.d.req("GET", "/v1/auth", token=other["access_token"]).status, 200)
        # The revoked token can no longer act.
        self.assertEqual(self.d.req("DELETE", "/v1/sessions/" + sid, token=t["access_token"]).status, 401)

    def test_user_cannot_reach_another_users_session(self):
        mine = self.create("hank")
        theirs = self.create("ivy")
        r = self.d.req("DELETE", "/v1/sessions/" + theirs["session_id"], token=mine["access_token"])
        self.assertError(r, 404, "JWTS_E_NOT_FOUND")
        self.assertEqual(self.d.req("GET", "/v1/auth", token=theirs["access_token"]).status, 200)

    def test_admin_revoke_by_session_id_alone(self):
        # issue #16: an admin holding only the session id (a log line, an audit record) revokes it
        t = self.create("jack")
        other = self.create("jack")
        path = "/v1/sessions/" + t["session_id"]
        got = self.d.admin("GET", path)
        self.assertEqual(got.status, 200, got)
        self.assertEqual((got.json()["user_id"], got.json()["session_id"]), ("jack", t["session_id"]))
        self.assertNotIn("refresh", got.body.decode())
        # ?user_id= is still taken, and checked: another user's name finds nothing, changes nothing
        self.assertError(self.d.admin("GET", path + "?user_id=someone-else"), 404, "JWTS_E_NOT_FOUND")
        self.assertError(self.d.admin("DELETE", path + "?user_id=someone-else"), 404, "JWTS_E_NOT_FOUND")
        self.assertEqual(self.d.req("GET", "/v1/auth", token=t["access_token"]).status, 200)
        r = self.d.admin("DELETE", path)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"revoked": 1, "session_id": t["session_id"], "user_id": "jack"})
        self.assertAuthError(self.d.req("GET", "/v1/auth", token=t["access_token"]), 401, "JWTS_E_REVOKED")
        self.assertEqual(self.d.req("GET", "/v1/auth", token=other["access_token"]).status, 200)
        self.assertError(self.d.admin("DELETE", path), 404, "JWTS_E_NOT_FOUND")
        self.assertError(self.d.admin("GET", path), 404, "JWTS_E_NOT_FOUND")
        # with its user named, as before
        r = self.d.admin("DELETE", "/v1/sessions/%s?user_id=jack" % other["session_id"])
        self.assertEqual(r.status, 200, r)
        self.assertAuthError(self.d.req("GET", "/v1/auth", token=other["access_token"]), 401, "JWTS_E_REVOKED")
        # an id nobody holds, and the session view is for the admin only
        self.assertError(self.d.admin("DELETE", "/v1/sessions/" + "A" * 28), 404, "JWTS_E_NOT_FOUND")
        self.assertError(self.d.admin("DELETE", "/v1/sessions/web-1"), 404, "JWTS_E_NOT_FOUND")
        mine = self.create("jack-later")
        self.assertEqual(self.d.req("GET", "/v1/sessions/" + mine["session_id"], token=mine["access_token"]).status,
                         403)

    def test_revoke_errors(self):
        self.assertError(self.d.req("DELETE", "/v1/sessions/abc"), 401, "JWTS_E_INVALID_ARGUMENT")
        self.assertError(self.d.admin("DELETE", "/v1/sessions/bad%21id?user_id=a"), 400, "JWTS_E_INVALID_ARGUMENT")
        self.assertError(self.d.admin("DELETE", "/v1/sessions/%zz?user_id=a"), 400, "JWTS_E_INVALID_ARGUMENT")

    def test_list_sessions(self):
        a = self.create("kim", {"device": "laptop"})
        b = self.create("kim", {"device": "phone"})
        r = self.d.req("GET", "/v1/users/kim/sessions", token=b["access_token"])
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual((body["user_id"], body["count"]), ("kim", 2))
        by_id = {s["session_id"]: s for s in body["sessions"]}
        self.assertEqual(set(by_id), {a["session_id"], b["session_id"]})
        self.assertEqual(by_id[a["session_id"]]["metadata"], {"device": "laptop"})
        self.assertEqual((by_id[a["session_id"]]["current"], by_id[b["session_id"]]["current"]), (False, True))
        for s in body["sessions"]:
            # the library's one public view (jwts_session_view), the CLI's list shows the same members
            self.assertEqual(set(s), {"user_id", "session_id", "created_at_ms", "updated_at_ms", "last_seen_at_ms",
                                      "expires_at_ms", "idle_expires_at_ms", "client_ip", "user_agent", "metadata",
                                      "current"})
            self.assertIsNone(s["idle_expires_at_ms"])  # no idle limit
            self.assertGreater(s["expires_at_ms"], s["created_at_ms"])
            self.assertNotIn("refresh", json.dumps(s))
        self.assertEqual(self.d.admin("GET", "/v1/users/kim/sessions").json()["count"], 2)
        self.assertError(self.d.req("GET", "/v1/users/kim/sessions"), 401, "JWTS_E_INVALID_ARGUMENT")

    def test_list_other_user_403(self):
        t = self.create("lee")
        self.create("max")
        r = self.d.req("GET", "/v1/users/max/sessions", token=t["access_token"])
        self.assertError(r, 403, "JWTS_E_CLAIM_MISMATCH")
        r = self.d.req("DELETE", "/v1/users/max/sessions", token=t["access_token"])
        self.assertError(r, 403, "JWTS_E_CLAIM_MISMATCH")

    def test_list_empty_and_encoded_user_ids(self):
        r = self.d.admin("GET", "/v1/users/nobody-here/sessions")
        self.assertEqual((r.status, r.json()["count"], r.json()["sessions"]), (200, 0, []))
        t = self.create("ann/b c@example.com")
        path = "/v1/users/%s/sessions" % urllib.parse.quote("ann/b c@example.com", safe="")
        r = self.d.req("GET", path, token=t["access_token"])
        self.assertEqual((r.status, r.json()["user_id"]), (200, "ann/b c@example.com"))
        self.assertEqual(self.d.req("GET", "/v1/auth", token=t["access_token"]).headers["x-session-user"],
                         "ann/b c@example.com")

    def test_revoke_all_of_a_user(self):
        ts = [self.create("nora") for _ in range(3)]
        r = self.d.req("DELETE", "/v1/users/nora/sessions", token=ts[0]["access_token"])
        self.assertEqual((r.status, r.json()), (200, {"user_id": "nora", "revoked": 3}))
        for t in ts:
            self.assertEqual(self.d.req("GET", "/v1/auth", token=t["access_token"]).status, 401)
        self.create("olga")
        r = self.d.admin("DELETE", "/v1/users/olga/sessions")
        self.assertEqual((r.status, r.json()["revoked"]), (200, 1))
        self.assertEqual(self.d.admin("DELETE", "/v1/users/olga/sessions").json()["revoked"], 0)

    def test_patch_metadata(self):
        t = self.create("pat", {"v": 1})
        path = "/v1/sessions/%s?user_id=pat" % t["session_id"]
        r = self.d.admin("PATCH", path, json_body={"metadata": {"v": 2, "tags": ["a"]}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"session_id": t["session_id"], "user_id": "pat", "metadata": {"v": 2, "tags": ["a"]}})
        listed = self.d.admin("GET", "/v1/users/pat/sessions").json()["sessions"][0]
        self.assertEqual(listed["metadata"], {"v": 2, "tags": ["a"]})
        self.assertEqual(self.d.req("GET", "/v1/auth", token=t["access_token"]).status, 200)

    def test_patch_errors(self):
        t = self.create("quinn")
        path = "/v1/sessions/" + t["session_id"]
        body = {"metadata": {"x": 1}}
        self.assertError(self.d.admin("PATCH", path, json_body=body), 400, "JWTS_E_INVALID_ARGUMENT")
        self.assertError(self.d.req("PATCH", path + "?user_id=quinn", json_body=body, token=t["access_token"]),
                         403, "JWTS_E_CLAIM_MISMATCH")
        self.assertError(self.d.req("PATCH", path + "?user_id=quinn", json_body=body), 401, "JWTS_E_INVALID_ARGUMENT")
        self.assertError(self.d.admin("PATCH", path + "?user_id=quinn", json_body={}), 400, "JWTS_E_INVALID_ARGUMENT")
        self.assertError(self.d.admin("PATCH", path + "?user_id=quinn", json_body={"metadata": 3}), 400,
                         "JWTS_E_INVALID_ARGUMENT")
        self.assertError(self.d.admin("PATCH", "/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA?user_id=quinn", json_body=body),
                         404, "JWTS_E_NOT_FOUND")
        r = self.d.admin("PATCH", path + "?user_id=quinn", body=b"{}", headers={"Content-Type": "text/plain"})
        self.assertError(r, 415, "JWTS_E_UNSUPPORTED")


class TestShortTokens(Base):
    daemon_args = ("--access-ttl", "2s", "--max-sessions", "1")  # exp is in whole seconds: 1-2 s left

    def test_expired_access_token_401(self):
        t = self.create("ttl-user")
        self.assertEqual(self.d.req("GET", "/v1/auth", token=t["access_token"]).status, 200)
        exp = b64url_json(t["access_token"].split(".")[1])["exp"]
        wait_until(lambda: time.time() > exp + 1.05, timeout=5)
        self.assertAuthError(self.d.req("GET", "/v1/auth", token=t["access_token"]), 401, "JWTS_E_EXPIRED")
        # the refresh token still works and gives a fresh access token
        r = self.d.req("POST", "/v1/refresh", json_body={"refresh_token": t["refresh_token"]})
        self.assertEqual(r.status, 200, r)
        self.secrets.update({r.json()["access_token"], r.json()["refresh_token"]})

    def test_session_limit_429(self):
        self.create("limited")
        r = self.d.admin("POST", "/v1/sessions", json_body={"user_id": "limited"})
        self.assertError(r, 429, "JWTS_E_LIMIT")


class TestNoAdmin(unittest.TestCase):
    def test_admin_api_disabled_403(self):
        with Daemon(admin=False) as d:
            r = d.req("POST", "/v1/sessions", json_body={"user_id": "a"}, token=ADMIN_KEY)
            self.assertEqual(r.status, 403, r)
            self.assertEqual(error_of(r), "JWTS_E_UNSUPPORTED")
            self.assertIn("no admin key", d.log_text())


class TestKeys(unittest.TestCase):
    def test_ec_key_file_and_jwks(self):
        with tempfile.TemporaryDirectory() as tmp:
            pem = os.path.join(tmp, "ec.pem")
            subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-out", pem], check=True, capture_output=True)
            with Daemon("--key", pem) as d:
                jwks = d.req("GET", "/.well-known/jwks.json").json()
                self.assertEqual(len(jwks["keys"]), 1)
                key = jwks["keys"][0]
                self.assertEqual((key["kty"], key["crv"]), ("EC", "P-256"))
                self.assertNotIn("d", key)
                t = d.create("eve")
                header = b64url_json(t["access_token"].split(".")[0])
                self.assertEqual((header["alg"], header["kid"]), ("ES256", key["kid"]))
                self.assertEqual(d.req("GET", "/v1/auth", token=t["access_token"]).status, 200)

    def test_jwks_rotation_first_signing_key_active(self):
        import base64
        def oct_key(kid):
            k = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
            return {"kty": "oct", "kid": kid, "alg": "HS256", "k": k}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "keys.jwks")
            with open(path, "w") as f:
                json.dump({"keys": [oct_key("new"), oct_key("old")]}, f)
            with Daemon(env={"JWTSESSION_KEY": path}) as d:
                t = d.create("rot")
                self.assertEqual(b64url_json(t["access_token"].split(".")[0])["kid"], "new")
                self.assertIn('"keys":2', d.log_text())

    def test_missing_key_file_fails_to_start(self):
        p = subprocess.run([DAEMON, "--listen", "127.0.0.1:%d" % free_port(), "--key", "/nonexistent/key.jwk"],
                           capture_output=True, timeout=10)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"/nonexistent/key.jwk", p.stderr)

    def test_generated_key_warning(self):
        with Daemon() as d:
            self.assertIn("tokens die with the process", d.log_text())


class TestConfig(unittest.TestCase):
    def test_help_documents_every_setting(self):
        p = subprocess.run([DAEMON, "--help"], capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        out = p.stdout.decode()
        for name in ["listen", "store", "key", "admin-key-file", "issuer", "audience", "access-ttl", "refresh-ttl",
                     "idle-timeout", "max-sessions", "refresh-grace", "config", "max-body", "max-connections"]:
            self.assertIn("--" + name, out)
        for env in ["JWTSESSION_LISTEN", "JWTSESSION_STORE", "JWTSESSION_KEY", "JWTSESSION_ADMIN_KEY",
                    "JWTSESSION_ISSUER", "JWTSESSION_CONFIG"]:
            self.assertIn(env, out)

    def test_unknown_flag_and_bad_value(self):
        for args, needle in [(["--bogus"], b"unknown option --bogus"), (["--access-ttl", "soon"], b"access-ttl"),
                             (["--limit-policy", "random"], b"limit-policy"), (["stray"], b"unexpected argument")]:
            p = subprocess.run([DAEMON] + args, capture_output=True, timeout=10)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(needle, p.stderr)

    def test_config_file_and_precedence(self):
        port_file, port_env, port_flag = free_port(), free_port(), free_port()
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "jwtsessiond.conf")
            admin = os.path.join(tmp, "admin.key")
            with open(admin, "w") as f:
                f.write("file-admin-key-0123456789\n")
            with open(cfg, "w") as f:
                f.write("# a comment\nlisten = 127.0.0.1:%d\nissuer = from-file\naudience = \"from-file-aud\"\n"
                        "admin-key-file = %s\naccess-ttl = 2m\n\n" % (port_file, admin))
            # the file's issuer, audience, ttl and admin key file apply
            with Daemon("--config", cfg, admin=False, port=port_file) as d:
                r = d.req("POST", "/v1/sessions", json_body={"user_id": "c"}, token="file-admin-key-0123456789")
                self.assertEqual(r.status, 201, r)
                claims = b64url_json(r.json()["access_token"].split(".")[1])
                self.assertEqual((claims["iss"], claims["aud"], claims["exp"] - claims["iat"]),
                                 ("from-file", "from-file-aud", 120))
            # environment beats the file; a flag beats the environment
            env = {"JWTSESSION_CONFIG": cfg, "JWTSESSION_ISSUER": "from-env", "JWTSESSION_ACCESS_TTL": "3m"}
            with Daemon("--access-ttl", "4m", env=env, admin=False, port=port_env) as d:
                r = d.req("POST", "/v1/sessions", json_body={"user_id": "c"}, token="file-admin-key-0123456789")
                claims = b64url_json(r.json()["access_token"].split(".")[1])
                self.assertEqual((claims["iss"], claims["exp"] - claims["iat"]), ("from-env", 240))
            # JWTSESSION_ADMIN_KEY (the key itself) beats the config file's admin-key-file
            with Daemon("--config", cfg, port=port_flag) as d:
                self.assertEqual(d.admin("POST", "/v1/sessions", json_body={"user_id": "c"}).status, 201)
                r = d.req("POST", "/v1/sessions", json_body={"user_id": "c"}, token="file-admin-key-0123456789")
                self.assertEqual(r.status, 401)

    def test_config_listen_used_without_flag(self):
        port = free_port()
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "c.conf")
            with open(cfg, "w") as f:
                f.write("listen = 127.0.0.1:%d\n" % port)
            e = {k: v for k, v in os.environ.items() if not k.startswith("JWTSESSION_")}
            proc = subprocess.Popen([DAEMON, "--config", cfg], env=e, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                def up():
                    try:
                        return request(port, "GET", "/healthz", timeout=1).status == 200
                    except OSError:
                        return False
                self.assertTrue(wait_until(up, timeout=10))
            finally:
                proc.terminate()
                self.assertEqual(proc.wait(timeout=15), 0)

    def test_unknown_config_name_is_an_error(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("listen = 127.0.0.1:1\nlisten_port = 8\n")
            f.flush()
            p = subprocess.run([DAEMON, "--config", f.name], capture_output=True, timeout=10)
            self.assertEqual(p.returncode, 2)
            self.assertIn(b"unknown setting \"listen_port\"", p.stderr)
            self.assertIn(b":2", p.stderr)


class Collector(http.server.BaseHTTPRequestHandler):
    """A stand-in OTLP/HTTP endpoint keeping every JSON body it receives."""
    bodies = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        Collector.bodies.append((self.path, json.loads(self.rfile.read(n))))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


class TestTracing(unittest.TestCase):
    def test_traceparent_continued_and_spans_flushed_on_sigterm(self):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()
        try:
            env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % srv.server_address[1],
                   "OTEL_BSP_SCHEDULE_DELAY": "60000"}
            d = Daemon(env=env)
            try:
                t = d.create("traced")
                trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
                r = d.req("GET", "/v1/auth", token=t["access_token"],
                          headers={"traceparent": "00-%s-%s-01" % (trace_id, parent)})
                self.assertEqual(r.status, 200)
                self.assertEqual(d.stop(), 0)  # SIGTERM flushes the queued spans
            finally:
                d.close()
            spans = [s for _, b in Collector.bodies for rs in b["resourceSpans"] for ss in rs["scopeSpans"]
                     for s in ss["spans"]]
            server = [s for s in spans if s["name"] == "GET /v1/auth"]
            self.assertEqual(len(server), 1, [s["name"] for s in spans])
            self.assertEqual((server[0]["traceId"], server[0]["parentSpanId"]), (trace_id, parent))
            child = [s for s in spans if s["name"] == "jwtsession.validate" and s["traceId"] == trace_id]
            self.assertEqual(len(child), 1)
            self.assertEqual(child[0]["parentSpanId"], server[0]["spanId"])
            self.assertNotIn(t["access_token"], json.dumps(spans))
        finally:
            srv.shutdown()
            srv.server_close()


class TestGracefulShutdown(unittest.TestCase):
    def test_in_flight_request_finishes_after_sigterm(self):
        d = Daemon()
        try:
            body = json.dumps({"user_id": "late"}).encode()
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            head = ("POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                    "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (ADMIN_KEY, len(body)))
            s.sendall(head.encode() + body[:5])
            time.sleep(0.3)  # let the daemon read the first part
            d.proc.terminate()
            self.assertTrue(wait_until(lambda: "shutting down" in d.log_text(), timeout=10))
            # no new connections once shutting down
            self.assertTrue(wait_until(lambda: not _connectable(d.port), timeout=10))
            s.sendall(body[5:])
            reply = b""
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
            s.close()
            self.assertTrue(reply.startswith(b"HTTP/1.1 201"), reply[:100])
            self.assertIn(b"Connection: close", reply)
            self.assertEqual(d.proc.wait(timeout=15), 0)
            self.assertIn('"msg":"stopped"', d.log_text())
        finally:
            d.close()


def _connectable(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    unittest.main(verbosity=2)
