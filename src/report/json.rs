//! The JSON format: one document per run, a versioned contract.
//!
//! Every `--format json` prints one object with `"version": 1`, the
//! command's data under its own key, and the run's `errors` and
//! `warnings` as message objects. Fields are documented in the README;
//! a field is never removed or renamed within a version.

use std::io::{self, Write};

use crate::report::{Diagnostics, Message, Severity};

/// The contract version printed as `"version"`.
pub const VERSION: u32 = 1;

/// `{"version": 1, <key>: <data>, ..., "errors": [...], "warnings": [...]}`.
pub fn document(fields: Vec<(&str, serde_json::Value)>, diag: &Diagnostics) -> serde_json::Value {
    let mut doc = serde_json::Map::new();
    doc.insert("version".into(), VERSION.into());
    for (k, v) in fields {
        doc.insert(k.into(), v);
    }
    let pick = |s: Severity| -> Vec<&Message> {
        diag.messages().iter().filter(|m| m.severity == s).collect()
    };
    doc.insert("errors".into(), serde_json::json!(pick(Severity::Error)));
    doc.insert(
        "warnings".into(),
        serde_json::json!(pick(Severity::Warning)),
    );
    serde_json::Value::Object(doc)
}

/// Print a document, pretty, followed by a newline.
pub fn print(out: &mut impl Write, doc: &serde_json::Value) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc)?;
    writeln!(out)
}
