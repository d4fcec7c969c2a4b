-- deploy/haproxy/jwtsession.lua - forward-auth for HAProxy (2.5 or later; Debian 12 ships 2.6),
-- which has no auth_request of its own: an http-request action that asks jwtsessiond with
-- core.httpclient before the request goes on.
--
--   global
--       lua-load /etc/haproxy/jwtsession.lua
--   frontend web
--       http-request lua.jwtsession-auth http://127.0.0.1:8080/v1/auth X-Session-User,X-Session-Id
--
-- The check is a HEAD request carrying the client's Authorization, Cookie, Accept,
-- X-Requested-With, Origin and Sec-Fetch-Site, and X-Forwarded-Method, -Proto, -Host, -Uri and
-- -For describing the original request. On 200 the listed identity headers are set from the
-- answer (a client's own copies are always removed first). Any other answer is sent to the client
-- as it is (401 with its WWW-Authenticate, a 302 to the login page, 403, 503); no answer at all
-- is a 500 (fail closed; HAProxy 2.6's httpclient retries a refused connection 3 times first, about
-- 3 s). The second argument is the comma separated list of identity headers.
--
-- The httpclient keeps its connections to jwtsessiond alive and sends the next checks on them
-- (since HAProxy 2.6.5, "httpclient: keep-alive was accidentely disabled" in its changelog; older
-- 2.5 and 2.6 releases open a connection per check). HAProxy 2.6 has no setting for that pool: it
-- grows to the checks in flight at once (61 connections for wrk -c64), so keep those under
-- jwtsessiond's --max-connections-per-ip (256) or raise it. tests/e2e/test_gateways.py counts them.

local FORWARD = { "authorization", "cookie", "accept", "x-requested-with", "origin", "sec-fetch-site" }
local PASS_BACK = { "www-authenticate", "location", "x-session-error", "x-session-error-description", "retry-after" }

local function split(list)
    local out = {}
    for name in string.gmatch(list, "[^,%s]+") do out[#out + 1] = name end
    return out
end

-- the values of header name in an HAProxy header table (indexed from 0)
local function values(headers, name)
    local v = headers[name]
    if not v then return nil end
    local out = {}
    local i = 0
    while v[i] ~= nil do
        out[#out + 1] = v[i]
        i = i + 1
    end
    return out
end

local function deny(txn, status, headers)
    local reply = txn:reply()
    reply:set_status(status)
    for name, vals in pairs(headers) do
        for _, v in ipairs(vals) do reply:add_header(name, v) end
    end
    reply:add_header("cache-control", "no-store")
    reply:set_body("")
    txn:done(reply)
end

local function auth(txn, url, identity)
    local names = split(identity)
    for _, n in ipairs(names) do txn.http:req_del_header(n) end
    local client = txn.http:req_get_headers()
    local req = {}
    for _, n in ipairs(FORWARD) do req[n] = values(client, n) end
    local host = values(client, "host")
    req["x-forwarded-method"] = { txn.sf:method() }
    local tls = txn.f:ssl_fc() -- a boolean sample: true, or 1, on a TLS connection
    req["x-forwarded-proto"] = { (tls == true or tls == 1) and "https" or "http" }
    req["x-forwarded-host"] = { host and host[1] or "" }
    req["x-forwarded-uri"] = { txn.sf:url() }
    req["x-forwarded-for"] = { txn.sf:src() }
    local ok, res = pcall(function()
        return core.httpclient():head({ url = url, headers = req, timeout = 5000 })
    end)
    if not ok or not res or not res.status or res.status == 0 then
        deny(txn, 500, {})
        return
    end
    if res.status == 200 then
        for _, n in ipairs(names) do
            local v = values(res.headers, string.lower(n))
            if v then txn.http:req_set_header(n, v[1]) end
        end
        return
    end
    local back = {}
    for _, n in ipairs(PASS_BACK) do back[n] = values(res.headers, n) end
    deny(txn, res.status, back)
end

core.register_action("jwtsession-auth", { "http-req" }, auth, 2)
