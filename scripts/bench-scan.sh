#!/usr/bin/env bash
# Scan benchmark: times `imagelock list` (and `pin --dry-run` on the first
# case) on one core with /usr/bin/time -v, and `grep -c image:` on the same
# bytes in the same run, over four inputs of ~TOTAL_MB each (and the first
# as one stream on standard input: `pin -` beside `list -`):
#   manifests      Kubernetes YAML in FILES files (the original case)
#   crd-mix        the corpus's two CRD bundles, alternating
#   block-scalars  manifests dense with block and multi-line scalars
#   dense          one file dense with images (peak memory)
# Reports MB/s and peak memory above the empty-run baseline against the
# largest file of each input, and above a run over the largest file alone
# (what grows with the input: the code and buffers any scan touches are in
# that run too).
# Usage: scripts/bench-scan.sh [TOTAL_MB] [FILES] [CORPUS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
total_mb=${1:-100}
files=${2:-1000}
corpus=$(realpath "${3:-../shared/corpus}")
data=bench-data/scan
rm -rf "$data"
python3 scripts/bench-scan.py "$data" "$total_mb" "$files" "$corpus"
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/imagelock
mkdir -p "$data/empty"
cd "$data"

run5() { # command...: median time of 5 runs pinned to one core, then median peak RSS KiB
    # The time is CPU time (user + system) by default: on a shared machine
    # wall time measures the neighbours too. BENCH_WALL=1 takes wall time.
    # Peak RSS moves by a few hundred KiB between identical runs (pages of
    # the binary and the allocator): the median of the five, like the time.
    "$@" >/dev/null 2>&1 || true # warm the page cache
    local times=() rsss=() t0 t1
    for _ in 1 2 3 4 5; do
        t0=$(date +%s.%N)
        # grep exits at its first match when writing to /dev/null: write to a file.
        /usr/bin/time -v -o time.txt "$@" >out.txt 2>/dev/null || true
        t1=$(date +%s.%N)
        if [ "${BENCH_WALL:-0}" = 1 ]; then
            times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')")
        else
            times+=("$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.3f", u + s}' time.txt)")
        fi
        rsss+=("$(awk -F': ' '/Maximum resident set size/ {print $2}' time.txt)")
    done
    echo "$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p) $(printf '%s\n' "${rsss[@]}" | sort -n | sed -n 3p)"
}

read -r _ base < <(run5 taskset -c 0 "$bin" --quiet list empty)
printf '%-14s %-16s %8s %8s %12s %12s %14s %10s %12s\n' input command seconds "MB/s" "above base" "1.5x largest" "above largest" "grep MB/s" "grep matches"
for input in manifests crd-mix block-scalars dense; do
    bytes=$(du -sb --apparent-size "$input" | cut -f1)
    largest=$(find "$input" -type f -printf '%s\n' | sort -n | tail -1)
    largest_file=$(find "$input" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
    rm -rf one && mkdir one && cp "$largest_file" one/
    read -r gsecs _ < <(run5 taskset -c 0 grep -rc image: "$input")
    matches=$(awk -F: '{s += $NF} END {print s}' out.txt)
    gmbs=$(awk -v b="$bytes" -v s="$gsecs" 'BEGIN {printf "%.0f", b/1e6/s}')
    cmds=("list")
    [ "$input" = manifests ] && cmds+=("pin --dry-run")
    for cmd in "${cmds[@]}"; do
        # shellcheck disable=SC2086
        read -r secs rss < <(run5 taskset -c 0 "$bin" --quiet $cmd "$input")
        # shellcheck disable=SC2086
        read -r _ one_rss < <(run5 taskset -c 0 "$bin" --quiet $cmd one)
        mbs=$(awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.0f", b/1e6/s}')
        printf '%-14s %-16s %8s %8s %9s KiB %8s KiB %10s KiB %10s %12s\n' "$input" "$cmd" "$secs" "$mbs" \
            "$((rss - base))" "$((3 * largest / 2048))" "$((rss - one_rss))" "$gmbs" "$matches"
    done
    echo "  $input: $((bytes / 1000000)) MB in $(find "$input" -type f | wc -l) files, largest $((largest / 1024)) KiB"
done
# The filter: the manifests as one rendered stream on standard input,
# `pin -` (every reference pinned from the lockfile) beside `list -` over
# the same bytes.
find manifests -name '*.yaml' -print0 | sort -z | xargs -0 cat > stream.yaml
bytes=$(stat -c %s stream.yaml)
read -r lsecs lrss < <(run5 taskset -c 0 sh -c 'exec "$0" --quiet list - < stream.yaml' "$bin")
read -r psecs prss < <(run5 taskset -c 0 sh -c 'exec "$0" --quiet pin - < stream.yaml' "$bin")
printf '%-14s %-16s %8s %8s %9s KiB\n' stream "list -" "$lsecs" "$(awk -v b="$bytes" -v s="$lsecs" 'BEGIN {printf "%.0f", b/1e6/s}')" "$((lrss - base))"
printf '%-14s %-16s %8s %8s %9s KiB\n' stream "pin -" "$psecs" "$(awk -v b="$bytes" -v s="$psecs" 'BEGIN {printf "%.0f", b/1e6/s}')" "$((prss - base))"
echo "  stream: $((bytes / 1000000)) MB on standard input; pin - / list - time: $(awk -v p="$psecs" -v l="$lsecs" 'BEGIN {printf "%.2f", p/l}')x"
echo "baseline RSS (list of an empty directory): ${base} KiB; MB = 10^6 bytes"
