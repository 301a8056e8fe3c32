#!/usr/bin/env bash
# Run the property tests (tests/it/properties.rs, the `properties::` tests
# of the one test binary `it`) for longer than `cargo test` does: the
# reference parser, the lockfile reader, the scanner and the rewriter
# (`pin` through the binary). Not part of CI. A failing case is saved in
# tests/it/properties.proptest-regressions and replayed by every
# `cargo test`: commit it with the fix.
#
#   scripts/fuzz.sh            # 20000 cases per property (pin: 500)
#   CASES=200000 scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${CASES:-20000}
PROPTEST_CASES=$cases cargo test --release --test it properties:: -- --skip properties::pin::
PROPTEST_CASES=$((cases / 40 > 24 ? cases / 40 : 24)) cargo test --release --test it properties::pin::
