#!/usr/bin/env bash
# Serves the local source mirror (make-local-mirror.sh) over HTTP on 127.0.0.1:8088
# with `python3 -m http.server` in the background, so that the pipeline's downloads
# (https://HOST/PATH rewritten to $PIPELINE_MIRROR/HOST/PATH) work offline.
# Idempotent: keeps a server that already answers with the mirror; a pid file left by
# a killed server (new session, CI) is cleaned up and the server started again.
# Env: MIRROR_PORT (8088), MIRROR_DIR ($PIPELINE_CACHE_DIR/mirror).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

port=${MIRROR_PORT:-8088}
mirror=${MIRROR_DIR:-$CACHE_DIR/mirror}
pidfile=$CACHE_DIR/mirror-server.pid
log=$CACHE_DIR/mirror-server.log
url=http://127.0.0.1:$port

[ -f "$mirror/.complete" ] || die "no mirror at $mirror (run scripts/make-local-mirror.sh)"
answers() { curl -fsS --max-time 3 -o /dev/null "$url/versions.env" 2>/dev/null; }

if answers; then
    step "mirror server: already answering on $url"
    exit 0
fi
if [ -s "$pidfile" ]; then
    pid=$(tr -dc 0-9 <"$pidfile")
    # Only stop the process if it really is our server (pids get reused).
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/${pid:-0}/cmdline" || true)
    if [ -n "$pid" ] && [[ $cmd == *"http.server $port"* ]]; then
        step "mirror server: pid $pid does not answer; stopping it"
        kill "$pid" 2>/dev/null || true
        sleep 1
    else
        step "mirror server: removing stale $pidfile"
    fi
    rm -f "$pidfile"
fi

py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
step "mirror server: starting on $url (log $log)"
setsid nohup "$py" -m http.server "$port" --bind 127.0.0.1 --directory "$mirror" \
    >>"$log" 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 20); do
    if answers; then
        step "mirror server: answering on $url (pid $(cat "$pidfile"))"
        exit 0
    fi
    sleep 0.5
done
tail -n 20 "$log" >&2 || true
die "mirror server did not answer on $url within 10s (port taken by something else?)"
