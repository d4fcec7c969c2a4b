"""test_devices.py - devices through jwtsessiond (docs/devices.md): create and refresh record the
client's address and User-Agent, the login service's body "device" wins on create, the list shows
them, X-Forwarded-For is not believed, bad devices are refused with nothing written, and
DELETE /v1/users/{id}/sessions?except=SID signs a user out everywhere else but that session.

A refresh "from another machine" comes from another loopback source address (127.0.0.5): the
client socket is bound to it before connecting.
"""
import unittest

from harness import Daemon, request


def request_from(source_ip, port, method, path, **kw):
    """One request whose connection comes from source_ip (a loopback address)."""
    return request(port, method, path, source_ip=source_ip, **kw)


class Devices(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def create(self, user, ua=None, body_extra=None, source="127.0.0.1", headers=None):
        hdrs = dict(headers or {})
        if ua is not None:
            hdrs["User-Agent"] = ua
        body = {"user_id": user}
        body.update(body_extra or {})
        from harness import ADMIN_KEY
        return request_from(source, self.d.port, "POST", "/v1/sessions", json_body=body, headers=hdrs,
                            token=ADMIN_KEY)

    def listing(self, user):
        r = self.d.admin("GET", "/v1/users/%s/sessions" % user)
        self.assertEqual(r.status, 200, r)
        return {s["session_id"]: s for s in r.json()["sessions"]}

    def test_create_list_refresh_and_sign_out_everywhere_else(self):
        a = self.create("dana", ua="Mozilla/5.0 (X11; Linux) Firefox/130.0")
        b = self.create("dana", ua="curl/8.5.0", headers={"X-Forwarded-For": "198.51.100.7"})
        self.assertEqual((a.status, b.status), (201, 201), (a, b))
        a, b = a.json(), b.json()
        got = self.listing("dana")
        self.assertEqual(set(got), {a["session_id"], b["session_id"]})
        self.assertEqual(got[a["session_id"]]["client_ip"], "127.0.0.1")
        self.assertEqual(got[a["session_id"]]["user_agent"], "Mozilla/5.0 (X11; Linux) Firefox/130.0")
        self.assertEqual(got[b["session_id"]]["client_ip"], "127.0.0.1")  # X-Forwarded-For is not believed
        self.assertEqual(got[b["session_id"]]["user_agent"], "curl/8.5.0")
        for s in got.values():
            self.assertGreater(s["created_at_ms"], 0)
            self.assertGreaterEqual(s["last_seen_at_ms"], s["created_at_ms"])
            self.assertEqual(s["metadata"], {})  # the device is not put in the metadata

        # refresh b from another machine: its device changes, a's does not
        r = request_from("127.0.0.5", self.d.port, "POST", "/v1/refresh",
                         json_body={"refresh_token": b["refresh_token"]}, headers={"User-Agent": "Phone/2.0"})
        self.assertEqual(r.status, 200, r)
        b2 = r.json()
        got = self.listing("dana")
        self.assertEqual(got[b["session_id"]]["client_ip"], "127.0.0.5")
        self.assertEqual(got[b["session_id"]]["user_agent"], "Phone/2.0")
        self.assertEqual(got[a["session_id"]]["client_ip"], "127.0.0.1")
        self.assertEqual(got[a["session_id"]]["user_agent"], "Mozilla/5.0 (X11; Linux) Firefox/130.0")

        c = self.create("dana", ua="Tablet/1").json()
        # a user signs out everywhere else with their own token, keeping b
        token = b2["access_token"]
        r = self.d.req("DELETE", "/v1/users/dana/sessions?except=" + "x" * 10, token=token)
        self.assertEqual(r.status, 404, r)  # a kept session that is not there revokes nothing
        self.assertEqual(len(self.listing("dana")), 3)
        r = self.d.req("DELETE", "/v1/users/dana/sessions?except=bad%21id", token=token)
        self.assertEqual(r.status, 400, r)
        self.assertIn("except", r.json()["message"])
        r = self.d.req("DELETE", "/v1/users/dana/sessions?except=" + b["session_id"], token=token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"user_id": "dana", "revoked": 2, "kept": b["session_id"]})
        self.assertEqual(list(self.listing("dana")), [b["session_id"]])
        self.assertEqual(self.d.req("GET", "/v1/auth", token=b2["access_token"]).status, 200)
        for gone in (a, c):
            self.assertEqual(self.d.req("GET", "/v1/auth", token=gone["access_token"]).status, 401)
        # the admin may do it too
        self.create("dana", ua="Again/1")
        r = self.d.admin("DELETE", "/v1/users/dana/sessions?except=" + b["session_id"])
        self.assertEqual((r.status, r.json()["revoked"]), (200, 1), r)

    def test_login_service_gives_the_device(self):
        r = self.create("erik", ua="login-service/1.0",
                        body_extra={"device": {"ip": "2001:db8::42", "user_agent": "Mozilla/5.0 (iPhone)"}})
        self.assertEqual(r.status, 201, r)
        s = self.listing("erik")[r.json()["session_id"]]
        self.assertEqual((s["client_ip"], s["user_agent"]), ("2001:db8::42", "Mozilla/5.0 (iPhone)"))
        # a device given without a user agent: none is recorded (not the login service's own)
        r = self.create("erik", ua="login-service/1.0", body_extra={"device": {"ip": "192.0.2.1"}})
        s = self.listing("erik")[r.json()["session_id"]]
        self.assertEqual((s["client_ip"], s["user_agent"]), ("192.0.2.1", None))

    def test_bad_devices_are_refused_and_nothing_written(self):
        bad = [
            ({"ip": "256.0.0.1"}, "device.ip"),
            ({"ip": "[::1]"}, "device.ip"),
            ({"ip": "::1%lo"}, "device.ip"),
            ({"user_agent": "x" * 513}, "device.user_agent"),
            ({"user_agent": "a\u0001b"}, "device.user_agent"),
            ({"user_agent": ""}, "device.user_agent"),
            ({"ip": 7}, "device.ip"),
            ({"mac": "aa"}, "mac"),
            ("192.0.2.1", "device"),
        ]
        for device, word in bad:
            r = self.create("fred", body_extra={"device": device})
            self.assertEqual(r.status, 400, (device, r))
            self.assertEqual(r.json()["error"], "JWTS_E_INVALID_ARGUMENT")
            self.assertIn(word, r.json()["message"])
        self.assertEqual(self.listing("fred"), {})
        # the longest user agent that is allowed is kept whole
        r = self.create("fred", body_extra={"device": {"user_agent": "y" * 512}})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.listing("fred")[r.json()["session_id"]]["user_agent"], "y" * 512)

    def test_user_agent_header_is_cleaned(self):
        r = self.create("gina", ua="Agent\tWith Tab " + "z" * 2000)
        self.assertEqual(r.status, 201, r)
        ua = self.listing("gina")[r.json()["session_id"]]["user_agent"]
        self.assertTrue(ua.startswith("Agent With Tab zzz"), ua)
        self.assertEqual(len(ua.encode()), 512)
        r = self.create("gina")  # no User-Agent header at all (http.client sends none)
        self.assertIsNone(self.listing("gina")[r.json()["session_id"]]["user_agent"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
