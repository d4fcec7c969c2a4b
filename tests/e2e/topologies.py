"""topologies.py - the e2e tests' Redis deployments: one server, a Cluster, a Sentinel set, plain or TLS.

Every server is a redis-server child on a free loopback port with its own temp dir and config
file, stopped by its pid (SIGTERM, then SIGKILL). Starting a deployment waits, bounded in time,
until it is usable: a Cluster until every node reports cluster_state:ok, a Sentinel set until
every replica is in sync and every sentinel sees the quorum and the replicas. Certs makes a CA,
a server certificate (IP 127.0.0.1 and DNS localhost, also the servers' own client certificate
for replication, the cluster bus and the sentinels), a client certificate and a second, wrong
CA with `openssl`. Python standard library only.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def _bindable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_port(cluster=False):
    """A loopback port that was free a moment ago; for a cluster node one of at most 55535 whose
    bus port (+10000) is free too."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not cluster or (port <= 55535 and _bindable(port + 10000)):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _wait(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


class Certs:
    """A throwaway PKI in a temp dir: ca.pem, server.pem/.key, client.pem/.key, and wrong-ca.pem."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="jwts-certs-")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for ca, cn in (("ca", "jwts e2e CA"), ("wrong-ca", "jwts e2e other CA")):
            self._openssl("req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2",
                          "-subj", "/CN=" + cn)
        # no extendedKeyUsage on the server's: redis-server presents it as a client too
        for name, ext in (("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
                          ("client", "extendedKeyUsage=clientAuth")):
            with open(self.path(name + ".ext"), "w") as f:
                f.write(ext + "\n")
            self._openssl("req", "-new", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
            self._openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                          "-CAcreateserial", "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem")

    def _openssl(self, *args):
        subprocess.run(["openssl"] + list(args), cwd=self.dir, check=True, capture_output=True, timeout=30)

    def path(self, name):
        return os.path.join(self.dir, name)

    def server_conf(self, auth_clients="yes"):
        """redis.conf lines: TLS on every link (clients, replication, cluster bus)."""
        return ["tls-cert-file " + self.path("server.pem"), "tls-key-file " + self.path("server.key"),
                "tls-ca-cert-file " + self.path("ca.pem"), "tls-auth-clients " + auth_clients,
                "tls-replication yes", "tls-cluster yes"]

    def cli_args(self):
        return ["--tls", "--cacert", self.path("ca.pem"), "--cert", self.path("client.pem"),
                "--key", self.path("client.key")]

    def query(self, client=True, ca="ca.pem"):
        """The store URL query for these certificates (client=True: mutual TLS)."""
        q = "tls_ca=" + self.path(ca)
        if client:
            q += "&tls_cert=%s&tls_key=%s" % (self.path("client.pem"), self.path("client.key"))
        return q

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisProcess:
    """What every redis-server the tests start shares (this file's nodes, harness.Redis): its
    process (self.proc) and temp dir (self.dir, with redis.log), stopped by pid."""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL, as a crash."""
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        """SIGTERM (a persisting server saves first; a paused one is resumed) and wait; SIGKILL
        after 15 s."""
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_text(self):
        try:
            with open(os.path.join(self.dir, "redis.log"), errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Node(RedisProcess):
    """One redis-server (or sentinel) on a free loopback port; TLS-only when certs is given."""

    def __init__(self, lines=(), certs=None, sentinel=False, auth_clients="yes"):
        self.port = _free_port(cluster=any(line.startswith("cluster-enabled") for line in lines))
        self.certs = certs
        self.sentinel = sentinel
        self.dir = tempfile.mkdtemp(prefix="jwts-sentinel-" if sentinel else "jwts-redis-")
        conf = ["bind 127.0.0.1", "protected-mode no", "dir " + self.dir,
                "logfile " + os.path.join(self.dir, "redis.log")]
        if certs:
            conf += ["port 0", "tls-port %d" % self.port] + certs.server_conf(auth_clients)
        else:
            conf += ["port %d" % self.port]
        if not sentinel:
            conf += ["save \"\"", "appendonly no", "repl-diskless-sync-delay 0"]
        conf += list(lines)
        self.conf = os.path.join(self.dir, "redis.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.proc = None
        self.start()

    def start(self):
        args = [REDIS_SERVER, self.conf] + (["--sentinel"] if self.sentinel else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _wait(lambda: self.proc.poll() is None and self.cli("PING", timeout=2) == "PONG", 15):
            log = self.log_text()
            self.stop()
            raise RuntimeError("redis-server did not start on port %d: %s" % (self.port, log))

    def cli(self, *args, timeout=10):
        """redis-cli against this node (with the client certificate on TLS); stdout, stripped."""
        cmd = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port)] + (self.certs.cli_args() if self.certs else [])
        try:
            r = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return ""
        return r.stdout.strip()


class Deployment:
    """What every deployment has: nodes to stop, a store URL."""
    nodes = ()

    def close(self):
        for n in self.nodes:
            n.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Single(Deployment):
    """One redis-server: redis://, or rediss:// with certs (auth_clients "no": server-verified TLS only)."""

    def __init__(self, certs=None, auth_clients="yes"):
        self.certs = certs
        self.node = Node(certs=certs, auth_clients=auth_clients)
        self.nodes = [self.node]

    def url(self):
        return "%s://127.0.0.1:%d" % ("rediss" if self.certs else "redis", self.node.port)


class Cluster(Deployment):
    """masters cluster masters (no replicas), slots spread by redis-cli --cluster create."""

    def __init__(self, masters=3, certs=None, node_timeout_ms=2000):
        self.certs = certs
        self.nodes = []
        try:
            for _ in range(masters):
                self.nodes.append(Node(["cluster-enabled yes", "cluster-config-file nodes.conf",
                                        "cluster-node-timeout %d" % node_timeout_ms], certs=certs))
            cmd = [REDIS_CLI] + (certs.cli_args() if certs else []) + ["--cluster", "create"]
            cmd += ["127.0.0.1:%d" % n.port for n in self.nodes] + ["--cluster-yes"]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise RuntimeError("redis-cli --cluster create failed: %s %s" % (r.stdout[-2000:], r.stderr[-2000:]))
            if not _wait(self._ok, 30, 0.1):
                raise RuntimeError("cluster not ok in 30 s: %s" % [n.cli("CLUSTER", "INFO")[:200] for n in self.nodes])
        except Exception:
            self.close()
            raise

    def _ok(self):
        return all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in self.nodes)

    def url(self):
        return "%s://%s" % ("rediss-cluster" if self.certs else "redis-cluster",
                            ",".join("127.0.0.1:%d" % n.port for n in self.nodes))


class Sentinel(Deployment):
    """A master, replicas replicas and 3 sentinels monitoring it as "mymaster" (quorum 2,
    down-after-milliseconds 1000, failover-timeout 3000)."""
    NAME = "mymaster"

    def __init__(self, replicas=1, certs=None):
        self.certs = certs
        self.replicas = replicas
        self.nodes = []
        try:
            self.data = [Node(certs=certs)]
            self.nodes += self.data
            for _ in range(replicas):
                self.data.append(Node(["replicaof 127.0.0.1 %d" % self.data[0].port], certs=certs))
                self.nodes.append(self.data[-1])
            lines = ["sentinel monitor %s 127.0.0.1 %d 2" % (self.NAME, self.data[0].port),
                     "sentinel down-after-milliseconds %s 1000" % self.NAME,
                     "sentinel failover-timeout %s 3000" % self.NAME]
            self.sentinels = []
            for _ in range(3):
                self.sentinels.append(Node(lines, certs=certs, sentinel=True))
                self.nodes.append(self.sentinels[-1])
            if not _wait(self._ready, 30, 0.2):
                raise RuntimeError("sentinels not ready in 30 s: %s" % self.sentinels[0].log_text())
        except Exception:
            self.close()
            raise

    def _ready(self):
        for r in self.data[1:]:
            if "master_link_status:up" not in r.cli("INFO", "replication"):
                return False
        for s in self.sentinels:
            if not s.cli("SENTINEL", "CKQUORUM", self.NAME).startswith("OK 3 usable"):
                return False
            if s.cli("SENTINEL", "REPLICAS", self.NAME).count("\nmaster-link-status\nok") != self.replicas:
                return False
        return True

    def master_port(self, i=0):
        """The master's port as sentinel i names it (None when it cannot be asked)."""
        out = self.sentinels[i].cli("SENTINEL", "get-master-addr-by-name", self.NAME, timeout=2).split()
        return int(out[1]) if len(out) == 2 and out[1].isdigit() else None

    def master(self):
        port = self.master_port()
        return next((n for n in self.data if n.port == port), None)

    def url(self):
        return "%s://%s/%s" % ("rediss-sentinel" if self.certs else "redis-sentinel",
                               ",".join("127.0.0.1:%d" % s.port for s in self.sentinels), self.NAME)


def start(kind, certs=None):
    """A deployment by name: "redis", "cluster" or "sentinel"."""
    return {"redis": Single, "cluster": Cluster, "sentinel": Sentinel}[kind](certs=certs)
