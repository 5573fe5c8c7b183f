# shellcheck shell=bash
# Shared by container_test.sh and engine.sh beside it (source it; it defines functions only).
# A private Docker engine for a machine with no Docker service: its own socket, data and exec
# roots under one work dir, no bridge, no iptables, so it leaves the host's network alone, and its
# own containerd namespaces (so it never meets a Docker service that does run, e.g. on GitHub's
# runners); stopped by PID. And the base image: the real python:3.11-slim when it can be pulled,
# else, when no registry is reachable, a local stand-in made with debootstrap (Debian bookworm's
# Python 3.11), kept as a tarball in $BANKRISK_ROOTFS_CACHE between runs.
# The caller defines log() and die().

BANKRISK_ROOTFS_CACHE="${BANKRISK_ROOTFS_CACHE:-/var/cache/bankrisk-rootfs}"
BASE_IMAGE="python:3.11-slim"

# Prefer Debian's /usr/bin/docker (docker.io): its BuildKit is built in, while another client
# earlier on PATH may lack the buildx plugin. $DOCKER overrides.
pick_docker() {
    if [[ -n "${DOCKER:-}" ]]; then echo "$DOCKER"
    elif [[ -x /usr/bin/docker ]]; then echo /usr/bin/docker
    else command -v docker || true
    fi
}

# engine_start DIR: start dockerd with everything under DIR; sets DOCKERD_PID, exports DOCKER_HOST.
engine_start() {
    local dir="$1"
    command -v dockerd >/dev/null || die "dockerd not found: run 'make system-deps'"
    mkdir -p "$dir"
    dockerd -H "unix://$dir/docker.sock" --data-root "$dir/data" --exec-root "$dir/exec" \
        --pidfile "$dir/dockerd.pid" --bridge=none --iptables=false --ip6tables=false \
        --containerd-namespace bankrisk-private --containerd-plugins-namespace bankrisk-private-plugins \
        >"$dir/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    export DOCKER_HOST="unix://$dir/docker.sock"
    local _
    for _ in $(seq 1 100); do
        "$DOCKER" version >/dev/null 2>&1 && return 0
        kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -n 20 "$dir/dockerd.log" >&2; die "dockerd exited at start"; }
        sleep 0.3
    done
    tail -n 20 "$dir/dockerd.log" >&2
    die "dockerd not answering after 30 s"
}

# engine_stop DIR PID: TERM (then KILL) the daemon, unmount what it left under DIR.
engine_stop() {
    local dir="$1" pid="$2" _
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            log "dockerd did not stop on TERM: killing PID $pid"
            kill -KILL "$pid"
        fi
        wait "$pid" 2>/dev/null || true
    fi
    umount "$dir/exec/netns/default" 2>/dev/null || true
    awk -v d="$dir" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
}

_standin_import() {
    local tmp="$1" mirror rootfs key tarball
    mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
    if [[ -z "$mirror" ]]; then
        mirror="$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
    fi
    mirror="${mirror:-http://deb.debian.org/debian}"
    # Cache key: the package set and the host's extra CA certificates baked into it.
    key="$( (echo "v2 bookworm minbase python3 python3-venv python3-pip python-is-python3 ca-certificates"; \
             cat /usr/local/share/ca-certificates/*.crt 2>/dev/null) | sha256sum | cut -c1-12)"
    tarball="$BANKRISK_ROOTFS_CACHE/python311-standin-$(dpkg --print-architecture)-$key.tar"
    if [[ ! -s "$tarball" ]]; then
        command -v debootstrap >/dev/null || die "debootstrap not found: run 'make system-deps'"
        log "bootstrapping the $BASE_IMAGE stand-in from $mirror (about a minute, cached after)"
        rootfs="$tmp/rootfs"
        debootstrap --variant=minbase \
            --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
            bookworm "$rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 \
            || { tail -n 20 "$tmp/debootstrap.log" >&2; die "debootstrap failed"; }
        # Behind a TLS-intercepting proxy, outgoing TLS is re-signed by a local CA that the host
        # trusts (/usr/local/share/ca-certificates): trust it inside too, or pip in RUN fails.
        if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
            cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
            chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
        fi
        rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED
        ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python3"
        ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
        ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
        # Closer to the real slim image: no docs, manuals or translations, no apt caches.
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
            "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
            "$rootfs"/usr/share/locale/*
        mkdir -p "$BANKRISK_ROOTFS_CACHE"
        tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp.$$" .
        mv "$tarball.tmp.$$" "$tarball"
        # Drop stand-ins cached under an older key.
        find "$BANKRISK_ROOTFS_CACHE" -maxdepth 1 -name 'python311-standin-*.tar' \
            ! -name "$(basename "$tarball")" -delete
        rm -rf "$rootfs"
    else
        log "using the cached stand-in rootfs $tarball"
    fi
    "$DOCKER" import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' \
        "$tarball" "$BASE_IMAGE" >/dev/null
}

# ensure_base MODE TMPDIR: MODE auto (pull, else stand-in), pull, or standin; sets BASE_KIND.
# shellcheck disable=SC2034  # BASE_KIND is read by the scripts that source this file
ensure_base() {
    local mode="$1" tmp="$2"
    if "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1 && [[ "$mode" == auto ]]; then
        BASE_KIND="$BASE_IMAGE (already in the engine)"
    elif [[ "$mode" != standin ]] && timeout 60 "$DOCKER" pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
        BASE_KIND="$BASE_IMAGE (pulled)"
    elif [[ "$mode" == pull ]]; then
        die "could not pull $BASE_IMAGE"
    else
        _standin_import "$tmp"
        BASE_KIND="$BASE_IMAGE stand-in (debootstrap bookworm, no registry reachable)"
    fi
}
