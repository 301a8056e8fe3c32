//! Ctrl-C (SIGINT) and SIGTERM: a flag the long phases poll, never an abrupt exit.
//!
//! [`install`] registers handlers that only record which signal arrived.
//! Resolution selects on [`cancelled`]; the write transaction
//! ([`crate::write::Transaction`]) calls [`check`] before each staged file
//! and before its renames, removes its temporaries and changes nothing. Once
//! the renames have started they are finished (they are fast), so a run is
//! entirely old or entirely new. `main` exits with [`Signal::exit_code`]
//! (130 or 143). A second signal while the first is being handled ends the
//! process at once with the same code.
//!
//! This module never exits on the first signal and never prints.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};

/// A signal that asks imagelock to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Signal {
    /// The shell's convention: 128 + the signal number.
    pub fn exit_code(self) -> i32 {
        128 + self.number()
    }

    fn number(self) -> i32 {
        match self {
            Signal::Interrupt => SIGINT,
            Signal::Terminate => SIGTERM,
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// The run stopped because a signal asked it to.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("interrupted by {0}")]
pub struct Interrupted(pub Signal);

struct Flags {
    /// The number of the first signal received, 0 for none.
    received: Arc<AtomicUsize>,
    /// Armed by the first signal: a second one exits at once.
    armed: Arc<AtomicBool>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

fn flags() -> &'static Flags {
    FLAGS.get_or_init(|| Flags {
        received: Arc::new(AtomicUsize::new(0)),
        armed: Arc::new(AtomicBool::new(false)),
    })
}

/// Register the SIGINT and SIGTERM handlers. Call once, early in `main`.
pub fn install() -> std::io::Result<()> {
    let f = flags();
    for signal in [Signal::Interrupt, Signal::Terminate] {
        let n = signal.number();
        // Registered first, so it sees the state before this signal's own
        // actions below: only a second signal exits.
        signal_hook::flag::register_conditional_shutdown(n, signal.exit_code(), f.armed.clone())?;
        let received = f.received.clone();
        let armed = f.armed.clone();
        // SAFETY: the action only performs atomic stores, which are
        // async-signal-safe.
        unsafe {
            signal_hook::low_level::register(n, move || {
                let _ =
                    received.compare_exchange(0, n as usize, Ordering::SeqCst, Ordering::SeqCst);
                armed.store(true, Ordering::SeqCst);
            })?;
        }
    }
    Ok(())
}

/// The first stop signal received, if any.
pub fn requested() -> Option<Signal> {
    match flags().received.load(Ordering::SeqCst) {
        0 => None,
        n if n == SIGTERM as usize => Some(Signal::Terminate),
        _ => Some(Signal::Interrupt),
    }
}

/// `Err` once a stop signal has arrived.
pub fn check() -> Result<(), Interrupted> {
    match requested() {
        Some(s) => Err(Interrupted(s)),
        None => Ok(()),
    }
}

/// Resolves when a stop signal arrives (polls the flag every 50 ms). Select
/// on it beside long async work, as `pipeline::remote::Remote::until_interrupted` does:
/// `tokio::select! { r = work => Ok(r), s = cancelled() => Err(Interrupted(s)) }`.
pub async fn cancelled() -> Signal {
    loop {
        if let Some(s) = requested() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sleep for `d` in small steps; `Err` as soon as a stop signal arrives.
/// For blocking waits (another process holding the lockfile).
pub fn sleep(d: Duration) -> Result<(), Interrupted> {
    let step = Duration::from_millis(20);
    let mut left = d;
    while !left.is_zero() {
        check()?;
        let s = left.min(step);
        std::thread::sleep(s);
        left -= s;
    }
    check()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
    }
}
