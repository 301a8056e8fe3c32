//! YAML (and JSON, a subset of YAML) scanning with byte-exact scalar spans.

use std::path::Path;

use super::{FileScan, ScanError};

pub fn scan_text(path: &Path, text: &str) -> Result<FileScan, ScanError> {
    let _ = (path, text);
    todo!()
}
