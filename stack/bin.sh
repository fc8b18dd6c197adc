#!/usr/bin/env bash
# stack/bin.sh NAME -- print the absolute path of a ready backend binary.
#
# NAME: prometheus | promtool | alertmanager | amtool | otelcol | jaeger | ocb | all
#
# Binaries are fetched or built once and cached outside the repository under
#   ${OTEL_LLM_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-llm/bin}/<name>-<version>/
# keyed by version (the collector also by a hash of its ocb manifest), so a
# second call costs a few milliseconds.  Go's module and build caches are the
# user's usual ones (GOMODCACHE, GOCACHE) and are kept between builds.
#
# Only the path goes to stdout; progress and errors go to stderr, so callers can
# do `PROM=$(stack/bin.sh prometheus)`.  Concurrent calls are safe: each
# artefact is prepared under its own flock and published by an atomic rename.
#
# Sources (no Docker needed):
#   prometheus, promtool      Debian bookworm package `prometheus` (apt-get download + dpkg -x)
#   alertmanager, amtool      Debian bookworm package `prometheus-alertmanager`
#   otelcol                   our own distribution, built with ocb from collector/builder-config.yaml
#   jaeger                    Jaeger v2, built from the Go module proxy (see JAEGER_* below)
#
# `stack/bin.sh all` prepares everything; CI runs it before pytest so that no
# build happens inside a test timeout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${OTEL_LLM_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-llm/bin}"

# Upstream versions expected from Debian bookworm (the Debian revision may move
# with security updates; the cache key is the upstream version).
PROMETHEUS_VERSION="2.42.0"
ALERTMANAGER_VERSION="0.25.0"

# Collector: ocb release; the manifest pins every component to the same release.
OCB_VERSION="0.159.0"
OTELCOL_MANIFEST="$ROOT/collector/builder-config.yaml"

# Jaeger v2 (Apache-2.0): the trace store the test suite runs for real.  Program
# cmd/jaeger of the module below, built in a scratch module that requires it as a
# Go tool, so go.sum pins every dependency of that release.
JAEGER_MODULE="github.com/jaegertracing/jaeger"
JAEGER_VERSION="1.76.0"

log() { printf '[bin.sh] %s\n' "$*" >&2; }
die() { printf '[bin.sh] error: %s\n' "$*" >&2; exit 1; }

# with_lock NAME CMD...: run CMD under an exclusive lock for artefact NAME.
with_lock() {
    local name="$1"; shift
    mkdir -p "$CACHE"
    (
        flock -x 9
        "$@"
    ) 9>"$CACHE/.lock-$name"
}

# ---------------------------------------------------------------- Debian ----

# deb_fetch PACKAGE DEST: unpack the candidate .deb of PACKAGE into DEST (no
# maintainer scripts run, no service started, nothing installed system-wide).
deb_fetch() {
    local pkg="$1" dest="$2" tmp
    command -v apt-get >/dev/null || die "apt-get not found: $pkg comes from Debian packages"
    rm -rf "$CACHE/.tmp-deb-$pkg-"*   # left by an interrupted run (we hold the lock)
    tmp="$(mktemp -d "$CACHE/.tmp-deb-$pkg-XXXXXX")"
    chmod 755 "$tmp"   # lets apt's unprivileged download user write here
    log "downloading Debian package $pkg"
    if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2 2>&1); then
        log "apt-get download failed; refreshing package lists (apt-get update)"
        apt-get update -q >&2 || die "apt-get update failed (root needed on a fresh machine)"
        (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) || { rm -rf "$tmp"; die "cannot download $pkg"; }
    fi
    local deb
    deb="$(ls "$tmp"/"${pkg}"_*.deb)"
    mkdir -p "$tmp/root"
    dpkg-deb -x "$deb" "$tmp/root"
    dpkg-deb -f "$deb" Version >"$tmp/root/DEBIAN_VERSION"
    rm -rf "$dest"
    mv "$tmp/root" "$dest"
    rm -rf "$tmp"
}

# check_upstream DIR EXPECTED: refuse a package whose upstream version moved,
# so the cache key stays truthful.
check_upstream() {
    local dir="$1" want="$2" got
    got="$(cat "$dir/DEBIAN_VERSION")"
    case "$got" in
        "$want"+*|"$want"-*|"$want") ;;
        *) die "Debian offers version $got, expected $want (update the version in stack/bin.sh)";;
    esac
}

prepare_prometheus() {
    local dir="$CACHE/prometheus-$PROMETHEUS_VERSION"
    if [[ -x "$dir/usr/bin/prometheus" && -x "$dir/usr/bin/promtool" ]]; then return; fi
    rm -rf "$dir".partial.*
    local stage="$dir.partial.$$"
    deb_fetch prometheus "$stage"
    check_upstream "$stage" "$PROMETHEUS_VERSION"
    rm -rf "$dir"; mv "$stage" "$dir"
    log "prometheus $(cat "$dir/DEBIAN_VERSION") ready in $dir"
}

# Debian's Alertmanager build looks up its default.tmpl and email.tmpl in
# /usr/share/prometheus/alertmanager/ whatever --config.file says (no flag moves
# it); without them it starts but rejects every configuration.  Install the two
# files there (only them: the package itself is not installed).
AM_TEMPLATE_DIR="/usr/share/prometheus/alertmanager"

install_am_templates() {
    local dir="$1" f
    for f in default.tmpl email.tmpl; do
        if ! cmp -s "$dir/usr/share/prometheus/alertmanager/$f" "$AM_TEMPLATE_DIR/$f" 2>/dev/null; then
            if mkdir -p "$AM_TEMPLATE_DIR" 2>/dev/null \
                && cp "$dir/usr/share/prometheus/alertmanager/$f" "$AM_TEMPLATE_DIR/$f" 2>/dev/null; then
                log "installed $AM_TEMPLATE_DIR/$f"
            else
                die "cannot write $AM_TEMPLATE_DIR/$f (Debian's Alertmanager needs it; run once as root)"
            fi
        fi
    done
}

prepare_alertmanager() {
    local dir="$CACHE/alertmanager-$ALERTMANAGER_VERSION"
    if [[ ! -x "$dir/usr/bin/prometheus-alertmanager" || ! -x "$dir/usr/bin/amtool" ]]; then
        rm -rf "$dir".partial.*
        local stage="$dir.partial.$$"
        deb_fetch prometheus-alertmanager "$stage"
        check_upstream "$stage" "$ALERTMANAGER_VERSION"
        rm -rf "$dir"; mv "$stage" "$dir"
        log "alertmanager $(cat "$dir/DEBIAN_VERSION") ready in $dir"
    fi
    install_am_templates "$dir"
}

# ------------------------------------------------------------------- Go ----

go_env() {
    command -v go >/dev/null || die "go not found (Go 1.24 or newer is needed to build $1)"
    export GOWORK=off GOFLAGS="" CGO_ENABLED=0 GOTOOLCHAIN=local
}

# clean_stale NAME: remove build dirs of NAME left by an interrupted run; only
# called under NAME's lock, so no live build owns them.
clean_stale() {
    local d
    for d in "$CACHE/.tmp-$1-"*; do
        [[ -e "$d" ]] || continue
        chmod -R u+w "$d" 2>/dev/null || true
        rm -rf "$d"
    done
}

prepare_ocb() {
    local dir="$CACHE/ocb-$OCB_VERSION"
    [[ -x "$dir/builder" ]] && return
    go_env ocb
    local stage start=$SECONDS
    clean_stale ocb
    stage="$(mktemp -d "$CACHE/.tmp-ocb-XXXXXX")"
    log "building ocb v$OCB_VERSION"
    GOBIN="$stage" go install -trimpath -ldflags="-s -w" \
        "go.opentelemetry.io/collector/cmd/builder@v$OCB_VERSION" >&2 || { rm -rf "$stage"; die "ocb build failed"; }
    echo $((SECONDS - start)) >"$stage/BUILD_SECONDS"
    rm -rf "$dir"; mv "$stage" "$dir"
    log "ocb ready in $dir ($(cat "$dir/BUILD_SECONDS") s)"
}

otelcol_dir() {
    local sum
    sum="$(sha256sum "$OTELCOL_MANIFEST" | cut -c1-12)"
    echo "$CACHE/otelcol-$OCB_VERSION-$sum"
}

prepare_otelcol() {
    local dir
    dir="$(otelcol_dir)"
    [[ -x "$dir/otelcol-otel-llm" ]] && return
    [[ -f "$OTELCOL_MANIFEST" ]] || die "missing $OTELCOL_MANIFEST"
    with_lock ocb prepare_ocb
    go_env otelcol
    local stage start=$SECONDS
    clean_stale otelcol
    stage="$(mktemp -d "$CACHE/.tmp-otelcol-XXXXXX")"
    cp "$OTELCOL_MANIFEST" "$stage/builder-config.yaml"
    log "building the collector with ocb from $OTELCOL_MANIFEST (several minutes on a fresh machine)"
    (cd "$stage" && "$CACHE/ocb-$OCB_VERSION/builder" --config=builder-config.yaml >&2) \
        || { rm -rf "$stage"; die "collector build failed"; }
    mkdir -p "$stage/out"
    mv "$stage/otelcol-otel-llm/otelcol-otel-llm" "$stage/out/otelcol-otel-llm"
    cp "$OTELCOL_MANIFEST" "$stage/out/builder-config.yaml"
    echo $((SECONDS - start)) >"$stage/out/BUILD_SECONDS"
    rm -rf "$dir"; mv "$stage/out" "$dir"; rm -rf "$stage"
    log "collector ready in $dir ($(cat "$dir/BUILD_SECONDS") s)"
}

prepare_jaeger() {
    local dir="$CACHE/jaeger-$JAEGER_VERSION"
    [[ -x "$dir/jaeger" ]] && return
    go_env jaeger
    local stage start=$SECONDS
    clean_stale jaeger
    stage="$(mktemp -d "$CACHE/.tmp-jaeger-XXXXXX")"
    log "building jaeger v$JAEGER_VERSION (several minutes on a fresh machine)"
    mkdir -p "$stage/mod" "$stage/out"
    (cd "$stage/mod" && go mod init otel-llm.local/jaeger-build >/dev/null 2>&1 \
        && go get -tool "$JAEGER_MODULE/cmd/jaeger@v$JAEGER_VERSION" >&2 \
        && go build -trimpath -ldflags="-s -w" -o "$stage/out/jaeger" "$JAEGER_MODULE/cmd/jaeger" >&2) \
        || { rm -rf "$stage"; die "jaeger build failed"; }
    echo $((SECONDS - start)) >"$stage/out/BUILD_SECONDS"
    rm -rf "$dir"; mv "$stage/out" "$dir"; rm -rf "$stage"
    log "jaeger ready in $dir ($(cat "$dir/BUILD_SECONDS") s)"
}

path_ocb()          { echo "$CACHE/ocb-$OCB_VERSION/builder"; }
path_otelcol()      { echo "$(otelcol_dir)/otelcol-otel-llm"; }
path_jaeger()       { echo "$CACHE/jaeger-$JAEGER_VERSION/jaeger"; }
path_prometheus()   { echo "$CACHE/prometheus-$PROMETHEUS_VERSION/usr/bin/prometheus"; }
path_promtool()     { echo "$CACHE/prometheus-$PROMETHEUS_VERSION/usr/bin/promtool"; }
path_alertmanager() { echo "$CACHE/alertmanager-$ALERTMANAGER_VERSION/usr/bin/prometheus-alertmanager"; }
path_amtool()       { echo "$CACHE/alertmanager-$ALERTMANAGER_VERSION/usr/bin/amtool"; }

# ------------------------------------------------------------------ main ----

ensure() {
    local name="$1" path
    case "$name" in
        prometheus|promtool)  path="$(path_"$name")"; [[ -x "$path" ]] || with_lock prometheus prepare_prometheus ;;
        alertmanager|amtool)
            path="$(path_"$name")"
            if [[ ! -x "$path" || ! -f "$AM_TEMPLATE_DIR/default.tmpl" || ! -f "$AM_TEMPLATE_DIR/email.tmpl" ]]; then
                with_lock alertmanager prepare_alertmanager
            fi ;;
        ocb)      path="$(path_ocb)"; [[ -x "$path" ]] || with_lock ocb prepare_ocb ;;
        otelcol)  path="$(path_otelcol)"; [[ -x "$path" ]] || with_lock otelcol prepare_otelcol ;;
        jaeger)   path="$(path_jaeger)"; [[ -x "$path" ]] || with_lock jaeger prepare_jaeger ;;
        *) die "unknown binary '$name' (prometheus, promtool, alertmanager, amtool, otelcol, jaeger, ocb, all)";;
    esac
    [[ -x "$path" ]] || die "$name missing after preparation: $path"
    echo "$path"
}

main() {
    [[ $# -eq 1 ]] || die "usage: stack/bin.sh NAME (prometheus|promtool|alertmanager|amtool|otelcol|jaeger|ocb|all)"
    if [[ "$1" == all ]]; then
        local n start
        for n in prometheus promtool alertmanager amtool otelcol jaeger; do
            start=$SECONDS
            ensure "$n"
            log "$n: $((SECONDS - start)) s"
        done
    else
        ensure "$1"
    fi
}

main "$@"
