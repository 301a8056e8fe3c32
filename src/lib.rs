//! imagelock: pin container image tags in Kubernetes manifests to digests.
//!
//! The library holds everything; `main.rs` only parses arguments, calls
//! [`commands::run`] and maps the outcome to an exit code.

pub mod choices;
pub mod cli;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod dirlock;
mod file_error;
pub mod interrupt;
pub mod lockfile;
pub mod logging;
pub mod pipeline;
pub mod policy;
pub mod redact;
pub mod reference;
pub mod registry;
pub mod report;
pub mod rewrite;
pub mod scan;
pub mod secret;
pub mod settings;
pub mod signatures;
pub mod verify;
pub mod write;
pub mod yaml;

/// Exit codes shared by every command.
pub mod exit {
    /// Nothing to report.
    pub const CLEAN: i32 = 0;
    /// Findings: drift, unpinned or missing references, stale entries.
    pub const FINDINGS: i32 = 1;
    /// The run could not do its job: bad input, registry failure, I/O.
    pub const ERROR: i32 = 2;
}
