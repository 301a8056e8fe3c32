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
command -v git >/dev/null || need+=(git)         # pre-commit try-repo, git apply
command -v patch >/dev/null || need+=(patch)     # pin --dry-run's diff applies with patch -p1
command -v python3 >/dev/null || need+=(python3) # pre-commit
command -v podman >/dev/null || need+=(podman)   # podman-compose (the interpolation oracle)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

# A fresh virtualenv at DIR with PACKAGE installed: venv_with DIR PACKAGE.
venv_with() {
    echo "installing $2 (pip, in $1)" >&2
    if ! python3 -m venv --clear "$1" >/dev/null 2>&1; then
        # Debian's python3 makes virtualenvs only with python3-venv.
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv --clear "$1"
    fi
    "$1/bin/pip" install -q "$2"
}

# A tool from PyPI, in a virtualenv of its own when it is not installed
# already: pip_tool COMMAND PACKAGE.
pip_tool() {
    command -v "$1" >/dev/null && return 0
    local venv="${XDG_CACHE_HOME:-$HOME/.cache}/imagelock-tests/$1-venv"
    [ -x "$venv/bin/$1" ] || venv_with "$venv" "$2"
    export PATH="$venv/bin:$PATH"
}
# The real pre-commit (tests/it/ci_surfaces.rs), and podman-compose
# (tests/it/compose_interpolation.rs: `podman-compose config` is the
# oracle for compose interpolation; it needs `podman` on PATH but no
# running engine).
pip_tool pre-commit pre-commit
pip_tool podman-compose podman-compose

# The independent signature producer (scripts/sign-image.py, run by
# tests/it/signatures.rs) needs Python's `cryptography` >= 45: the system
# python3 when it has it, else a virtualenv of its own. The tests run the
# Python named by IMAGELOCK_SIGN_PYTHON.
sign_python() {
    local check='import cryptography, sys; sys.exit(0 if int(cryptography.__version__.split(".")[0]) >= 45 else 1)'
    if python3 -c "$check" 2>/dev/null; then
        IMAGELOCK_SIGN_PYTHON=$(command -v python3)
    else
        local venv="${XDG_CACHE_HOME:-$HOME/.cache}/imagelock-tests/sign-venv"
        "$venv/bin/python" -c "$check" 2>/dev/null || venv_with "$venv" 'cryptography>=45'
        IMAGELOCK_SIGN_PYTHON="$venv/bin/python"
    fi
    export IMAGELOCK_SIGN_PYTHON
}
sign_python

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
