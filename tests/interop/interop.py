#!/usr/bin/python3
"""interop.py JWTSESSION - sign/verify interop of the jwtsession CLI with PyJWT and npm jose.

For every algorithm: jwtsession generates a key; a token jwtsession signs must verify in PyJWT
and in jose; tokens PyJWT and jose sign with the same key must verify in jwtsession; and a
tampered token must be refused by all three. Any missing tool is an error, never a skip.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import jwt  # Debian python3-jwt (PyJWT); EdDSA needs python3-cryptography
from jwt import PyJWK

ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "EdDSA"]
HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, stdin=None, ok=True):
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(cmd[:3])}...: exit {p.returncode}: {p.stderr.strip()}")
    return p


def tamper(token):
    h, p, s = token.split(".")
    c = "A" if s[5] != "A" else "B"
    return ".".join([h, p, s[:5] + c + s[6:]])


def main():
    cli = sys.argv[1]
    node = "node"
    for tool in (cli, node):
        if run(["sh", "-c", f"command -v {tool}"], ok=False).returncode != 0:
            raise SystemExit(f"FAIL: required tool not found: {tool}")
    if not os.path.isdir(os.path.join(HERE, "node_modules", "jose")):
        raise SystemExit("FAIL: npm jose is not installed (run: npm ci --prefix tests/interop)")
    peer = os.path.join(HERE, "jose_peer.mjs")
    now = int(time.time())
    claims = {"iss": "interop", "sub": "user-1", "aud": "api", "iat": now, "exp": now + 600}
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for alg in ALGS:
            priv = os.path.join(tmp, f"{alg}.jwk")
            pub = os.path.join(tmp, f"{alg}.pub.jwks")
            run([cli, "keygen", "--alg", alg, "--kid", f"kid-{alg}", "--out", priv])
            priv_jwk = json.load(open(priv))
            hmac = alg.startswith("HS")
            if hmac:
                pub = priv
                pub_jwk = priv_jwk
            else:
                out = run([cli, "jwks", priv]).stdout
                open(pub, "w").write(out)
                pub_jwk = json.loads(out)["keys"][0]
                assert "d" not in pub_jwk
            pub_file = os.path.join(tmp, f"{alg}.pub.jwk")
            json.dump(pub_jwk, open(pub_file, "w"))
            checks = []

            # jwtsession -> PyJWT, jose
            ours = run([cli, "token", "sign", "--key", priv, "--claims", json.dumps(claims)]).stdout.strip()
            got = jwt.decode(ours, PyJWK(pub_jwk, alg).key, algorithms=[alg], audience="api", issuer="interop")
            checks.append(("jwtsession->pyjwt", got["sub"] == "user-1"))
            p = run([node, peer, "verify", alg, pub_file, ours], ok=False)
            checks.append(("jwtsession->jose", p.returncode == 0 and json.loads(p.stdout)["sub"] == "user-1"))
            # tampered tokens are refused everywhere
            bad = tamper(ours)
            try:
                jwt.decode(bad, PyJWK(pub_jwk, alg).key, algorithms=[alg], audience="api")
                checks.append(("pyjwt refuses tampered", False))
            except jwt.InvalidTokenError:
                checks.append(("pyjwt refuses tampered", True))
            checks.append(("jose refuses tampered", run([node, peer, "verify", alg, pub_file, bad], ok=False).returncode == 1))
            p = run([cli, "token", "verify", "--key", pub, "--alg", alg, bad], ok=False)
            checks.append(("jwtsession refuses tampered", p.returncode == 1 and "JWTS_E_" in p.stderr))

            # PyJWT -> jwtsession
            headers = {"kid": priv_jwk["kid"]}
            tok = jwt.encode(claims, PyJWK(priv_jwk, alg).key, algorithm=alg, headers=headers)
            p = run([cli, "token", "verify", "--key", pub, "--alg", alg, "--iss", "interop", "--aud", "api", tok], ok=False)
            checks.append(("pyjwt->jwtsession", p.returncode == 0 and json.loads(p.stdout)["sub"] == "user-1"))

            # jose -> jwtsession
            tok = run([node, peer, "sign", alg, priv, json.dumps(claims)]).stdout.strip()
            p = run([cli, "token", "verify", "--key", pub, "--alg", alg, "--iss", "interop", "--aud", "api", tok], ok=False)
            checks.append(("jose->jwtsession", p.returncode == 0 and json.loads(p.stdout)["sub"] == "user-1"))

            for name, ok in checks:
                print(f"{'ok  ' if ok else 'FAIL'} {alg:6} {name}")
                passed += ok
                failed += not ok
    print(f"interop: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
