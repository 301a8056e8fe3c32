#!/usr/bin/env bash
# Pull Secret reading: times `imagelock list --format json --pull-secret`
# (release build, CPU time) over Secrets of growing entry counts, as
# `--pull-secret` files and as a Secret in the scanned files named by
# WORKLOADS workloads. Linear reading shows as a flat µs-per-entry column;
# the quadratic keyring it replaced grew it with the entry count.
# Entry counts past what fits in 1 MiB (about 17,000 entries) are refused
# by the Kubernetes size limit, so the last row times the refusal.
# Usage: scripts/bench-pull-secret.sh [WORKLOADS]  (IMAGELOCK_BIN=path
# times that binary instead of a fresh release build)
set -euo pipefail
cd "$(dirname "$0")/.."
workloads=${1:-200}
if [ -z "${IMAGELOCK_BIN:-}" ]; then
    cargo build --release --quiet
fi
bin=${IMAGELOCK_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/imagelock}
data=bench-data/pull-secret
rm -rf "$data"
mkdir -p "$data"
python3 - "$data" "$workloads" <<'PY'
import base64, json, sys
data, workloads = sys.argv[1], int(sys.argv[2])
for n in (2000, 4000, 8000, 16000, 170000):
    auths = {f"reg{i}.example.com": {"auth": base64.b64encode(f"u{i}:p{i}".encode()).decode()} for i in range(n)}
    blob = base64.b64encode(json.dumps({"auths": auths}).encode()).decode()
    with open(f"{data}/secret-{n}.yaml", "w") as f:
        f.write("apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: " + blob + "\n")
with open(f"{data}/pods.yaml", "w") as f:
    for i in range(workloads):
        f.write(f"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\nspec:\n  imagePullSecrets: [{{name: big}}]\n  containers: [{{name: c, image: reg1.example.com/a:{i}}}]\n")
PY
cpu() { { /usr/bin/time -f "%U %S" "$@" 2>&1 >/dev/null || true; } | tail -1 | awk '{print $1 + $2}'; }
printf "%8s %12s %14s %12s %14s\n" entries file_s us/entry scanned_s us/entry
for n in 2000 4000 8000 16000 170000; do
    a=$(cpu "$bin" list --format json --pull-secret "$data/secret-$n.yaml" "$data/pods.yaml")
    mkdir -p "$data/scan-$n" && cp "$data/secret-$n.yaml" "$data/pods.yaml" "$data/scan-$n/"
    b=$(cpu "$bin" list --format json "$data/scan-$n")
    printf "%8d %12s %14.2f %12s %14.2f\n" "$n" "$a" "$(echo "$a * 1000000 / $n" | bc -l)" "$b" "$(echo "$b * 1000000 / $n" | bc -l)"
done
