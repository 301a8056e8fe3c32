//! Logging for `-v` and `RUST_LOG`: `tracing` events on stderr. The library
//! logs requests and decisions, never a secret (credential types redact
//! themselves; header values and token replies are never logged), and each
//! line goes through the run's redactor ([`crate::redact`]) on its way out.

use tracing_subscriber::EnvFilter;

/// Install the stderr logger: `RUST_LOG` when set, else by `-v` count
/// (0: warnings of imagelock only, 1: requests, 2+: everything imagelock
/// logs).
pub fn init(verbose: u8) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::new(v),
        _ => EnvFilter::new(match verbose {
            0 => "off",
            1 => "imagelock=debug",
            _ => "imagelock=trace",
        }),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Every log line is masked by the run's redactor.
        .with_writer(crate::redact::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Whether an error comes from writing to a pipe whose reader went away.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
