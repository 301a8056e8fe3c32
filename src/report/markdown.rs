//! The Markdown format: tables to paste into a pull request or a job
//! summary (`$GITHUB_STEP_SUMMARY`).

use std::io::{self, Write};

use crate::report::{Finding, Message, Severity};

/// Escape a table cell: pipes and line breaks would end the cell.
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// A table cell's code span (`` `a.yaml:3:9` ``): a text holding
/// backticks (a file named ``a`b.yaml``) is fenced with one more backtick
/// than its longest run, and padded with a space where it starts or ends
/// with one, as CommonMark reads code spans.
pub fn code(s: &str) -> String {
    let s = cell(s);
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Findings, then errors, each as a table; nothing for a clean run.
pub fn print_findings(
    out: &mut impl Write,
    findings: &[Finding],
    messages: &[Message],
) -> io::Result<()> {
    if !findings.is_empty() {
        writeln!(out, "| Location | Kind | Reference | Message |")?;
        writeln!(out, "|---|---|---|---|")?;
        for f in findings {
            let mut message = f.message.clone();
            if let Some(h) = &f.hint {
                message.push_str(&format!("; {h}"));
            }
            writeln!(
                out,
                "| {} | {} | {} | {} |",
                f.location
                    .as_ref()
                    .map(|l| code(&l.to_string()))
                    .unwrap_or_default(),
                f.kind,
                code(&f.reference),
                cell(&message)
            )?;
        }
    }
    let errors: Vec<&Message> = messages
        .iter()
        .filter(|m| m.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
        if !findings.is_empty() {
            writeln!(out)?;
        }
        writeln!(out, "| Location | Error |")?;
        writeln!(out, "|---|---|")?;
        for m in errors {
            let mut message = m.message.clone();
            if let Some(h) = &m.hint {
                message.push_str(&format!("; {h}"));
            }
            let at = m
                .location
                .as_ref()
                .or(m.used_at.first().map(|u| &u.location))
                .map(|l| code(&l.to_string()))
                .unwrap_or_default();
            writeln!(out, "| {at} | {} |", cell(&message))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{FindingKind, Location};

    #[test]
    fn code_spans_hold_backticks() {
        assert_eq!(code("a.yaml:1:2"), "`a.yaml:1:2`");
        assert_eq!(code("a`b.yaml:1:2"), "``a`b.yaml:1:2``");
        assert_eq!(code("`a``b`"), "``` `a``b` ```");
        assert_eq!(code("a|b"), "`a\\|b`");
    }

    #[test]
    fn tables_escape_cells() {
        let f = Finding::new(
            FindingKind::Drift,
            Some(Location::new("a.yaml", 3, 9)),
            "nginx:1",
            "moved | twice\nnow",
        );
        let mut out = Vec::new();
        print_findings(&mut out, &[f], &[Message::error("down")]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "| Location | Kind | Reference | Message |\n|---|---|---|---|\n\
             | `a.yaml:3:9` | drift | `nginx:1` | moved \\| twice now |\n\n\
             | Location | Error |\n|---|---|\n|  | down |\n"
        );
    }
}
