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

measure() { # name, args...: median wall time of 5 runs pinned to one core, peak RSS
    local name=$1; shift
    taskset -c 0 "$bin" "$@" >/dev/null 2>&1 || true # warm the page cache
    local times=() rss=0 r t0 t1
    for _ in 1 2 3 4 5; do
        t0=$(date +%s.%N)
        /usr/bin/time -v -o time.txt taskset -c 0 "$bin" "$@" >/dev/null 2>/dev/null || true
        t1=$(date +%s.%N)
        times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')")
        r=$(awk -F': ' '/Maximum resident set size/ {print $2}' time.txt)
        [ "$r" -gt "$rss" ] && rss=$r
    done
    echo "$name $(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p) $rss"
}

base=$(measure baseline --quiet list empty | awk '{print $3}')
printf '%-18s %8s %10s %12s %14s\n' command seconds "MB/s" "peak RSS KiB" "above base KiB"
for cmd in "list" "pin --dry-run"; do
    read -r _ secs rss < <(measure x --quiet $cmd manifests)
    mbs=$(awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.0f", b/1048576/s}')
    printf '%-18s %8s %10s %12s %14s\n' "$cmd" "$secs" "$mbs" "$rss" "$((rss - base))"
done
echo "input: $((bytes / 1048576)) MiB in $files files; largest file $((largest / 1024)) KiB (3x = $((3 * largest / 1024)) KiB); baseline RSS ${base} KiB"
