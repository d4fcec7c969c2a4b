"""test_quickstart.py - `make run`'s quickstart works when pasted.

Runs daemon/quickstart.sh (what `make run` runs) on a free port, takes the curl commands it
prints, pastes them into a shell, and checks what each step answered: the session is created,
/v1/auth says 200 with X-Session-User, the list and refresh work, and after the revoke the same
token gets 401.
"""
import os
import signal
import subprocess
import tempfile
import unittest

from harness import DAEMON, SOURCE_DIR, free_port, request, wait_until


class TestQuickstart(unittest.TestCase):
    def test_pasted_commands_work(self):
        port = free_port()
        tmp = tempfile.mkdtemp(prefix="jwts-quickstart-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("JWTSESSION_")}
        env.update({"JWTSESSION_LISTEN": "127.0.0.1:%d" % port, "TMPDIR": tmp})
        out = open(os.path.join(tmp, "out.txt"), "w+")
        proc = subprocess.Popen([os.path.join(SOURCE_DIR, "daemon", "quickstart.sh"), DAEMON], env=env,
                                stdout=out, stderr=subprocess.DEVNULL)
        try:
            def up():
                try:
                    return request(port, "GET", "/healthz", timeout=1).status == 200
                except OSError:
                    return False
            self.assertTrue(wait_until(up, timeout=15))
            out.seek(0)
            text = out.read()
            start = text.index("Paste these")
            end = text.index("API reference")
            commands = [l[2:] for l in text[start:end].splitlines() if l.startswith("  ")]
            self.assertGreater(len(commands), 8)
            shell_env = {k: v for k, v in os.environ.items() if not k.startswith("JWTSESSION_")}
            r = subprocess.run(["bash", "-c", "\n".join(commands)], capture_output=True, timeout=60, env=shell_env)
            self.assertEqual(r.returncode, 0, r.stderr)
            answers = r.stdout.decode()
            self.assertIn('"user_id":"alice"', answers)
            self.assertIn("HTTP/1.1 200 OK", answers)
            self.assertIn("X-Session-User: alice", answers)
            self.assertIn('"count":1', answers)
            self.assertIn('"revoked":1', answers)
            self.assertEqual(answers.count('"refresh_token"'), 2)  # create and refresh
            last = answers[answers.rindex("HTTP/1.1 "):]  # the check after the revoke (bodiless)
            self.assertTrue(last.startswith("HTTP/1.1 401 Unauthorized"), last)
            self.assertIn("X-Session-Error: JWTS_E_REVOKED", last)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                self.assertEqual(proc.wait(timeout=15), 0)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                out.close()
                subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    unittest.main(verbosity=2)
