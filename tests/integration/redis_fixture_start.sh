#!/bin/sh
# redis_fixture_start.sh DIR - CTest fixture: start a throwaway redis-server on a free loopback
# port and a unix socket in DIR, and write DIR/port, DIR/socket and DIR/redis.pid for the tests.
# Stopped by redis_fixture_stop.sh DIR (by pid). Ports are tried at random until one binds.
set -eu
dir=$1
if [ -f "$dir/redis.pid" ]; then sh "$(dirname "$0")/redis_fixture_stop.sh" "$dir"; fi
rm -rf "$dir"
mkdir -p "$dir"
tries=0
while [ $tries -lt 20 ]; do
    tries=$((tries + 1))
    port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 ))
    if ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then continue; fi
    rm -f "$dir/redis.pid" "$dir/redis.log"
    redis-server --port "$port" --bind 127.0.0.1 --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
        --dir "$dir" --save "" --appendonly no --daemonize yes --pidfile "$dir/redis.pid" \
        --logfile "$dir/redis.log" --enable-debug-command local --protected-mode yes >/dev/null
    i=0
    while [ $i -lt 50 ]; do
        if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ] && [ -f "$dir/redis.pid" ]; then
            echo "$port" > "$dir/port"
            echo "$dir/redis.sock" > "$dir/socket"
            echo "redis-server pid $(cat "$dir/redis.pid") on 127.0.0.1:$port and $dir/redis.sock"
            exit 0
        fi
        if [ -f "$dir/redis.log" ] && grep -q "Address already in use" "$dir/redis.log"; then break; fi
        sleep 0.1
        i=$((i + 1))
    done
    if [ -f "$dir/redis.pid" ]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; fi
done
echo "could not start redis-server" >&2
cat "$dir/redis.log" >&2 2>/dev/null || true
exit 1
