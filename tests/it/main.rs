//! The integration tests, as one test binary (`[[test]] name = "it"` in
//! `Cargo.toml`, `autotests = false`): each file here is a module, and
//! `support/` is compiled and linked once for all of them instead of once
//! per file.
//!
//! A test's name starts with its module, and a filter selects the tests
//! whose name contains it: `cargo test --test it registry::` runs the tests
//! of `registry.rs`, `-- --exact registry::NAME` one test (`cli::` also
//! matches `registry_cli::`; add `-- --skip registry_cli::`). The binary's
//! name is not part of a test's name: `it::registry::` selects nothing.
//!
//! All tests share one process, so none may change process-wide state:
//! no `std::env::set_var`/`remove_var`, no `set_current_dir`, no signal
//! handlers, no resource limits or umask in this process (a test gives the
//! environment, working directory, `ulimit` or `umask` it needs to the
//! child it starts), no process-wide defaults (tracing subscribers are
//! scoped to a future, rustls providers passed explicitly). Ports: a
//! server of this process keeps the listener it bound to port 0,
//! `support::ClosedPort` holds its port, and a registry, which must be
//! given a free port, checks that the server answering there is its own
//! and otherwise tries another. A program a test executes is written
//! from a child process (`support::creds::write_script`): a write
//! descriptor of this process could leak into a process another thread is
//! forking and make the program's `execve` fail with ETXTBSY.

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
mod krm_function;
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
mod render_time;
mod secrets;
mod signature_policy;
mod signatures;
mod workflow;
mod writing;
