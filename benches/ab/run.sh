#!/usr/bin/env bash
# The issue-18 measurement from outside: ApacheBench (`ab`) posts one ticket body again and
# again (one contact), 32 at a time, and nginx on loopback is the receiver of ten workspace
# destinations. Not part of the test suite; needs Debian's apache2-utils and nginx
# (`apt-get install apache2-utils nginx-light`) and a PostgreSQL socket directory in
# BENCH_PG_SOCKET (default: the cluster `cargo bench --bench load` starts in
# target/bench-postgres, left running after it).
#
#   benches/ab/run.sh tickets BINARY [N] [ROUNDS]   ticket creation alone (no destinations)
#   benches/ab/run.sh e2e BINARY [N]                first request → last delivery, N × 10
#   benches/ab/run.sh drain BINARY [N]              N × 10 due deliveries queued in SQL, then a
#                                                   worker started: its start → last delivery
#
# BINARY is a built service (`cargo build --release`: target/release/therethere); give two
# builds in turn to compare them. Each run uses a fresh database, dropped afterwards.
set -euo pipefail
MODE=${1:?tickets, e2e or drain}; BIN=$(realpath "${2:?the service binary}"); N=${3:-2000}
ROUNDS=${4:-3}; C=32
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SOCK=${BENCH_PG_SOCKET:-$ROOT/target/bench-postgres/socket}
WORK=$ROOT/target/bench-ab; mkdir -p "$WORK"
PORT=18080; HOOKS=18090
DB=ab_$(date +%s%N)
psql -h "$SOCK" -U postgres -d postgres -qc "CREATE DATABASE $DB"
export DATABASE_URL="postgres://postgres@localhost/$DB?host=$SOCK" OUTBOUND_ALLOW_PRIVATE=true \
  OUTBOUND_ALLOW_HTTP=true RUST_LOG=error METRICS_ADDR=off DEMO_DATA=false \
  SECRETS_KEY=${SECRETS_KEY:-$(openssl rand -base64 32)}
"$BIN" migrate >/dev/null 2>&1
"$BIN" demo --json > "$WORK/demo.json"
field() { python3 -c "import json,sys;d=json.load(open('$WORK/demo.json'));print($1)"; }
TOKEN=$(field "next(u['api_token'] for u in d['users'] if u['role']=='owner')")
CHANNEL=$(field "d['channels'][0]['id']")
printf '{"subject":"Help","body":"Help, please","contact":{"name":"Jane","email":"jane@example.com"},"channel_id":%s}' \
  "$CHANNEL" > "$WORK/body.json"
# The drain fills the queue while no worker runs; a worker starts once it is full.
ROLE=all; [ "$MODE" = drain ] && ROLE=web
ROLE=$ROLE BIND_ADDR=127.0.0.1:$PORT "$BIN" serve & SERVICE=$!
WORKER=
NGINX_CONF=$WORK/nginx.conf
cleanup() {
  kill $SERVICE $WORKER 2>/dev/null; wait $SERVICE $WORKER 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && nginx -c "$NGINX_CONF" -s quit 2>/dev/null || true
  psql -h "$SOCK" -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
}
trap cleanup EXIT
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.1; done
post_tickets() {
  ab -q -n "$N" -c $C -p "$WORK/body.json" -T application/json -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$PORT/api/tickets" | awk '/Requests per second/{print $4}; /Non-2xx/{print "NON-2XX: " $0}'
}
if [ "$MODE" = tickets ]; then
  for round in $(seq "$ROUNDS"); do echo "tickets alone, round $round: $(post_tickets) tickets/s"; done
  exit 0
fi
# e2e and drain: nginx answers every POST with 200 and logs "x\n" per request: the log's size
# counts them, polled by one process (a `wc` every few ms cost the machine ~8 % of its CPU).
received() { echo $(( $(stat -c %s "$WORK/hooks.log") / 2 )); }
# CPU time the whole machine spent busy, in clock ticks (a steadier figure than a rate on 2 cores).
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
wait_for() { python3 -c "import os,time
while os.stat('$WORK/hooks.log').st_size < 2 * $1: time.sleep(0.005)
print(time.time())"; }
cat > "$NGINX_CONF" <<CONF
worker_processes 1; pid $WORK/nginx.pid; error_log $WORK/nginx.error.log;
events { worker_connections 4096; }
http { log_format one "x"; access_log $WORK/hooks.log one; client_body_temp_path $WORK/nginx-body;
  server { listen 127.0.0.1:$HOOKS; location / { return 200 "ok"; } } }
CONF
: > "$WORK/hooks.log"; nginx -c "$NGINX_CONF"
for i in $(seq 10); do
  curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d "{\"scope\":\"workspace\",\"url\":\"http://127.0.0.1:$HOOKS/hook$i\",\"events\":[\"ticketOpened\"],\"name\":\"d$i\"}" \
    "http://127.0.0.1:$PORT/api/webhook-destinations"
done
sleep 1 # the demo's own events, if any, go first
if [ "$MODE" = drain ]; then
  psql -h "$SOCK" -U postgres -d "$DB" -qc "
    WITH queued AS (
      INSERT INTO webhook_deliveries (ulid, workspace_id, destination_id, event_type, payload)
      SELECT 'D' || lpad(i::text, 12, '0') || lpad(w.id::text, 13, '0'), w.workspace_id, w.id, 'ticketOpened',
             json_build_object('event', 'ticketOpened', 'ulid', 'D' || i || '-' || w.id,
                               'timestamp', '2026-11-30T00:00:00.000Z',
                               'data', json_build_object('ticket', json_build_object('id', i, 'number', i,
                                   'subject', 'Ticket ' || i, 'status', 'open', 'channel', null,
                                   'contact', json_build_object('name', 'Jane', 'email', 'c' || i || '@example.com'))))::text
      FROM generate_series(1, $N) i CROSS JOIN webhook_destinations w ORDER BY i, w.id
      RETURNING id, destination_id)
    INSERT INTO webhook_queue (delivery_id, destination_id, test) SELECT id, destination_id, false FROM queued"
  psql -h "$SOCK" -U postgres -d "$DB" -qc "VACUUM ANALYZE webhook_deliveries" -c "VACUUM ANALYZE webhook_queue"
  BEFORE=$(received); START=$(date +%s.%N); BUSY=$(busy_ticks)
  ROLE=worker "$BIN" serve & WORKER=$!
  END=$(wait_for $((BEFORE + N * 10))); BUSY=$(( $(busy_ticks) - BUSY ))
  RSS=$(awk '/VmHWM/{print $2}' /proc/$WORKER/status); WORKER_TICKS=$(awk '{print $14 + $15}' /proc/$WORKER/stat)
  sleep 1.2 # backends report their table statistics at most once a second
  LOGGED=$(psql -h "$SOCK" -U postgres -d "$DB" -qAtc "SELECT count(*) FROM webhook_attempts")
  HOT=$(psql -h "$SOCK" -U postgres -d "$DB" -qAtc "SELECT n_tup_hot_upd || ' of ' || n_tup_upd
    FROM pg_stat_user_tables WHERE relname = 'webhook_deliveries'")
  SPAN=$(psql -h "$SOCK" -U postgres -d "$DB" -qAtc "SELECT extract(epoch FROM max(started_at) - min(started_at))
    FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.ulid LIKE 'D%'")
  python3 -c "s,e=$START,$END; n=$N*10
print(f'drain: {n} due deliveries in {e-s:.2f} s from the worker start = {n/(e-s):.0f}/s; first attempt to last {$SPAN:.2f} s = {n/$SPAN:.0f}/s; attempts logged {$LOGGED}; log rows updated in place (HOT) $HOT; worker peak RSS {$RSS/1024:.0f} MB')
t=$(getconf CLK_TCK)
print(f'CPU per delivery: machine {$BUSY/t/n*1e6:.0f} µs busy, the worker {$WORKER_TICKS/t/n*1e6:.0f} µs (its start-up included)')"
  exit 0
fi
BEFORE=$(received); START=$(date +%s.%N)
RATE=$(post_tickets); CREATED=$(date +%s.%N); BY_THEN=$(( $(received) - BEFORE ))
END=$(wait_for $((BEFORE + N * 10))); RSS=$(awk '/VmHWM/{print $2}' /proc/$SERVICE/status)
python3 -c "s,c,e=$START,$CREATED,$END; n=$N*10
print(f'end to end: {n} deliveries in {e-s:.2f} s = {n/(e-s):.0f}/s; tickets {$RATE}/s, all created in {c-s:.2f} s, {$BY_THEN} delivered by then; peak RSS {$RSS/1024:.0f} MB')"
# Where an event's wait goes: until fan-out's transaction began (the delivery's created_at),
# then until its first attempt (fan-out's commit, then the queue).
psql -h "$SOCK" -U postgres -d "$DB" -qAtc "
  SELECT 'event → first attempt p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)) ||
         ' ms, p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)) ||
         ' ms (event → fanned out p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY fan_ms)) ||
         ' ms, p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY fan_ms)) || ' ms)'
  FROM (SELECT extract(epoch FROM min(a.started_at) - e.created_at) * 1000 AS ms,
               extract(epoch FROM d.created_at - e.created_at) * 1000 AS fan_ms
        FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
        JOIN webhook_attempts a ON a.delivery_id = d.id
        WHERE d.created_at >= to_timestamp($START) GROUP BY d.id, d.created_at, e.created_at) t"
