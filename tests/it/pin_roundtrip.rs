//! The differential pin test over every fixture under `testdata/` (see
//! `support/roundtrip.rs`; `scripts/check-corpus.sh` runs it over the
//! real-world corpus): pinned files read back as the old ones with only
//! image values changed, a second pin changes nothing, and a refused file
//! is left as it was.

use crate::support;

#[test]
fn every_fixture_pins_to_what_it_read_and_nothing_else() {
    let bin = support::run::bin();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let report = support::roundtrip::run(&bin, &root);
    assert!(
        report.failures.is_empty(),
        "{} failure(s):\n{}",
        report.failures.len(),
        report.failures.join("\n\n")
    );
    // The fixtures pin many files, so the test is not vacuous.
    assert!(report.pinned.len() >= 20, "pinned only {:?}", report.pinned);
    eprintln!(
        "roundtrip: {} pinned, {} already pinned, {} refused",
        report.pinned.len(),
        report.unchanged.len(),
        report.refused.len()
    );
    for (f, why) in &report.refused {
        eprintln!("refused {}: {why}", f.display());
    }
}
