#!/bin/bash
# EC2 user data: runs the published Asterisk image on this instance, with host networking.
# Works on Amazon Linux 2023 and Ubuntu (22.04, 24.04); Debian too. Idempotent: run it
# again (as root) to pull the tag anew and recreate the container. See docs/ec2.md.
#
#   aws ec2 run-instances ... --user-data file://deploy/ec2/user-data.sh
#
# Logs: /var/log/asterisk-user-data.log (this script), `docker logs asterisk` (Asterisk).

# ---- settings: edit these, or set them in the environment when running by hand --------
IMAGE=${IMAGE:-docker.io/asteriskpipeline/asterisk:lts}
NAME=${NAME:-asterisk}
DATA_DIR=${DATA_DIR:-/srv/asterisk}       # etc/, spool/, log/, lib/ live here on the host
ASTERISK_UID=${ASTERISK_UID:-1000}        # owner of the files in DATA_DIR
ASTERISK_GID=${ASTERISK_GID:-1000}
SIP_PORT=${SIP_PORT:-5060}                # the security group must open these (docs/ec2.md)
RTP_START=${RTP_START:-10000}
RTP_END=${RTP_END:-10099}
EXTERNAL_ADDRESS=${EXTERNAL_ADDRESS:-ec2} # ec2: the instance's public IPv4 (IMDSv2)
# yes: with no address found, the container does not start (and retries) rather than run
# with one-way audio; no: it starts without an external address (calls inside the VPC).
EXTERNAL_ADDRESS_REQUIRED=${EXTERNAL_ADDRESS_REQUIRED:-yes}
# ----------------------------------------------------------------------------------------

set -euo pipefail
exec > >(tee -a /var/log/asterisk-user-data.log) 2>&1
log() { echo "user-data: $*"; }

install_docker() {
    if command -v docker >/dev/null 2>&1; then
        log "docker already installed"
        return
    fi
    # shellcheck disable=SC1091 # present on every supported distribution
    . /etc/os-release
    case "${ID:-}" in
        amzn)
            log "installing docker (Amazon Linux ${VERSION_ID:-})"
            dnf install -y docker
            ;;
        ubuntu | debian)
            log "installing docker.io ($ID ${VERSION_ID:-})"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -q
            apt-get install -y -q docker.io
            ;;
        *)
            log "unsupported distribution '${ID:-unknown}': install Docker, then run this again"
            exit 1
            ;;
    esac
}

start_docker() {
    systemctl enable --now docker
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && return
        sleep 1
    done
    log "docker did not start"
    exit 1
}

# Bind mounts: the state is the user's Asterisk runs as in the container; the
# configuration is root's, readable by that group (Asterisk cannot rewrite it).
make_dirs() {
    install -d -m 0750 -o 0 -g "$ASTERISK_GID" "$DATA_DIR/etc"
    for dir in spool log lib; do
        install -d -m 0750 -o "$ASTERISK_UID" -g "$ASTERISK_GID" "$DATA_DIR/$dir"
    done
}

pull() {
    for attempt in 1 2 3 4 5; do
        docker pull "$IMAGE" && return
        log "pull of $IMAGE failed (attempt $attempt), retrying"
        sleep $((attempt * 5))
    done
    exit 1
}

run() {
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    # An empty etc/ is seeded with the image's default configuration at the first start;
    # add endpoints as files in $DATA_DIR/etc/pjsip.d/ and restart the container.
    # The entrypoint needs these capabilities as root (volume owners, then the switch to
    # the user asterisk); Asterisk itself runs with none and no-new-privileges.
    docker run -d --name "$NAME" \
        --restart unless-stopped \
        --network host \
        --cap-drop ALL --cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add FOWNER \
        --cap-add SETUID --cap-add SETGID --cap-add SETPCAP \
        --security-opt no-new-privileges \
        --log-opt max-size=50m --log-opt max-file=5 \
        -e ASTERISK_EXTERNAL_ADDRESS="$EXTERNAL_ADDRESS" \
        -e ASTERISK_EXTERNAL_ADDRESS_REQUIRED="$EXTERNAL_ADDRESS_REQUIRED" \
        -e ASTERISK_SIP_PORT="$SIP_PORT" \
        -e ASTERISK_RTP_START="$RTP_START" \
        -e ASTERISK_RTP_END="$RTP_END" \
        -e ASTERISK_UID="$ASTERISK_UID" \
        -e ASTERISK_GID="$ASTERISK_GID" \
        -v "$DATA_DIR/etc:/etc/asterisk" \
        -v "$DATA_DIR/spool:/var/spool/asterisk" \
        -v "$DATA_DIR/log:/var/log/asterisk" \
        -v "$DATA_DIR/lib:/var/lib/asterisk" \
        "$IMAGE"
    log "started $NAME from $IMAGE: SIP $SIP_PORT/udp+tcp, RTP $RTP_START-$RTP_END/udp"
}

install_docker
start_docker
make_dirs
pull
run
