#!/usr/bin/env python3
"""otlp_receiver_test.py WORKLOAD - a test OTLP/HTTP receiver on a free loopback port.

Starts an HTTP server on 127.0.0.1 (port chosen by the kernel), runs `WORKLOAD trace TRACEPARENT`
with the OTEL_* environment pointing at it, and checks what arrives: the OTLP/JSON shape,
the resource (service.name from OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), the scope, span
names, kinds, trace and parent ids (the incoming traceparent -> the validate span -> the
observed store's spans), statuses and attributes. Exits non-zero on the first mismatch.
"""
import json
import os
import re
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received = []  # (path, content_type, body)


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        received.append((self.path, self.headers.get("Content-Type", ""), body))
        reply = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def fail(msg):
    print("otlp_receiver_test: FAILED: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def attrs(obj):
    out = {}
    for a in obj.get("attributes", []):
        v = a["value"]
        expect(len(v) == 1, "one value kind per attribute: %r" % a)
        out[a["key"]] = next(iter(v.values()))
    return out


def main():
    workload = sys.argv[1]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()

    trace_id = secrets.token_hex(16)
    remote_span = secrets.token_hex(8)
    incoming = "00-%s-%s-01" % (trace_id, remote_span)
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("OTEL_"):
            del env[k]
    env.update({
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % port,  # + /v1/traces
        "OTEL_SERVICE_NAME": "jwts-observe-test",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci,service.name=overridden",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    })
    proc = subprocess.run([workload, "trace", incoming], env=env, capture_output=True, text=True, timeout=60)
    server.shutdown()
    if proc.returncode != 0:
        fail("workload exited %d: %s" % (proc.returncode, proc.stderr))
    out = proc.stdout.split("\n")
    validate_tp = out[0]
    m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", validate_tp)
    expect(m, "workload printed a traceparent: %r" % validate_tp)
    expect(m.group(1) == trace_id, "the validate span continues the incoming trace")
    validate_id = m.group(2)
    expect(out[1] == "stats 6 0", "6 spans exported, none dropped: %r" % out[1])

    expect(received, "the receiver got requests")
    spans = []
    for path, ctype, body in received:
        expect(path == "/v1/traces", "POST to /v1/traces, got %s" % path)
        expect(ctype.startswith("application/json"), "JSON content type, got %s" % ctype)
        doc = json.loads(body)
        expect(list(doc) == ["resourceSpans"], "top level is resourceSpans")
        for rs in doc["resourceSpans"]:
            res = attrs(rs["resource"])
            expect(res.get("service.name") == "jwts-observe-test", "service.name from OTEL_SERVICE_NAME: %r" % res)
            expect(res.get("deployment.environment") == "ci", "resource attribute from OTEL_RESOURCE_ATTRIBUTES")
            for ss in rs["scopeSpans"]:
                expect(ss["scope"]["name"] == "jwtsession", "scope name")
                spans.extend(ss["spans"])
    expect(len(spans) == 6, "6 spans, got %d: %s" % (len(spans), [s["name"] for s in spans]))
    by_name = {}
    for s in spans:
        expect(re.fullmatch(r"[0-9a-f]{32}", s["traceId"]), "hex trace id")
        expect(re.fullmatch(r"[0-9a-f]{16}", s["spanId"]), "hex span id")
        expect(re.fullmatch(r"[0-9]+", s["startTimeUnixNano"]), "start time as a decimal string")
        expect(int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"]), "end after start")
        expect(int(s["startTimeUnixNano"]) > 1600000000 * 10**9, "wall-clock nanoseconds")
        for v in attrs(s).values():
            expect("user-t" not in str(v), "no user id in attributes")
        by_name.setdefault(s["name"], []).append(s)

    (validate,) = by_name["jwtsession.validate"]
    expect(validate["traceId"] == trace_id, "validate trace id")
    expect(validate["spanId"] == validate_id, "validate span id is the ctx handed down")
    expect(validate["parentSpanId"] == remote_span, "validate's parent is the incoming span")
    expect(validate["kind"] == 1, "validate is INTERNAL")
    expect(validate.get("status") == {"code": 2, "message": "JWTS_E_CLOSED"}, "validate status %r" % validate.get("status"))

    gets = by_name["jwtsession.store.get"]
    (touch,) = by_name["jwtsession.store.touch"]
    expect(len(gets) == 2, "two store gets")
    for s in gets + [touch]:
        expect(s["traceId"] == trace_id, "store span in the same trace")
        expect(s["parentSpanId"] == validate_id, "store span is a child of validate")
        expect(int(s["startTimeUnixNano"]) >= int(validate["startTimeUnixNano"]), "child starts inside parent")
        expect(int(s["endTimeUnixNano"]) <= int(validate["endTimeUnixNano"]), "child ends inside parent")
        a = attrs(s)
        expect(a.get("db.system") == "memory", "db.system")
    ok_get, missing_get = gets
    expect(attrs(ok_get) == {"db.system": "memory", "db.operation": "get"}, "get attributes %r" % attrs(ok_get))
    expect("status" not in ok_get, "successful get has no status")
    expect(attrs(missing_get).get("jwtsession.result") == "JWTS_E_NOT_FOUND", "not-found result attribute")
    expect("status" not in missing_get, "not found is not an error")
    expect(attrs(touch).get("db.operation") == "touch", "touch db.operation")
    expect(touch.get("status") == {"code": 2, "message": "JWTS_E_CLOSED"}, "touch error status")

    (create,) = by_name["jwtsession.create"]
    (store_set,) = by_name["jwtsession.store.set"]
    expect("parentSpanId" not in create, "create is a root span")
    expect(create["traceId"] != trace_id, "create is its own trace")
    expect(store_set["traceId"] == create["traceId"], "set in create's trace")
    expect(store_set["parentSpanId"] == create["spanId"], "set is a child of create")
    expect(len({s["spanId"] for s in spans}) == 6, "span ids are unique")
    print("otlp_receiver_test: %d requests, 6 spans, span tree and attributes as expected" % len(received))


if __name__ == "__main__":
    main()
