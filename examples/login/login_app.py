#!/usr/bin/env python3
"""login_app.py - a tiny login service for jwtsessiond's cookie sessions (docs/gateways.md).

Python standard library only. It serves, behind nginx (examples/login/nginx.conf):
  GET  /login?rd=URL   the login form
  POST /login          checks the name and password, creates the session with jwtsessiond's admin
                       key, passes jwtsessiond's two Set-Cookie headers on and sends the browser
                       to rd (only when rd names an allowed host; else to /app/)
  GET  /app/           the protected page nginx lets through: it greets X-Session-User and has
                       Refresh and Log out buttons (fetch to /v1/refresh and /v1/logout)

Settings (environment): JWTSESSIOND_URL (http://127.0.0.1:8080), JWTSESSION_ADMIN_KEY,
LOGIN_USERS ("alice:secret,bob:hunter2": a demo user list; a real service checks a password
hash), LOGIN_REDIRECT_HOSTS (hosts rd may name, like jwtsessiond's --redirect-hosts),
LOGIN_ORIGIN (the origin of these pages: a login form posted from elsewhere is refused),
LOGIN_LISTEN (127.0.0.1:3000).
"""
import hmac
import html
import http.client
import http.server
import json
import os
import urllib.parse

DAEMON = urllib.parse.urlsplit(os.environ.get("JWTSESSIOND_URL", "http://127.0.0.1:8080"))
ADMIN_KEY = os.environ.get("JWTSESSION_ADMIN_KEY", "")
USERS = dict(u.split(":", 1) for u in os.environ.get("LOGIN_USERS", "").split(",") if ":" in u)
HOSTS = [h.strip().lower() for h in os.environ.get("LOGIN_REDIRECT_HOSTS", "").split(",") if h.strip()]
ORIGIN = os.environ.get("LOGIN_ORIGIN", "")

FORM = """<!doctype html><html><head><title>Log in</title></head><body>
<h1>Log in</h1>%s
<form method="post" action="/login">
<input type="hidden" name="rd" value="%s">
<label>Name <input id="username" name="username" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<button id="login" type="submit">Log in</button>
</form></body></html>"""

APP = """<!doctype html><html><head><title>App</title></head><body>
<h1 id="hello">Hello, %s</h1>
<p>Your session: <code id="sid">%s</code>; cookies this page received: <code id="cookies">%s</code></p>
<button id="refresh" onclick="refresh()">Refresh</button>
<button id="logout" onclick="logout()">Log out</button>
<pre id="out"></pre>
<script>
async function refresh() {
  const r = await fetch('/v1/refresh', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'});
  document.getElementById('out').textContent = r.status + ' ' + await r.text();
}
async function logout() {
  const r = await fetch('/v1/logout', {method: 'POST'});
  document.getElementById('out').textContent = r.status + ' ' + await r.text();
}
</script></body></html>"""


def safe_rd(rd):
    """rd when it is an http(s) URL on an allowed host (no open redirect), else /app/."""
    try:
        u = urllib.parse.urlsplit(rd)
    except ValueError:
        return "/app/"
    host = (u.hostname or "").lower()
    ok = u.scheme in ("http", "https") and not u.username and "\\" not in rd and \
        any(host == h or (h.startswith(".") and host.endswith(h)) for h in HOSTS)
    return rd if ok else "/app/"


def create_session(user, agent):
    """POST /v1/sessions with the admin key: (status, Set-Cookie values)."""
    conn = http.client.HTTPConnection(DAEMON.hostname, DAEMON.port or 80, timeout=5)
    try:
        body = json.dumps({"user_id": user, "metadata": {"device": agent[:200]}})
        conn.request("POST", "/v1/sessions", body=body,
                     headers={"Authorization": "Bearer " + ADMIN_KEY, "Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()  # the tokens: this service never keeps nor logs them
        return r.status, [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
    finally:
        conn.close()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, status, body, headers=()):
        data = body.encode()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/login":
            rd = urllib.parse.parse_qs(u.query).get("rd", ["/app/"])[0]
            self.send(200, FORM % ("", html.escape(rd)))
        elif u.path.startswith("/app/"):
            user = urllib.parse.unquote(self.headers.get("X-Session-User", ""))
            names = sorted(c.split("=", 1)[0].strip() for c in self.headers.get("Cookie", "").split(";") if "=" in c)
            self.send(200, APP % (html.escape(user), html.escape(self.headers.get("X-Session-Id", "")),
                                  html.escape(" ".join(names))))
        else:
            self.send(404, "not found")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(min(n, 8192)).decode(errors="replace"))
        if urllib.parse.urlsplit(self.path).path != "/login":
            return self.send(404, "not found")
        if ORIGIN and self.headers.get("Origin") != ORIGIN:  # login CSRF
            return self.send(403, "cross-site login refused")
        user, password = form.get("username", [""])[0], form.get("password", [""])[0]
        rd = safe_rd(form.get("rd", ["/app/"])[0])
        if user not in USERS or not hmac.compare_digest(USERS[user].encode(), password.encode()):
            return self.send(401, FORM % ("<p id='error'>Wrong name or password</p>", html.escape(rd)))
        status, cookies = create_session(user, self.headers.get("User-Agent", "browser"))
        if status != 201:
            return self.send(503, "the session service failed")
        self.send(303, "", [("Location", rd)] + [("Set-Cookie", c) for c in cookies])

    def log_message(self, *a):
        pass  # no request line: a query could hold anything


def main():
    host, port = os.environ.get("LOGIN_LISTEN", "127.0.0.1:3000").rsplit(":", 1)
    http.server.ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
