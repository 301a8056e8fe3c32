//! The integration tests, as one test binary (`[[test]] name = "it"` in
//! `Cargo.toml`, `autotests = false`): each file here is a module, and
//! `support/` is compiled and linked once for all of them instead of once
//! per file.
//!
//! A test's name starts with its module: `cargo test --test it registry::`
//! runs the tests of `registry.rs`, `cargo test --test it registry::resolves`
//! those whose name starts so, and `-- --exact registry::NAME` one test.
//!
//! All tests share one process. None changes process-wide state (the
//! environment, the working directory, signal dispositions, resource
//! limits): a test that needs another environment or working directory
//! gives it to the child it starts, and a test that writes a program to
//! execute writes it from a child process (`support::creds`), so no write
//! descriptor of this process can leak into a program another thread is
//! starting (ETXTBSY).

mod support;

mod ci_surfaces;
mod cli;
mod compose;
mod compose_interpolation;
mod config;
mod contracts;
mod credentials;
mod dockerfile;
mod github_workflow;
mod harness;
mod helm_values;
mod json_manifests;
mod kustomize;
mod mirror_checks;
mod mirrors;
mod nothing_broken;
mod output;
mod pin_roundtrip;
mod properties;
mod registries_blocked;
mod registry;
mod registry_answers;
mod registry_budget;
mod registry_cli;
mod secrets;
mod workflow;
mod writing;
