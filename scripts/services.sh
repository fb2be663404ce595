#!/usr/bin/env bash
# Redis and RabbitMQ on loopback for the tests, without systemd (Debian packages; run as root to install).
#
#   scripts/services.sh up       install if missing (apt-get), start what is not already running, wait until ready
#   scripts/services.sh down     stop what this script started (servers it found running are left alone)
#   scripts/services.sh status   one line per server; exit 0 when both answer, 3 otherwise
#
# Idempotent: a server already answering on its port (started by an earlier `up` or by anyone else) is reused.
# State (pid files, logs, RabbitMQ's node data and Erlang cookie) lives under $AGENTFLOW_SERVICES_DIR
# (default /tmp/agentflow-services); nothing under /var/lib is used. Ports: $REDIS_PORT (6379), $AMQP_PORT (5672).
# Connection strings for the tests: 127.0.0.1:$REDIS_PORT and amqp://guest:guest@127.0.0.1:$AMQP_PORT/
# Chroma (vector database, from npm: chromadb 3.5.0 with the glibc-2.34 bindings 1.0.1) on $CHROMA_PORT (8765),
# installed once into $AGENTFLOW_CHROMA_CACHE (default ~/.cache/agentflow-chroma): http://127.0.0.1:$CHROMA_PORT
# Without node/npm, Chroma is skipped with a warning (its tests then skip).
set -euo pipefail

SVC_DIR="${AGENTFLOW_SERVICES_DIR:-/tmp/agentflow-services}"
REDIS_PORT="${REDIS_PORT:-6379}"
AMQP_PORT="${AMQP_PORT:-5672}"
CHROMA_PORT="${CHROMA_PORT:-8765}"
CHROMA_CACHE="${AGENTFLOW_CHROMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentflow-chroma}"
READY_TIMEOUT="${AGENTFLOW_SERVICES_TIMEOUT:-90}"   # seconds per server
RABBIT_BIN=/usr/lib/rabbitmq/bin                    # the real launcher (Debian's /usr/sbin wrapper switches user)

log() { echo "services: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Seconds since $1 (an EPOCHREALTIME value), with millisecond precision.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2fs", b - a }'; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

redis_ping() {
  if command -v redis-cli >/dev/null; then
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
  else
    # No client installed (server reused from elsewhere): speak RESP over bash's /dev/tcp.
    local reply
    reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" && printf 'PING\r\n' >&3 && timeout 2 head -c 7 <&3) 2>/dev/null || true)
    [ "${reply%$'\r'*}" = "+PONG" ]
  fi
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

rabbit_env() {
  export HOME="$SVC_DIR/rabbit"                 # Erlang cookie = $HOME/.erlang.cookie; rabbitmqctl must see the same HOME
  # Independent of the machine's hostname; a node on another port needs another name (epmd is shared).
  if [ "$AMQP_PORT" = 5672 ]; then export RABBITMQ_NODENAME=rabbit@localhost; else export RABBITMQ_NODENAME="rabbit-$AMQP_PORT@localhost"; fi
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$AMQP_PORT"
  export RABBITMQ_DIST_PORT=$((AMQP_PORT + 20000))
  export RABBITMQ_BASE="$SVC_DIR/rabbit"
  export RABBITMQ_MNESIA_BASE="$SVC_DIR/rabbit/mnesia"
  export RABBITMQ_LOG_BASE="$SVC_DIR/rabbit/log"
  export RABBITMQ_PID_FILE="$SVC_DIR/rabbit/beam.pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$SVC_DIR/rabbit/enabled_plugins"
  export RABBITMQ_CONFIG_FILE="$SVC_DIR/rabbit/rabbitmq"   # no such file -> defaults (guest/guest over loopback)
}

install_packages() {
  local missing=()
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing+=(redis-server)
  [ -x "$RABBIT_BIN/rabbitmq-server" ] || missing+=(rabbitmq-server)
  [ ${#missing[@]} -gt 0 ] || return 0
  [ "$(id -u)" = 0 ] || die "${missing[*]} not installed and not root; run as root or: sudo apt-get install -y ${missing[*]}"
  command -v apt-get >/dev/null || die "${missing[*]} not installed and apt-get not found (Debian/Ubuntu only)"
  local t0=$EPOCHREALTIME
  log "installing ${missing[*]} (apt-get)..."
  export DEBIAN_FRONTEND=noninteractive
  mkdir -p "$SVC_DIR"
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$SVC_DIR/apt.log" 2>&1 \
    || { tail -30 "$SVC_DIR/apt.log" >&2; die "apt-get could not install ${missing[*]} (log: $SVC_DIR/apt.log)"; }
  log "installed ${missing[*]} in $(elapsed "$t0")"
}

start_redis() {
  if redis_ping; then
    log "redis :$REDIS_PORT already running, reusing it"
    return 0
  fi
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by something that is not Redis"
  local t0=$EPOCHREALTIME
  rm -rf "$SVC_DIR/redis"; mkdir -p "$SVC_DIR/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
    --pidfile "$SVC_DIR/redis/redis.pid" --dir "$SVC_DIR/redis" --logfile "$SVC_DIR/redis/redis.log" \
    --save '' --appendonly no 8>&-   # the daemon must not inherit the lock (fd 8)
  local deadline=$((SECONDS + READY_TIMEOUT))
  until redis_ping; do
    [ $SECONDS -lt $deadline ] || { tail -20 "$SVC_DIR/redis/redis.log" >&2 || true; die "redis did not answer on :$REDIS_PORT within ${READY_TIMEOUT}s"; }
    sleep 0.05
  done
  log "redis :$REDIS_PORT ready in $(elapsed "$t0")"
}

start_rabbitmq() {
  if port_open "$AMQP_PORT"; then
    log "rabbitmq :$AMQP_PORT already running, reusing it"
    return 0
  fi
  local t0=$EPOCHREALTIME
  rm -rf "$SVC_DIR/rabbit"; mkdir -p "$SVC_DIR/rabbit/log"
  ( rabbit_env
    echo '[].' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
    setsid "$RABBIT_BIN/rabbitmq-server" >"$SVC_DIR/rabbit/stdout.log" 2>&1 </dev/null 8>&- &
    echo $! > "$SVC_DIR/rabbit/launcher.pid" )
  local deadline=$((SECONDS + READY_TIMEOUT))
  until port_open "$AMQP_PORT"; do   # await_startup fails at once if called before the node is up: poll the port first
    if [ $SECONDS -ge $deadline ] || ! pid_alive "$SVC_DIR/rabbit/launcher.pid"; then
      tail -40 "$SVC_DIR/rabbit/stdout.log" "$SVC_DIR"/rabbit/log/*.log >&2 2>/dev/null || true
      die "rabbitmq did not open :$AMQP_PORT (log: $SVC_DIR/rabbit/)"
    fi
    sleep 0.2
  done
  ( rabbit_env; "$RABBIT_BIN/rabbitmqctl" -q await_startup --timeout "$READY_TIMEOUT" >/dev/null ) \
    || die "rabbitmq opened :$AMQP_PORT but did not finish booting (log: $SVC_DIR/rabbit/)"
  log "rabbitmq :$AMQP_PORT ready in $(elapsed "$t0")"
}

chroma_ping() {
  local reply
  reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$CHROMA_PORT" && printf 'GET /api/v2/heartbeat HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && timeout 2 cat <&3) 2>/dev/null || true)
  [[ "$reply" == *"heartbeat"* ]]
}

install_chroma() {
  [ -f "$CHROMA_CACHE/node_modules/chromadb/dist/cli.mjs" ] && return 0
  local t0=$EPOCHREALTIME
  mkdir -p "$CHROMA_CACHE"
  # The newest bindings need glibc 2.38; 1.0.1 needs 2.34. The override stops npm nesting a newer copy under chromadb/.
  cat > "$CHROMA_CACHE/package.json" <<'JSON'
{ "name": "agentflow-chroma", "private": true,
  "dependencies": { "chromadb": "3.5.0", "chromadb-js-bindings-linux-x64-gnu": "1.0.1" },
  "overrides": { "chromadb-js-bindings-linux-x64-gnu": "1.0.1" } }
JSON
  log "installing chroma (npm) into $CHROMA_CACHE..."
  ( cd "$CHROMA_CACHE" && npm install --no-audit --no-fund --loglevel=error ) >"$CHROMA_CACHE/npm.log" 2>&1 \
    || { tail -20 "$CHROMA_CACHE/npm.log" >&2; die "npm could not install chroma (log: $CHROMA_CACHE/npm.log)"; }
  log "installed chroma in $(elapsed "$t0")"
}

start_chroma() {
  if chroma_ping; then
    log "chroma :$CHROMA_PORT already running, reusing it"
    return 0
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    log "warning: node/npm not found: chroma not started (its tests will skip)"
    return 0
  fi
  port_open "$CHROMA_PORT" && die "port $CHROMA_PORT is taken by something that is not Chroma"
  install_chroma
  local t0=$EPOCHREALTIME
  rm -rf "$SVC_DIR/chroma"; mkdir -p "$SVC_DIR/chroma"
  # node itself, not npx: npx would leave the server running when its own pid is stopped.
  setsid node "$CHROMA_CACHE/node_modules/chromadb/dist/cli.mjs" run --path "$SVC_DIR/chroma/data" --port "$CHROMA_PORT" \
    >"$SVC_DIR/chroma/chroma.log" 2>&1 </dev/null 8>&- &
  echo $! > "$SVC_DIR/chroma/chroma.pid"
  local deadline=$((SECONDS + READY_TIMEOUT))
  until chroma_ping; do
    if [ $SECONDS -ge $deadline ] || ! pid_alive "$SVC_DIR/chroma/chroma.pid"; then
      tail -20 "$SVC_DIR/chroma/chroma.log" >&2 || true
      die "chroma did not answer on :$CHROMA_PORT within ${READY_TIMEOUT}s (log: $SVC_DIR/chroma/chroma.log)"
    fi
    sleep 0.2
  done
  log "chroma :$CHROMA_PORT ready in $(elapsed "$t0")"
}

stop_chroma() {
  local pidfile="$SVC_DIR/chroma/chroma.pid"
  pid_alive "$pidfile" || { log "chroma: nothing of ours to stop"; rm -f "$pidfile"; return 0; }
  local pid; pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  log "chroma :$CHROMA_PORT stopped"
}

stop_redis() {
  local pidfile="$SVC_DIR/redis/redis.pid"
  pid_alive "$pidfile" || { log "redis: nothing of ours to stop"; rm -f "$pidfile"; return 0; }
  local pid; pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  log "redis :$REDIS_PORT stopped"
}

stop_rabbitmq() {
  local launcher="$SVC_DIR/rabbit/launcher.pid" beamfile="$SVC_DIR/rabbit/beam.pid"
  if ! pid_alive "$launcher" && ! pid_alive "$beamfile"; then
    log "rabbitmq: nothing of ours to stop"; rm -f "$launcher"; return 0
  fi
  local beam=""; [ -f "$beamfile" ] && beam=$(cat "$beamfile")
  pid_alive "$launcher" && kill -TERM "$(cat "$launcher")" 2>/dev/null || true   # the launcher traps TERM: graceful stop
  for _ in $(seq 1 150); do
    { [ -n "$beam" ] && kill -0 "$beam" 2>/dev/null; } || pid_alive "$launcher" || break
    sleep 0.1
  done
  [ -n "$beam" ] && kill -0 "$beam" 2>/dev/null && kill -KILL "$beam" 2>/dev/null || true
  # epmd (Erlang's port mapper daemon) outlives the node; make it quit unless another Erlang node still uses it.
  local epmd; epmd=$(ls /usr/lib/erlang/erts-*/bin/epmd 2>/dev/null | head -1 || true)
  if [ -n "$epmd" ] && ! "$epmd" -names 2>/dev/null | grep -q '^name '; then "$epmd" -kill >/dev/null 2>&1 || true; fi
  rm -f "$launcher" "$beamfile"
  log "rabbitmq :$AMQP_PORT stopped"
}

status() {
  local rc=0
  if redis_ping; then
    if pid_alive "$SVC_DIR/redis/redis.pid"; then log "redis    127.0.0.1:$REDIS_PORT up (started by this script, pid $(cat "$SVC_DIR/redis/redis.pid"))"
    else log "redis    127.0.0.1:$REDIS_PORT up (not started by this script)"; fi
  else log "redis    127.0.0.1:$REDIS_PORT down"; rc=3; fi
  if port_open "$AMQP_PORT"; then
    if pid_alive "$SVC_DIR/rabbit/launcher.pid"; then log "rabbitmq 127.0.0.1:$AMQP_PORT up (started by this script, pid $(cat "$SVC_DIR/rabbit/launcher.pid"))"
    else log "rabbitmq 127.0.0.1:$AMQP_PORT up (not started by this script)"; fi
  else log "rabbitmq 127.0.0.1:$AMQP_PORT down"; rc=3; fi
  # Chroma is optional (its tests skip without it), so it does not change the exit status.
  if chroma_ping; then log "chroma   http://127.0.0.1:$CHROMA_PORT up"; else log "chroma   http://127.0.0.1:$CHROMA_PORT down"; fi
  return $rc
}

# One invocation at a time (parallel test runs would otherwise race to start the same servers).
with_lock() {
  mkdir -p "$SVC_DIR"
  exec 8>"$SVC_DIR/services.lock"
  flock -w 300 8 || die "another services.sh is still running (lock $SVC_DIR/services.lock)"
  "$@"
}

up() {
  local t0=$EPOCHREALTIME
  install_packages
  start_redis
  start_rabbitmq
  start_chroma
  log "redis 127.0.0.1:$REDIS_PORT and rabbitmq amqp://guest:guest@127.0.0.1:$AMQP_PORT/ ready after $(elapsed "$t0") in all"
}

down() { stop_chroma; stop_rabbitmq; stop_redis; }

case "${1:-}" in
  up) with_lock up ;;
  down) with_lock down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
