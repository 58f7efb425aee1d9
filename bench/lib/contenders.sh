# shellcheck shell=bash
# Starting the three contenders. Each start_* function launches one pinned
# process, tracks it for stop_all, waits until it answers 200 and sets the
# PID whose CPU time is measured (empty for the backend: not a proxy).
# Expects: bench_dir, work, LOAD_CPU, PROXY_CPU, backend_port, nginx_port,
# pg_port, pg_admin_port (globals of run.sh).
# shellcheck disable=SC2154

# The backend shares the load generator's core: the proxy's core stays its own.
start_backend() {
  render "$bench_dir/backend/nginx.conf.tmpl" "$work/backend.conf" WORK="$work" BACKEND_PORT="$backend_port"
  taskset -c "$LOAD_CPU" nginx -e "$work/backend.err" -c "$work/backend.conf" 2>"$work/backend.stderr" &
  track $!
  wait_200 "http://127.0.0.1:$backend_port/" ||
    die "the backend (nginx) does not answer 200 on 127.0.0.1:$backend_port: $(tail -5 "$work/backend.err" "$work/backend.stderr" 2>/dev/null)"
  track_nginx_workers "$work/backend.pid" >/dev/null
}

start_nginx() {
  render "$bench_dir/nginx/proxy.conf.tmpl" "$work/nginx.conf" WORK="$work" BACKEND_PORT="$backend_port" \
    NGINX_PORT="$nginx_port"
  taskset -c "$PROXY_CPU" nginx -e "$work/nginx.err" -c "$work/nginx.conf" 2>"$work/nginx.stderr" &
  track $!
  wait_200 "https://127.0.0.1:$nginx_port/" ||
    die "nginx does not answer 200 on https://127.0.0.1:$nginx_port/: $(tail -5 "$work/nginx.err" "$work/nginx.stderr" 2>/dev/null)"
  nginx_pid=$(track_nginx_workers "$work/nginx.pid")
  [ -n "$nginx_pid" ] || die "nginx runs but its worker process was not found"
}

# track_nginx_workers PIDFILE: track the workers of the nginx master named in
# PIDFILE (so that none outlives an interrupted run); print the first.
track_nginx_workers() {
  local master w first=""
  master=$(cat "$1")
  for w in $(pgrep -P "$master"); do
    track "$w"
    [ -n "$first" ] || first=$w
  done
  echo "$first"
}

# phiguard runs from a private copy of the binary: other engineers rebuild
# build/phiguard while a bench runs.
start_phiguard() {
  cp "$1" "$work/phiguard"
  cat > "$work/phiguard.yaml" <<CONF
listen: "127.0.0.1:$pg_port"
workers: 1
tls: {certificate: $work/cert.pem, key: $work/key.pem, min_version: "1.3"}
upstream: {address: "127.0.0.1:$backend_port", max_idle: 256}
admin: {listen: "127.0.0.1:$pg_admin_port"}
log: {level: warn, access: false}
CONF
  taskset -c "$PROXY_CPU" "$work/phiguard" serve -c "$work/phiguard.yaml" 2>"$work/phiguard.log" &
  phiguard_pid=$!
  track "$phiguard_pid"
  if ! wait_200 "http://127.0.0.1:$pg_admin_port/readyz" 100; then
    kill -0 "$phiguard_pid" 2>/dev/null || die "phiguard exited at start: $(tail -5 "$work/phiguard.log")"
    die "phiguard's /readyz (http://127.0.0.1:$pg_admin_port/readyz) does not answer 200: $(tail -5 "$work/phiguard.log")"
  fi
  local code
  code=$(http_code "https://127.0.0.1:$pg_port/")
  [ "$code" = 200 ] || die "phiguard is ready but https://127.0.0.1:$pg_port/ answers $code: $(tail -5 "$work/phiguard.log")"
}
