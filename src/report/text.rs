//! The text format: one finding per line on stdout,
//! `path:line:column: kind: message; hint`.

use std::io::{self, Write};

use crate::report::Finding;

pub fn print_findings(out: &mut impl Write, findings: &[Finding]) -> io::Result<()> {
    for f in findings {
        writeln!(out, "{}", line(f))?;
    }
    Ok(())
}

pub fn line(f: &Finding) -> String {
    let mut s = String::new();
    if let Some(l) = &f.location {
        s.push_str(&format!("{l}: "));
    }
    s.push_str(&format!("{}: {}", f.kind, f.message));
    if let Some(h) = &f.hint {
        s.push_str(&format!("; {h}"));
    }
    s
}
