#!/usr/bin/env bash
# Starts dockerd in the background (log: /var/log/dockerd.log) unless `docker info`
# already answers, then waits for it (bounded: DOCKERD_WAIT seconds, default 60).
# Why not just `dockerd &`: a machine handed to a new session or to CI had its
# processes killed, but /var/run/docker.pid and containerd's pid file and socket may
# remain. dockerd refuses to start when the pid in docker.pid is alive (pids get
# reused after a reboot), and the containerd supervisor acts on its own stale pid file;
# so pid files whose process is not the daemon they name are removed first.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

log=${DOCKERD_LOG:-/var/log/dockerd.log}
wait_s=${DOCKERD_WAIT:-60}

if docker info >/dev/null 2>&1; then
    step "dockerd: already answering"
    exit 0
fi
command -v dockerd >/dev/null || die "dockerd is not installed"

# pid_is NAME PIDFILE: true when PIDFILE names a live (not zombie) process named NAME.
pid_is() {
    local pid state
    [ -s "$2" ] || return 1
    pid=$(tr -dc 0-9 <"$2")
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "$1" ] || return 1
    state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

if pid_is dockerd /var/run/docker.pid; then
    # A live dockerd that does not answer: still starting, or wedged. Give it the
    # same bound as a fresh start below, then stop it and start afresh.
    step "dockerd: pid $(cat /var/run/docker.pid) is running but not answering yet; waiting"
    for _ in $(seq "$wait_s"); do
        docker info >/dev/null 2>&1 && { step "dockerd: answering"; exit 0; }
        sleep 1
    done
    step "dockerd: stopping the unresponsive dockerd"
    kill "$(cat /var/run/docker.pid)" 2>/dev/null || true
    sleep 5
fi
for f in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
    name=$([ "$f" = /var/run/docker.pid ] && echo dockerd || echo containerd)
    if [ -e "$f" ] && ! pid_is "$name" "$f"; then
        step "dockerd: removing stale $f"
        rm -f "$f"
    fi
done
if ! pid_is containerd /var/run/docker/containerd/containerd.pid; then
    rm -f /var/run/docker/containerd/containerd.sock /var/run/docker/containerd/containerd-debug.sock
fi

step "dockerd: starting (log $log)"
# setsid + nohup: the daemon outlives this script and its terminal; no stdin.
setsid nohup dockerd >>"$log" 2>&1 </dev/null &
for i in $(seq "$wait_s"); do
    if docker info >/dev/null 2>&1; then
        step "dockerd: answering after ${i}s"
        exit 0
    fi
    sleep 1
done
tail -n 30 "$log" >&2 || true
die "dockerd did not answer 'docker info' within ${wait_s}s (see $log)"
