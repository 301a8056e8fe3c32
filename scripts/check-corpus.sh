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

# Every file through the binary (scripts/corpus-cli-check.py): `list` and
# `check` never exit 2 on a file valid for its tool, and `list` reports
# exactly the references scripts/corpus/expected.txt names for each file
# (written from SOURCES.md and from reading the files; known gaps are
# named there with the issue that takes them).
cargo build --quiet --locked
python3 scripts/corpus-cli-check.py "${CARGO_TARGET_DIR:-target}/debug/imagelock" \
    "$corpus" scripts/corpus/expected.txt

# The differential pin test over every file of the corpus, real/ included
# (tools/pin_roundtrip.rs): each file with references pinned in a copy with
# a lockfile covering all of them must read back as the old file with only
# image values changed and digest or pull policy keys added, change nothing
# on a second pin; no file may be refused (each is valid for its tool).
cargo run --quiet --locked --example pin-roundtrip -- --no-refusals \
    "${CARGO_TARGET_DIR:-target}/debug/imagelock" "$corpus"

# A custom image location on the published file: the config reloader named
# in the operator's arguments is found at its place and pinned in place
# (the digest inserted after the reference, nothing else on the line).
bin=${CARGO_TARGET_DIR:-target}/debug/imagelock
cargo build --quiet --locked
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$corpus/prometheus-operator-bundle.yaml" "$work/"
rules=testdata/config/corpus/imagelock.toml
"$bin" --config "$rules" --lockfile "$work/images.lock" list --format json \
    "$work/prometheus-operator-bundle.yaml" 2>/dev/null >"$work/list.json" || true
python3 - "$work/list.json" <<'PY'
import json, sys
rows = [(r["line"], r["column"], r["reference"], r["field"])
        for r in json.load(open(sys.argv[1]))["references"]]
want = [(29760, 40, "quay.io/prometheus-operator/prometheus-config-reloader:v0.63.0", "location"),
        (29761, 16, "quay.io/prometheus-operator/prometheus-operator:v0.63.0", "image")]
if rows != want:
    sys.exit(f"check-corpus: custom location on prometheus-operator-bundle.yaml: found {rows}, want {want}")
PY
digest=sha256:$(printf 'corpus check' | sha256sum | cut -d' ' -f1)
{
    echo 'version = 1'
    for name in prometheus-config-reloader prometheus-operator; do
        printf '\n[[image]]\nname = "quay.io/prometheus-operator/%s"\ntag = "v0.63.0"\ndigest = "%s"\n' "$name" "$digest"
    done
} >"$work/images.lock"
"$bin" --config "$rules" --lockfile "$work/images.lock" --quiet pin --dry-run \
    "$work/prometheus-operator-bundle.yaml" >"$work/diff.txt"
changed=$(grep -E '^[-+] ' "$work/diff.txt" || true)
want="-        - --prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v0.63.0
+        - --prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v0.63.0@$digest
-        image: quay.io/prometheus-operator/prometheus-operator:v0.63.0
+        image: quay.io/prometheus-operator/prometheus-operator:v0.63.0@$digest"
if [ "$changed" != "$want" ]; then
    echo "check-corpus: pin --dry-run with the custom location changed:" >&2
    cat "$work/diff.txt" >&2
    exit 1
fi
echo "check-corpus: custom location on prometheus-operator-bundle.yaml found and pinned in place"
