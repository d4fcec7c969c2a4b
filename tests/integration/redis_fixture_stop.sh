#!/bin/sh
# redis_fixture_stop.sh DIR - CTest fixture cleanup: stop the redis-server whose pid is in
# DIR/redis.pid (TERM, then KILL after 5 s) and leave DIR for post-mortems.
set -eu
dir=$1
[ -f "$dir/redis.pid" ] || exit 0
pid=$(cat "$dir/redis.pid")
kill "$pid" 2>/dev/null || { rm -f "$dir/redis.pid"; exit 0; }
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
rm -f "$dir/redis.pid"
echo "stopped redis-server pid $pid"
