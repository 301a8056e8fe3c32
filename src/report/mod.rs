//! Output: one [`Finding`] type, one [`Message`] type for errors, warnings
//! and notes, one [`Location`], one printer per format, one exit-status
//! rule. Commands build findings and messages; this module decides how
//! they look.

pub mod diagnostics;
pub mod finding;
pub mod github;
pub mod json;
pub mod location;
pub mod markdown;
pub mod progress;
pub mod sarif;
pub mod text;

pub use diagnostics::{Diagnostics, Message, Severity, UsedAt};
pub use finding::{Finding, FindingKind};
pub use location::Location;
pub use progress::progress;

/// The exit status of every command: 2 when the run had an error (it could
/// not do its job), else 1 when it found something, else 0.
pub fn exit_status(errors: usize, findings: usize) -> i32 {
    if errors > 0 {
        crate::exit::ERROR
    } else if findings > 0 {
        crate::exit::FINDINGS
    } else {
        crate::exit::CLEAN
    }
}

/// Findings in a stable order: by file, line, column, kind, reference.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.location, a.kind, &a.reference, &a.message).cmp(&(
            &b.location,
            b.kind,
            &b.reference,
            &b.message,
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_outrank_findings() {
        assert_eq!(exit_status(0, 0), 0);
        assert_eq!(exit_status(0, 3), 1);
        assert_eq!(exit_status(1, 3), 2);
    }
}

/// The message of a failure that stopped a run, with its causes after it
/// (`anyhow`'s `{:#}`), each said once: an error whose own message already
/// says its cause's (`images.lock: cannot read the lockfile: <why>`,
/// `interrupted by SIGINT; nothing was written`) does not repeat it.
pub fn failure_message(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !out.contains(&cause) {
            out.push_str(": ");
            out.push_str(&cause);
        }
    }
    out
}

#[cfg(test)]
mod failure_tests {
    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::other("Too many levels of symbolic links");
        let e = anyhow::Error::new(crate::lockfile::LockfileError::Read {
            path: "images.lock".into(),
            source: io,
        });
        assert_eq!(
            super::failure_message(&e),
            "images.lock: cannot read the lockfile: Too many levels of symbolic links"
        );
        let e = anyhow::Error::new(crate::write::WriteError::Interrupted(
            crate::interrupt::Interrupted(crate::interrupt::Signal::Interrupt),
        ));
        assert_eq!(
            super::failure_message(&e),
            "interrupted by SIGINT; nothing was written"
        );
        let e = anyhow::Error::new(std::io::Error::other("inner")).context("outer");
        assert_eq!(super::failure_message(&e), "outer: inner");
    }
}
