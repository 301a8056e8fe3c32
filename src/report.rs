//! Output: diagnostics on stderr (errors, warnings, notes with hints),
//! GitHub annotation escaping, progress bars. Data goes to stdout and is
//! written by the commands; this module never prints to stdout.

use std::io::{IsTerminal, Write};

/// Collects and prints messages for a run, counting errors so the command
/// can report every failure and then pick the exit code.
#[derive(Debug, Default)]
pub struct Diagnostics {
    quiet: bool,
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

    /// `error: <message>` and, when given, `  hint: <hint>`.
    pub fn error(&mut self, message: impl std::fmt::Display, hint: Option<&str>) {
        self.errors += 1;
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "error: {message}");
        if let Some(h) = hint {
            let _ = writeln!(err, "  hint: {h}");
        }
    }

    pub fn warning(&mut self, message: impl std::fmt::Display) {
        self.warnings += 1;
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "warning: {message}");
        }
    }

    pub fn note(&mut self, message: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "note: {message}");
        }
    }

    /// A line for the user (a summary), on stderr, kept even with --quiet.
    pub fn say(&self, message: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr().lock(), "{message}");
    }

    pub fn errors(&self) -> usize {
        self.errors
    }

    pub fn warnings(&self) -> usize {
        self.warnings
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }
}

/// Escape the message of a GitHub workflow command (`::error ...::message`).
pub fn github_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a property value of a GitHub workflow command (`file=...`).
pub fn github_property(s: &str) -> String {
    github_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A progress bar on stderr when stderr is a terminal, else a hidden one.
pub fn progress(len: usize, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() || len == 0 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {pos}/{len} [{bar:30}] {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_escapes() {
        assert_eq!(github_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(github_property("a:b,c"), "a%3Ab%2Cc");
    }
}
