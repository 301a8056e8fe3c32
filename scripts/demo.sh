#!/usr/bin/env bash
# imagelock's main job in one command: start a local registry, push the
# images examples/ uses, lock, pin, check; then move a tag and watch
# `check --remote` catch the drift, and `update` + `pin` fix it.
# Works on a fresh clone: installs the registry package when missing and
# builds imagelock. Leaves the repository untouched (works on a copy).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
port=${IMAGELOCK_DEMO_PORT:-5000}
host=127.0.0.1:$port

need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]} (the CNCF distribution registry is Debian's docker-registry)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "== building imagelock"
(cd "$root" && cargo build --release --quiet)
imagelock() { "$root/target/release/imagelock" "$@"; }

work=$(mktemp -d)
trap 'kill "$registry_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: $host}
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do
    curl -fsS "http://$host/v2/" >/dev/null 2>&1 && break
    kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.log"; echo "the registry did not start (is port $port free? set IMAGELOCK_DEMO_PORT)"; exit 2; }
    sleep 0.2
done
echo "== registry up on $host; pushing the example images"
push() { python3 "$root/scripts/push-image.py" "$host" "$@"; }
push demo/web:1.0 demo/exporter:0.4 demo/worker:2.3
push --index demo/tools:2024.11

cp -r "$root/examples" "$work/examples"
cd "$work/examples"
run() { echo; echo "\$ imagelock $*"; set +e; imagelock "$@"; echo "(exit $?)"; set -e; }

run --lockfile images.lock lock --plain-http "$host" .
echo "== the lockfile matches the repository's images.lock:"
diff -u "$root/images.lock" images.lock && echo "(identical)"
run pin .
echo; echo "\$ git diff-style view of what pin changed:"
diff -ru "$root/examples" . | grep -E '^[-+] ' || true
run check --require-pinned .
echo; echo "== someone pushes new content to demo/web:1.0"
push --seed moved demo/web:1.0
run check --remote --plain-http "$host" .
run update --format markdown --plain-http "$host"
run pin .
run check --remote --plain-http "$host" .
