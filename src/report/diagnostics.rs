//! The run's messages: errors, warnings and notes, each with where it is,
//! what went wrong and what to do. Text goes to stderr as it happens;
//! errors and warnings are also kept, so the machine formats (JSON, GitHub
//! annotations) carry them too. Never prints to stdout.

use std::io::Write;

use crate::report::Location;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

/// A place a reference is used, for a message about the reference.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UsedAt {
    #[serde(flatten)]
    pub location: Location,
    /// `Deployment app (namespace team-a)`, when in a pod spec.
    pub workload: Option<String>,
}

/// One error, warning or note.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Message {
    pub severity: Severity,
    /// A stable machine name for what went wrong (`parse`, `io`,
    /// `registry-not-found`, …), when it has one.
    pub code: Option<String>,
    #[serde(flatten, serialize_with = "crate::report::finding::serialize_location")]
    pub location: Option<Location>,
    pub message: String,
    pub hint: Option<String>,
    /// Every place the reference the message is about is used.
    #[serde(rename = "used-at", skip_serializing_if = "Vec::is_empty")]
    pub used_at: Vec<UsedAt>,
}

impl Message {
    pub fn error(message: impl std::fmt::Display) -> Message {
        Message::new(Severity::Error, message)
    }

    pub fn warning(message: impl std::fmt::Display) -> Message {
        Message::new(Severity::Warning, message)
    }

    fn new(severity: Severity, message: impl std::fmt::Display) -> Message {
        Message {
            severity,
            code: None,
            location: None,
            message: message.to_string(),
            hint: None,
            used_at: Vec::new(),
        }
    }

    pub fn at(mut self, location: Location) -> Message {
        self.location = Some(location);
        self
    }

    pub fn code(mut self, code: impl Into<String>) -> Message {
        self.code = Some(code.into());
        self
    }

    pub fn hint(mut self, hint: Option<impl Into<String>>) -> Message {
        self.hint = hint.map(Into::into);
        self
    }

    pub fn used_at(mut self, used_at: Vec<UsedAt>) -> Message {
        self.used_at = used_at;
        self
    }

    /// The text form: `error: path:line:column: message`, `used at` lines,
    /// `hint:` line.
    pub fn render(&self) -> String {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        let mut s = format!("{level}: ");
        if let Some(l) = &self.location {
            s.push_str(&format!("{l}: "));
        }
        s.push_str(&self.message);
        for u in &self.used_at {
            s.push_str(&format!("\n  used at {}", u.location));
            if let Some(w) = &u.workload {
                s.push_str(&format!(" ({w})"));
            }
        }
        if let Some(h) = &self.hint {
            s.push_str(&format!("\n  hint: {h}"));
        }
        s
    }
}

/// Collects and prints messages for a run, so the command can report every
/// failure and then pick the exit code.
#[derive(Debug, Default)]
pub struct Diagnostics {
    quiet: bool,
    /// Keep errors and warnings for a machine format (text mode only
    /// counts them: a run with a warning per reference stays streaming).
    keep: bool,
    kept: Vec<Message>,
    errors: usize,
    warnings: usize,
}

impl Diagnostics {
    pub fn new(quiet: bool) -> Diagnostics {
        Diagnostics {
            quiet,
            ..Diagnostics::default()
        }
    }

    /// Keep errors and warnings for a machine format to print
    /// ([`Diagnostics::messages`]).
    pub fn keep_messages(mut self, keep: bool) -> Diagnostics {
        self.keep = keep;
        self
    }

    /// Record a message and print it on stderr (errors always; warnings
    /// and notes unless quiet).
    pub fn emit(&mut self, m: Message) {
        match m.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
            Severity::Note => {}
        }
        if m.severity == Severity::Error || !self.quiet {
            let _ = writeln!(crate::redact::stderr(), "{}", m.render());
        }
        if self.keep && m.severity != Severity::Note {
            self.kept.push(m);
        }
    }

    /// `error: <message>` and, when given, `  hint: <hint>`.
    pub fn error(&mut self, message: impl std::fmt::Display, hint: Option<&str>) {
        self.emit(Message::error(message).hint(hint));
    }

    pub fn warning(&mut self, message: impl std::fmt::Display) {
        self.emit(Message::warning(message));
    }

    pub fn note(&mut self, message: impl std::fmt::Display) {
        self.emit(Message::new(Severity::Note, message));
    }

    /// A summary line for the user, on stderr; `--quiet` drops it.
    pub fn say(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(crate::redact::stderr(), "{message}");
        }
    }

    /// The errors and warnings so far, in the order they came (when kept).
    pub fn messages(&self) -> &[Message] {
        &self.kept
    }

    pub fn errors(&self) -> usize {
        self.errors
    }

    pub fn warnings(&self) -> usize {
        self.warnings
    }

    /// Whether a warning emitted now is shown or kept (else only counted,
    /// and a caller may skip building it).
    pub fn shows_warnings(&self) -> bool {
        !self.quiet || self.keep
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// The exit status of a run that found `findings` things: 2 when any
    /// error was reported, else 1 when anything was found, else 0.
    pub fn exit_status(&self, findings: usize) -> i32 {
        crate::report::exit_status(self.errors, findings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_uses_and_hint() {
        let m = Message::error("nginx:1 (registry docker.io): not found")
            .hint(Some("check the tag"))
            .used_at(vec![UsedAt {
                location: Location::new("a.yaml", 3, 14),
                workload: Some("Deployment web (namespace default)".into()),
            }]);
        assert_eq!(
            m.render(),
            "error: nginx:1 (registry docker.io): not found\n  used at a.yaml:3:14 (Deployment web (namespace default))\n  hint: check the tag"
        );
        let w = Message::warning("templated").at(Location::new("a.yaml", 1, 2));
        assert_eq!(w.render(), "warning: a.yaml:1:2: templated");
    }

    #[test]
    fn quiet_keeps_errors_and_counts() {
        let mut d = Diagnostics::new(true).keep_messages(true);
        d.warning("w");
        d.note("n");
        d.error("e", None);
        assert_eq!((d.errors(), d.warnings(), d.messages().len()), (1, 1, 2));
        assert_eq!(d.exit_status(0), 2);
    }
}
