#!/usr/bin/env bash
# Registry benchmark, two parts:
#
# 1. The bound: `imagelock lock` against a registry stand-in that costs no
#    CPU (tools/registry_standin.rs: TLS, HTTP/2 with 250 streams per
#    connection, a Basic challenge, every chunk delayed DELAY_MS each way
#    inside the process), beside the raw client bound measured in the same
#    run (tools/registry_bound.rs: per registry the first request alone,
#    then everything at once on one connection). Prints imagelock / bound
#    for 500 tags on one registry, 500 tags over 25 registries and 5,000
#    tags on one registry; median of BENCH_RUNS (3) runs each.
# 2. Against skopeo: TAGS tags in a local CNCF registry behind a proxy that
#    delays every chunk by DELAY_MS each way (scripts/delay-proxy.py);
#    times `imagelock lock` against `xargs -P8 skopeo inspect` on the same
#    references in the same run and prints the ratio.
#
# 3. Signatures: on the same registry and references, `lock` with every
#    digest signed (cosign's `.sig` tags, made by scripts/sign-image.py)
#    and `--verify-key` (discovery and key verification of every digest)
#    beside `lock` without it; median of BENCH_RUNS runs each, and the
#    ratio (the goal: at most 1.5x).
#
# Usage: scripts/bench-registry.sh [TAGS] [DELAY_MS]
# BENCH_PLAIN=1 serves plain HTTP (HTTP/1.1) instead of TLS (HTTP/2) in parts
# 2 and 3; BENCH_ONLY=bound, BENCH_ONLY=skopeo or BENCH_ONLY=signatures runs
# one part (signatures needs Python's `cryptography` >= 45, as the tests do:
# IMAGELOCK_SIGN_PYTHON names such a Python).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tags=${1:-500}
delay=${2:-25}
runs=${BENCH_RUNS:-3}
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release --quiet --bin imagelock --example registry-standin --example registry-bound)
bin=$target/release/imagelock
now() { date +%s.%N; }
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# One stand-in case: REGISTRIES TAGS. Prints a table row.
bound_case() {
    local registries=$1 n=$2 dir pid il=() bd=() t0 t1 agree
    dir=$(mktemp -d)
    "$target/release/examples/registry-standin" "$dir" "$registries" "$n" "$delay" > "$dir/standin.out" &
    pid=$!
    for _ in $(seq 100); do grep -q ready "$dir/standin.out" 2>/dev/null && break; sleep 0.1; done
    grep -q ready "$dir/standin.out" || { echo "the registry stand-in did not start" >&2; exit 2; }
    {
        echo "apiVersion: v1"
        echo "kind: List"
        echo "items:"
        while read -r r; do
            printf -- "- {kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: '%s'}]}}\n" "$r"
        done < "$dir/refs.txt"
    } > "$dir/pods.yaml"
    for _ in $(seq "$runs"); do
        rm -f "$dir/images.lock"
        t0=$(now)
        DOCKER_CONFIG=$dir/docker "$bin" --quiet --lockfile "$dir/images.lock" lock --ca-file "$dir/ca.crt" "$dir/pods.yaml"
        t1=$(now)
        il+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
        bd+=("$("$target/release/examples/registry-bound" "$dir")")
    done
    agree=$(python3 "$root/scripts/compare-digests.py" "$dir/images.lock" "$dir/expected.txt")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
    awk -v r="$registries" -v n="$n" -v i="$(printf '%s\n' "${il[@]}" | median)" \
        -v b="$(printf '%s\n' "${bd[@]}" | median)" -v g="$agree" -v all="${il[*]}" -v bs="${bd[*]}" 'BEGIN {
        printf "%5d tags, %2d registries: imagelock %.3f s, bound %.3f s, ratio %.2f (%d of %d digests right; runs: imagelock %s, bound %s)\n", n, r, i, b, i / b, g, n, all, bs
    }'
}

if [ -z "${BENCH_ONLY:-}" ] || [ "${BENCH_ONLY}" = bound ]; then
    echo "bound: registry stand-in, TLS + HTTP/2 (250 streams), Basic auth, $delay ms each way, median of $runs"
    bound_case 1 500
    bound_case 25 500
    bound_case 1 5000
fi
[ "${BENCH_ONLY:-}" != bound ] || exit 0
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
reg_port=$(free_port)
proxy_port=$(free_port)

# TLS like a real registry: a test CA and a server certificate for 127.0.0.1.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$work/ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 2 -extfile "$work/ext" -out "$work/server.crt" 2>/dev/null
mkdir -p "$work/certs"; cp "$work/ca.crt" "$work/certs/ca.crt"

# Push over plain HTTP on a second listener-free path: run the registry
# plain first, push, then restart it with TLS on the same storage.
cat > "$work/plain.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: 127.0.0.1:$reg_port}
YAML
sed "s|addr: 127.0.0.1:$reg_port}|addr: 127.0.0.1:$reg_port, tls: {certificate: $work/server.crt, key: $work/server.key}}|" "$work/plain.yml" > "$work/tls.yml"
wait_for() { for _ in $(seq 100); do curl -fsS --cacert "$work/ca.crt" "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "registry did not start"; exit 2; }

docker-registry serve "$work/plain.yml" >"$work/registry.log" 2>&1 & pid=$!
wait_for "http://127.0.0.1:$reg_port/v2/"
refs=()
for i in $(seq 1 "$tags"); do refs+=("bench/app$((i % 50)):v$i"); done
echo "pushing $tags tags" >&2
python3 "$root/scripts/push-image.py" "127.0.0.1:$reg_port" "${refs[@]}" > "$work/pushed.txt"
if [ "${BENCH_ONLY:-}" = signatures ] || [ -z "${BENCH_ONLY:-}" ]; then
    # Every digest signed with one key (the registry still plain here).
    py=${IMAGELOCK_SIGN_PYTHON:-python3}
    "$py" "$root/scripts/sign-image.py" keygen --out "$work/keys" >/dev/null
    echo "signing $tags digests" >&2
    # The payload names the repository as imagelock reaches it: through
    # the proxy's port.
    awk '{split($1, a, ":"); print a[1] " " $2}' "$work/pushed.txt" | sort -u |
        xargs -P8 -L1 sh -c '"$0" "$1" cosign-sign "$2" "$5@$6" --key "$3" --no-tlog --docker-reference "$4/$5" >/dev/null' \
            "$py" "$root/scripts/sign-image.py" "127.0.0.1:$reg_port" "$work/keys/cosign.key.pem" "127.0.0.1:$proxy_port"
fi
if [ -n "${BENCH_PLAIN:-}" ]; then
    pids+=("$pid")
    imagelock_tls=(--plain-http "127.0.0.1:$proxy_port")
    skopeo_tls=--tls-verify=false
    transport="plain HTTP/1.1"
else
    kill "$pid"; wait "$pid" 2>/dev/null || true
    docker-registry serve "$work/tls.yml" >"$work/registry.log" 2>&1 & pids+=($!)
    wait_for "https://127.0.0.1:$reg_port/v2/"
    imagelock_tls=(--ca-file "$work/ca.crt")
    skopeo_tls=--cert-dir=$work/certs
    transport="TLS (HTTP/2 where the client offers it)"
fi
python3 "$root/scripts/delay-proxy.py" "$proxy_port" "127.0.0.1:$reg_port" "$delay" > "$work/proxy.out" & pids+=($!)
for _ in $(seq 50); do grep -q ready "$work/proxy.out" 2>/dev/null && break; sleep 0.1; done

# One manifest with every reference.
{
    echo "apiVersion: v1"
    echo "kind: List"
    echo "items:"
    for r in "${refs[@]}"; do
        printf -- "- {kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: '127.0.0.1:%s/%s'}]}}\n" "$proxy_port" "$r"
    done
} > "$work/pods.yaml"

cd "$work"
if [ "${BENCH_ONLY:-}" = signatures ] || [ -z "${BENCH_ONLY:-}" ]; then
    lock_times() { # ARGS...: BENCH_RUNS timings of `lock ARGS` from no lockfile
        for _ in $(seq "$runs"); do
            rm -f "$work/images.lock"
            local a b
            a=$(now)
            "$bin" --quiet --lockfile "$work/images.lock" lock "${imagelock_tls[@]}" "$@" "$work/pods.yaml"
            b=$(now)
            awk -v a="$a" -v b="$b" 'BEGIN {print b - a}'
        done
    }
    plain=$(lock_times | median)
    signed=$(lock_times --verify-key "$work/keys/cosign.pub" | median)
    recorded=$(grep -c '^\[\[image.signature\]\]' "$work/images.lock")
    echo "transport: $transport"
    awk -v p="$plain" -v s="$signed" -v n="$tags" -v d="$delay" -v r="$recorded" 'BEGIN {
        printf "%d tags, %d ms each way per chunk, median of runs\n", n, d
        printf "lock:                             %6.2f s\n", p
        printf "lock --verify-key (every digest): %6.2f s (%d signatures verified and recorded)\n", s, r
        printf "ratio: %.2fx (goal: at most 1.5x)\n", s / p
    }'
    [ "${BENCH_ONLY:-}" != signatures ] || exit 0
fi
t0=$(now)
"$bin" --quiet --lockfile "$work/images.lock" lock "${imagelock_tls[@]}" "$work/pods.yaml"
t1=$(now)
# Each skopeo call prints `reference digest`, so the digests are compared
# reference by reference.
printf '%s\n' "${refs[@]}" | sed "s|^|127.0.0.1:$proxy_port/|" |
    xargs -P8 -I{} sh -c 'printf "%s %s\n" "$1" "$(skopeo inspect "$2" --format "{{.Digest}}" "docker://$1")"' _ {} "$skopeo_tls" \
    > "$work/skopeo.txt" 2> "$work/skopeo.err" || true
t2=$(now)
if [ -s "$work/skopeo.err" ]; then
    echo "skopeo reported errors:" >&2
    sort "$work/skopeo.err" | uniq -c | sort -rn | head -5 >&2
fi
locked=$(grep -c '^digest' "$work/images.lock")
agree=$(python3 "$root/scripts/compare-digests.py" "$work/images.lock" "$work/skopeo.txt")
echo "transport: $transport"
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$tags" -v d="$delay" -v l="$locked" -v g="$agree" 'BEGIN {
    il = b - a; sk = c - b
    printf "%d tags, %d ms each way per chunk\n", n, d
    printf "imagelock lock:           %7.2f s (%d locked)\n", il, l
    printf "xargs -P8 skopeo inspect: %7.2f s (%d of %d digests agree with imagelock)\n", sk, g, n
    printf "ratio: imagelock is %.1fx faster\n", sk / il
}'
