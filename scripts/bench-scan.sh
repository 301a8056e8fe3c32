#!/usr/bin/env bash
# Scan benchmark (issue: core): ~100 MB of Kubernetes YAML in 1,000 files;
# times `imagelock list` and `imagelock pin --dry-run` on one core with
# /usr/bin/time -v and reports MB/s and peak memory against the largest file.
# Usage: scripts/bench-scan.sh [TOTAL_MB] [FILES]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
total_mb=${1:-100}
files=${2:-1000}
data=bench-data/scan
rm -rf "$data"
python3 scripts/bench-scan.py "$data" "$total_mb" "$files"
cargo build --release --quiet
bin=$PWD/target/release/imagelock
bytes=$(du -sb "$data/manifests" | cut -f1)
largest=$(find "$data/manifests" -type f -printf '%s\n' | sort -n | tail -1)
mkdir -p "$data/empty"
cd "$data"

measure() { # name, args...
    local name=$1; shift
    # Warm the page cache, then measure pinned to one core.
    taskset -c 0 "$bin" "$@" >/dev/null 2>&1 || true
    /usr/bin/time -v -o time.txt taskset -c 0 "$bin" "$@" >/dev/null 2>/dev/null || true
    local secs rss
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' time.txt)
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' time.txt)
    echo "$name $secs $rss"
}

base=$(measure baseline --quiet list empty | awk '{print $3}')
printf '%-18s %8s %10s %12s %14s\n' command seconds "MB/s" "peak RSS KiB" "above base KiB"
for cmd in "list" "pin --dry-run"; do
    read -r _ secs rss < <(measure x --quiet $cmd manifests)
    mbs=$(awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.0f", b/1048576/s}')
    printf '%-18s %8s %10s %12s %14s\n' "$cmd" "$secs" "$mbs" "$rss" "$((rss - base))"
done
echo "input: $((bytes / 1048576)) MiB in $files files; largest file $((largest / 1024)) KiB (3x = $((3 * largest / 1024)) KiB); baseline RSS ${base} KiB"
