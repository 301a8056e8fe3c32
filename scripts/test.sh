#!/usr/bin/env bash
# The project's one test command (`.ci/run` calls it): installs what the
# tests need on a fresh Debian machine, then checks formatting, lints and
# runs every test. Tests that need a registry start the real CNCF
# distribution registry themselves; they fail (never skip) without it.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v openssl >/dev/null || need+=(openssl) # the token server's RSA key
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
