#!/usr/bin/env bash
# Check the scanner against the real-world corpus: `scripts/check-corpus.sh
# CORPUS_DIR` (CI: ../shared/corpus beside the clone). Fails loudly when the
# directory is missing, when a file is not byte-identical to the blob
# SOURCES.md names, or when any scanner check fails (tools/corpus_check.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

corpus="${1:?usage: scripts/check-corpus.sh CORPUS_DIR}"
if [ ! -d "$corpus" ]; then
    echo "check-corpus: $corpus: no such directory (CI keeps the corpus at ../shared/corpus beside the clone)" >&2
    exit 2
fi
if [ ! -f "$corpus/SOURCES.md" ]; then
    echo "check-corpus: $corpus/SOURCES.md is missing: not the corpus" >&2
    exit 2
fi

# Each file is the published blob: `git hash-object` equals the id listed
# at the end of SOURCES.md.
bad=0
ids=$(sed -n '/^## Blob ids/,$p' "$corpus/SOURCES.md" | grep -E '^[0-9a-f]{40}  ')
if [ -z "$ids" ]; then
    echo "check-corpus: SOURCES.md lists no blob ids" >&2
    exit 2
fi
while read -r id name; do
    if [ ! -f "$corpus/$name" ]; then
        echo "check-corpus: $name is listed in SOURCES.md but missing" >&2
        bad=1
    elif [ "$(git hash-object "$corpus/$name")" != "$id" ]; then
        echo "check-corpus: $name is not the blob $id SOURCES.md names (was it reformatted?)" >&2
        bad=1
    fi
done <<<"$ids"
[ "$bad" -eq 0 ] || exit 1

cargo run --quiet --locked --example corpus-check -- "$corpus"
