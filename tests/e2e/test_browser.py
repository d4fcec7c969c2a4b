"""test_browser.py - a real browser logs in with cookie sessions (issue #17, docs/gateways.md).

Headless Chromium (Debian's chromium + chromium-driver, driven by Debian's python3-selenium: run
with /usr/bin/python3) opens the protected page through nginx (examples/login/nginx.conf, this
test's ports substituted) in front of jwtsessiond --cookies and the example login service
(examples/login/login_app.py). It is sent to the login page carrying the original URL, logs in,
gets both token cookies with HttpOnly, Secure, SameSite=Lax, Path (/ for the access cookie, /v1/
for the refresh cookie, which the application never receives) and Max-Age from the token
lifetimes (and page scripts cannot read them), reaches the protected page, refreshes (new cookies,
no token in the answer), survives a cross-site form post to /v1/logout from another site's page,
logs out (cookies cleared, the session revoked) and is refused afterwards.
"""
import http.server
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import ADMIN_KEY, SOURCE_DIR, Daemon, Nginx, free_port, request, wait_until

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ACCESS_TTL, REFRESH_TTL = 600, 7200


def render_nginx(daemon_port, app_port, port):
    with open(os.path.join(SOURCE_DIR, "examples", "login", "nginx.conf")) as f:
        text = f.read()
    for old, new in [("server 127.0.0.1:8080;", "server 127.0.0.1:%d;" % daemon_port),
                     ("server 127.0.0.1:3000;", "server 127.0.0.1:%d;" % app_port),
                     ("listen 80;", "listen 127.0.0.1:%d;" % port)]:
        assert text.count(old) == 1, "examples/login/nginx.conf no longer has exactly one %r" % old
        text = text.replace(old, new)
    return text


class Evil(http.server.BaseHTTPRequestHandler):
    """Another site: its page posts a form to the application's /v1/logout as soon as it loads."""
    target = None

    def do_GET(self):
        body = ('<!doctype html><form id="f" method="post" action="%s"><input name="x" value="1"></form>'
                '<script>document.getElementById("f").submit()</script>' % Evil.target).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class TestBrowserLogin(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = []
        try:
            cls.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def start(cls):
        cls.port, app_port = free_port(), free_port()
        cls.base = "http://localhost:%d" % cls.port
        cls.d = Daemon("--cookies", "--allowed-origins", cls.base, "--login-url", cls.base + "/login",
                       "--redirect-hosts", "localhost", "--access-ttl", str(ACCESS_TTL),
                       "--refresh-ttl", str(REFRESH_TTL), "--refresh-grace", "off")
        cls.stack.append(cls.d.close)
        env = dict(os.environ, JWTSESSIOND_URL="http://127.0.0.1:%d" % cls.d.port, JWTSESSION_ADMIN_KEY=ADMIN_KEY,
                   LOGIN_USERS="alice:wonderland", LOGIN_REDIRECT_HOSTS="localhost", LOGIN_ORIGIN=cls.base,
                   LOGIN_LISTEN="127.0.0.1:%d" % app_port)
        cls.app = subprocess.Popen([sys.executable, os.path.join(SOURCE_DIR, "examples", "login", "login_app.py")],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        cls.stack.append(cls.stop_app)
        assert wait_until(lambda: cls.app.poll() is None and request(app_port, "GET", "/login").status == 200
                          if port_open(app_port) else False, timeout=15), "login_app.py did not start"
        cls.nginx = Nginx(render_nginx(cls.d.port, app_port, cls.port), cls.port)
        cls.stack.append(cls.nginx.close)
        cls.evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Evil)  # 127.0.0.1: another site
        Evil.target = cls.base + "/v1/logout"
        threading.Thread(target=cls.evil.serve_forever, daemon=True).start()
        cls.stack.append(lambda: (cls.evil.shutdown(), cls.evil.server_close()))
        cls.profile = tempfile.mkdtemp(prefix="jwts-chromium-")
        cls.stack.append(lambda: shutil.rmtree(cls.profile, ignore_errors=True))
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--user-data-dir=" + cls.profile]:
            opts.add_argument(a)
        cls.service = Service(executable_path=CHROMEDRIVER)
        cls.driver = webdriver.Chrome(service=cls.service, options=opts)
        cls.stack.append(cls.stop_browser)
        cls.driver.set_page_load_timeout(20)

    @classmethod
    def stop_app(cls):
        if cls.app.poll() is None:
            cls.app.send_signal(signal.SIGTERM)
            cls.app.wait(timeout=10)
        cls.app.stderr.close()

    @classmethod
    def stop_browser(cls):
        try:
            cls.driver.quit()
        finally:  # chromedriver (and its browser) by pid, should quit have failed
            proc = cls.service.process
            if proc and proc.poll() is None:
                proc.kill()
                proc.wait()

    @classmethod
    def tearDownClass(cls):
        while cls.stack:
            cls.stack.pop()()

    def wait_for(self, pred, what):
        WebDriverWait(self.driver, 10).until(lambda d: pred(), message=what)

    def token_cookies(self):
        """Every jwts_ cookie the browser holds, whatever its path (DevTools: WebDriver's own list
        has only those the current page would send)."""
        cookies = self.driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
        return {c["name"]: c for c in cookies if c["name"].startswith("jwts_")}

    def click_and_read(self, button):
        self.driver.execute_script("document.getElementById('out').textContent = ''")
        self.driver.find_element(By.ID, button).click()
        self.wait_for(lambda: self.driver.find_element(By.ID, "out").text, "no answer to " + button)
        return self.driver.find_element(By.ID, "out").text

    def test_login_refresh_logout(self):
        d = self.driver
        # 1. not logged in: the protected page sends the browser to the login page, with rd
        d.get(self.base + "/app/home?tab=1")
        self.wait_for(lambda: urllib.parse.urlsplit(d.current_url).path == "/login", "no redirect to /login")
        rd = urllib.parse.parse_qs(urllib.parse.urlsplit(d.current_url).query)["rd"][0]
        self.assertEqual(rd, self.base + "/app/home?tab=1")

        # 2. log in: back on the page asked for, greeted by name
        d.find_element(By.ID, "username").send_keys("alice")
        d.find_element(By.ID, "password").send_keys("wonderland")
        t0 = time.time()
        d.find_element(By.ID, "login").click()
        self.wait_for(lambda: d.current_url == self.base + "/app/home?tab=1", "not sent back to rd after login")
        self.assertEqual(d.find_element(By.ID, "hello").text, "Hello, alice")

        # 3. the cookies: HttpOnly (no script sees them), Secure, SameSite=Lax, Path=/, lifetimes
        cookies = self.token_cookies()
        self.assertEqual(sorted(cookies), ["jwts_access", "jwts_refresh"])
        for name, ttl, path in [("jwts_access", ACCESS_TTL, "/"), ("jwts_refresh", REFRESH_TTL, "/v1/")]:
            c = cookies[name]
            self.assertEqual((c["httpOnly"], c["secure"], c["sameSite"], c["path"]), (True, True, "Lax", path), c)
            self.assertEqual((c["domain"], c["session"]), ("localhost", False), c)
            self.assertLessEqual(abs(c["expires"] - (t0 + ttl)), 30, c)
        self.assertNotIn("jwts_", d.execute_script("return document.cookie"))
        # the application behind nginx gets the access cookie, never the refresh token
        self.assertEqual(d.find_element(By.ID, "cookies").text, "jwts_access")
        sid = d.find_element(By.ID, "sid").text
        self.assertTrue(sid)

        # 4. refresh from the page: new cookies, no token in the answer script can read
        out = self.click_and_read("refresh")
        self.assertTrue(out.startswith("200 "), out)
        self.assertNotIn("access_token", out)
        self.assertNotIn("refresh_token", out)
        self.assertNotIn(cookies["jwts_access"]["value"], out)
        fresh = self.token_cookies()
        self.assertNotEqual(fresh["jwts_access"]["value"], cookies["jwts_access"]["value"])
        self.assertNotEqual(fresh["jwts_refresh"]["value"], cookies["jwts_refresh"]["value"])
        d.get(self.base + "/app/again")
        self.assertEqual((d.find_element(By.ID, "hello").text, d.find_element(By.ID, "sid").text),
                         ("Hello, alice", sid))

        # 5. another site's page posts a form to /v1/logout: refused, the user stays logged in
        d.get("http://127.0.0.1:%d/" % self.evil.server_address[1])
        self.wait_for(lambda: urllib.parse.urlsplit(d.current_url).path == "/v1/logout", "the form did not post")
        self.assertIn("cross-site request refused", d.page_source)
        self.assertEqual(sorted(self.token_cookies()), ["jwts_access", "jwts_refresh"])
        d.get(self.base + "/app/still")
        self.assertEqual(d.find_element(By.ID, "hello").text, "Hello, alice")

        # 6. log out: cookies cleared, the session revoked, the protected page refused
        access = self.token_cookies()["jwts_access"]["value"]
        out = self.click_and_read("logout")
        self.assertTrue(out.startswith("200 ") and '"revoked":1' in out, out)
        self.assertEqual(self.token_cookies(), {})
        r = request(self.d.port, "GET", "/v1/auth", token=access)
        self.assertEqual((r.status, r.headers.get("x-session-error")), (401, "JWTS_E_REVOKED"), r)
        d.get(self.base + "/app/home")
        self.wait_for(lambda: urllib.parse.urlsplit(d.current_url).path == "/login", "still let in after logout")


def port_open(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    unittest.main(verbosity=2)
