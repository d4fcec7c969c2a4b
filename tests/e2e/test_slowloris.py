"""test_slowloris.py - slow and idle connections cannot keep other clients out (issue #12 item 3).

The daemon runs with small limits: 64 connections, 16 per client address, a 2 s deadline for a
complete request head. Attackers connect from 127.0.0.1 and from other loopback addresses
(127.0.0.2 and up reach lo on Linux without any setup), then stay idle or send one header line
every second, and reconnect whenever the server closes them, so the attack never lets up. During
the attack a normal client on a fresh connection must get its answer within 1 s, every time.
"""
import resource
import select
import socket
import threading
import time
import unittest

from harness import Daemon

HEAD_TIMEOUT = 2.0
MAX_CONNECTIONS = 64
PER_IP = 16
ATTACK_SECONDS = 4 * HEAD_TIMEOUT
BOUND = 1.0  # the "served within 1 s"


def need_fds(n):
    """Raise the soft open-files limit to n if the hard limit allows; False when it cannot."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= n:
        return True
    if hard != resource.RLIM_INFINITY and hard < n:
        return False
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
    return True


def closed_by_server(sock, timeout):
    """True when the server closes sock (EOF or reset) within timeout seconds."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(4096)
            if data == b"":
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def first_closed_by_server(socks, timeout):
    """The first of socks the server closes within timeout seconds, or None."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        readable, _, _ = select.select(socks, [], [], left)
        for s in readable:
            if closed_by_server(s, 0.01):
                return s


def connect_from(src, port, timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


class Attack:
    """Slowloris from several addresses: each slot holds one connection that is idle or trickles
    one header line a second; a slot whose connection the server closed reconnects (at most five
    times a second). Counts the connections the server closed."""

    def __init__(self, port, plan):
        self.port = port
        self.slots = [{"src": src, "mode": mode, "sock": None, "next": 0.0, "opened": 0.0}
                      for src, n, mode in plan for _ in range(n)]
        self.closed_by_server = 0
        self.opened = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)
        for slot in self.slots:
            if slot["sock"]:
                slot["sock"].close()

    def open(self, slot, now):
        try:
            s = connect_from(slot["src"], self.port, timeout=0.5)
            s.setblocking(False)
            if slot["mode"] == "slow":
                s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            slot.update(sock=s, opened=now, next=now + 1.0)
            self.opened += 1
        except OSError:
            slot.update(sock=None, next=now + 0.2)

    def drop(self, slot, now):
        slot["sock"].close()
        self.closed_by_server += 1
        slot.update(sock=None, next=now + 0.2)

    def run(self):
        line = 0
        while not self.stop.is_set():
            now = time.monotonic()
            live = {slot["sock"].fileno(): slot for slot in self.slots if slot["sock"]}
            poller = select.poll()  # not select(): descriptors may pass 1024
            for fd in live:
                poller.register(fd, select.POLLIN)
            for fd, _ in poller.poll(0):  # the server closed it (EOF) or answered it: either way it is gone
                try:
                    data = live[fd]["sock"].recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self.drop(live[fd], now)
            for slot in self.slots:
                if self.stop.is_set():
                    break
                if slot["sock"] is None and now >= slot["next"]:
                    self.open(slot, now)
                elif slot["sock"] is not None and slot["mode"] == "slow" and now >= slot["next"]:
                    line += 1
                    try:
                        slot["sock"].send(b"X-Slow-%d: x\r\n" % line)
                        slot["next"] = now + 1.0
                    except OSError:
                        self.drop(slot, now)
            self.stop.wait(0.05)


def timed_auth(port, token):
    """One GET /v1/auth on a fresh connection from 127.0.0.1: (status or None, seconds)."""
    t0 = time.monotonic()
    req = ("GET /v1/auth HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n" % token).encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(req)
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
    except OSError:
        return None, time.monotonic() - t0
    status = int(out.split(b" ", 2)[1]) if out.startswith(b"HTTP/1.1 ") else None
    return status, time.monotonic() - t0


class Slowloris(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not need_fds(4096):
            raise unittest.SkipTest("ulimit -n is below 4096 and cannot be raised")
        cls.d = Daemon("--threads", "2", "--max-connections", str(MAX_CONNECTIONS), "--max-connections-per-ip",
                       str(PER_IP), "--head-timeout", "%ds" % HEAD_TIMEOUT, "--connection-timeout", "30s")
        cls.token = cls.d.create("normal")["access_token"]

    @classmethod
    def tearDownClass(cls):
        code = cls.d.stop()
        cls.d.close()
        assert code == 0, code

    def tearDown(self):
        self.assertTrue(self.d.alive(), "jwtsessiond died")

    def test_normal_client_served_within_1s_during_attack(self):
        # 12 from the normal client's own address (under the per-address limit), 16 from each of
        # eight others: 140 attacking connections against 64 slots, half idle, half trickling.
        plan = [("127.0.0.1", 6, "idle"), ("127.0.0.1", 6, "slow")]
        for i in range(2, 10):
            plan += [("127.0.0.%d" % i, 8, "idle"), ("127.0.0.%d" % i, 8, "slow")]
        with Attack(self.d.port, plan) as attack:
            time.sleep(HEAD_TIMEOUT / 2)  # let the attack fill every slot first
            results = []
            end = time.monotonic() + ATTACK_SECONDS
            while time.monotonic() < end:
                results.append(timed_auth(self.d.port, self.token))
                time.sleep(0.2)
        took = sorted(t for _, t in results)
        print("\n  %d answers during the attack: median %.3f s, max %.3f s; attackers opened %d connections, "
              "the server closed %d" % (len(took), took[len(took) // 2], took[-1], attack.opened,
                                        attack.closed_by_server))
        slow = [(st, round(t, 3)) for st, t in results if st != 200 or t > BOUND]
        self.assertEqual(slow, [], "answers slower than %.1f s or not 200, of %d: %r" % (BOUND, len(results), slow))
        self.assertGreater(len(results), 20)
        # the attackers did hold connections, and the server kept closing them
        self.assertGreater(attack.opened, MAX_CONNECTIONS)
        self.assertGreater(attack.closed_by_server, MAX_CONNECTIONS)
        status, _ = timed_auth(self.d.port, self.token)
        self.assertEqual(status, 200)

    def test_request_head_deadline(self):
        # one header line every 0.5 s keeps an idle timer happy forever; the head deadline does not
        s = connect_from("127.0.0.20", self.d.port)
        idle = connect_from("127.0.0.20", self.d.port)
        try:
            t0 = time.monotonic()
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            closed_at = None
            for i in range(20):
                try:
                    s.sendall(b"X-Slow-%d: x\r\n" % i)
                except OSError:
                    closed_at = time.monotonic() - t0
                    break
                if closed_by_server(s, 0.5):
                    closed_at = time.monotonic() - t0
                    break
            self.assertIsNotNone(closed_at, "a trickling request head was never cut off")
            self.assertGreater(closed_at, HEAD_TIMEOUT - 0.5)
            self.assertLess(closed_at, HEAD_TIMEOUT + 2.0)
            # a connection that sends nothing at all is closed by the same deadline
            self.assertTrue(closed_by_server(idle, 2.0))
        finally:
            s.close()
            idle.close()

    def test_per_address_limit(self):
        # its own daemon: connections the attack above left in the listen queue cannot hide the count
        with Daemon("--threads", "2", "--max-connections", str(MAX_CONNECTIONS), "--max-connections-per-ip",
                    str(PER_IP), "--head-timeout", "30s", "--connection-timeout", "30s") as d:
            # one connection more than the address may hold: the daemon's two threads accept them in
            # an order of their own, so which one is over the limit is not known, only that one is
            socks = [connect_from("127.0.0.30", d.port) for _ in range(PER_IP + 1)]
            try:
                # it is closed as soon as it is accepted (the bound only allows for a loaded machine) ...
                closed = first_closed_by_server(socks, 10.0)
                self.assertIsNotNone(closed, "no connection over the per-address limit was closed")
                # ... while the ones the address holds stay open, and other addresses are served
                held = [s for s in socks if s is not closed]
                still_open = [s for s in held if not closed_by_server(s, 0.01)]
                self.assertEqual(len(still_open), PER_IP)
                status, took = timed_auth(d.port, d.create("other")["access_token"])
                self.assertEqual(status, 200)
            finally:
                for s in socks:
                    s.close()

if __name__ == "__main__":
    unittest.main(verbosity=2)
