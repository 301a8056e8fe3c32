//! The closed sets of values options take: output formats, the pull
//! policy `pin` sets, where tags are resolved. Plain enums, named on the
//! command line by their kebab-case names (clap's `ValueEnum`) and carried
//! by [`crate::settings`] into the commands.

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PinPullPolicy {
    /// Change no pull policy.
    Keep,
    /// `IfNotPresent` beside every pinned Kubernetes reference.
    IfNotPresent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResolveAt {
    Upstream,
    Mirror,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
    /// One `name@digest` per line from the lockfile (sorted, unique): the
    /// images to pre-load on nodes that never pull.
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResolveFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    /// GitHub Actions workflow annotations.
    Github,
    /// Tables for a pull request or a job summary.
    Markdown,
    /// SARIF 2.1.0 for GitHub code scanning (`upload-sarif`) and other
    /// SARIF viewers.
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpdateFormat {
    Text,
    Json,
    /// A table to paste into a pull request.
    Markdown,
}
