//! GitHub Actions workflow annotations on stdout: `::error file=…,line=…,col=…,title=imagelock::…`
//! for findings and errors, `::warning` for warnings (unless quiet).

use std::io::{self, Write};

use crate::report::{Finding, Location, Message, Severity};

/// Escape the message of a workflow command.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a property value of a workflow command (`file=...`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn annotation(level: &str, location: Option<&Location>, message: &str) -> String {
    let mut props = Vec::new();
    if let Some(l) = location {
        props.push(format!(
            "file={}",
            escape_property(&l.file.display().to_string())
        ));
        if let Some(line) = l.line {
            props.push(format!("line={line}"));
        }
        if let Some(col) = l.column {
            props.push(format!("col={col}"));
        }
    }
    props.push("title=imagelock".to_string());
    format!("::{level} {}::{}", props.join(","), escape_data(message))
}

/// Findings as `::error` annotations, then the run's errors (one per place
/// the reference is used, so each shows on its line) and, unless `quiet`,
/// warnings.
pub fn print(
    out: &mut impl Write,
    findings: &[Finding],
    messages: &[Message],
    quiet: bool,
) -> io::Result<()> {
    for m in messages.iter().filter(|m| m.severity == Severity::Warning) {
        if !quiet {
            write_message(out, "warning", m)?;
        }
    }
    for f in findings {
        let mut text = format!("{}: {}", f.kind, f.message);
        if let Some(h) = &f.hint {
            text.push_str(&format!("; {h}"));
        }
        writeln!(out, "{}", annotation("error", f.location.as_ref(), &text))?;
    }
    for m in messages.iter().filter(|m| m.severity == Severity::Error) {
        write_message(out, "error", m)?;
    }
    Ok(())
}

fn write_message(out: &mut impl Write, level: &str, m: &Message) -> io::Result<()> {
    let mut text = m.message.clone();
    if let Some(h) = &m.hint {
        text.push_str(&format!("; {h}"));
    }
    if m.location.is_none() && !m.used_at.is_empty() {
        for u in &m.used_at {
            writeln!(out, "{}", annotation(level, Some(&u.location), &text))?;
        }
        return Ok(());
    }
    writeln!(out, "{}", annotation(level, m.location.as_ref(), &text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{FindingKind, UsedAt};

    #[test]
    fn escapes() {
        assert_eq!(escape_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn errors_are_annotated_at_each_use() {
        let mut out = Vec::new();
        let f = Finding::new(
            FindingKind::Missing,
            Some(Location::new("k8s/a,b.yaml", 3, 14)),
            "nginx:1",
            "not locked",
        );
        let m = Message::error("registry down").used_at(vec![
            UsedAt {
                location: Location::new("a.yaml", 1, 2),
                workload: None,
            },
            UsedAt {
                location: Location::new("b.yaml", 3, 4),
                workload: None,
            },
        ]);
        let w = Message::warning("templated");
        print(&mut out, &[f], &[m, w], true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "::error file=k8s/a%2Cb.yaml,line=3,col=14,title=imagelock::missing: not locked\n\
             ::error file=a.yaml,line=1,col=2,title=imagelock::registry down\n\
             ::error file=b.yaml,line=3,col=4,title=imagelock::registry down\n"
        );
    }
}
