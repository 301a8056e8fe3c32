//! Docker credential helpers: `docker-credential-<name> get`, the server
//! address on stdin, `{"ServerURL", "Username", "Secret"}` on stdout.
//!
//! `Username` `<token>` means `Secret` is an identity token. "credentials
//! not found" means no candidate, not an error. Each (helper, server) is
//! asked at most once per run: concurrent askers of one pair wait for the
//! one run; other pairs run beside it (no shared lock is held while a
//! helper runs).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::exec::{self, ExecError};
use super::Credential;
use crate::secret::Secret;

/// What one helper said about one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelperAnswer {
    Found(Credential),
    NotFound,
    /// `docker-credential-<name>` is not on PATH.
    Missing,
    /// It ran and failed (its exit status or signal, and the command that
    /// shows its message; never its output), or was not run.
    Failed(String),
}

/// One (helper, server)'s answer, computed once.
type Answer = Arc<OnceLock<HelperAnswer>>;

/// Runs helpers, remembering every answer for the run.
#[derive(Debug)]
pub struct Helpers {
    timeout: Duration,
    answers: Mutex<HashMap<(String, String), Answer>>,
    runs: std::sync::atomic::AtomicUsize,
}

impl Helpers {
    pub fn new(timeout: Duration) -> Helpers {
        Helpers {
            timeout,
            answers: Mutex::new(HashMap::new()),
            runs: Default::default(),
        }
    }

    /// `docker-credential-<helper>` located in an absolute PATH directory.
    pub fn program(helper: &str) -> Option<PathBuf> {
        match exec::which(&format!("docker-credential-{helper}")) {
            exec::Which::Found(p) => Some(p),
            _ => None,
        }
    }

    /// How many times a helper program was started.
    pub fn runs(&self) -> usize {
        self.runs.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Ask `docker-credential-<helper>` for `server` (once per run).
    pub fn get(&self, helper: &str, server: &str) -> HelperAnswer {
        let cell = self
            .answers
            .lock()
            .unwrap()
            .entry((helper.to_string(), server.to_string()))
            .or_default()
            .clone();
        cell.get_or_init(|| self.run(helper, server)).clone()
    }

    fn run(&self, helper: &str, server: &str) -> HelperAnswer {
        let name = format!("docker-credential-{helper}");
        let program = match exec::which(&name) {
            exec::Which::Found(p) => p,
            exec::Which::NotFound => return HelperAnswer::Missing,
            exec::Which::OnlyRelative { entry } => {
                return HelperAnswer::Failed(exec::refused_relative(&name, &entry))
            }
        };
        // Its own output is never shown (it may hold a secret): this says
        // how to see it.
        let by_hand = format!(
            "its output is not shown, as it may hold a secret; to see it, run `echo {} | {name} get`",
            shell_word(server)
        );
        self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let out = match exec::run(
            &program,
            &["get".to_string()],
            &[],
            server.as_bytes(),
            self.timeout,
        ) {
            Ok(o) => o,
            Err(ExecError::NotFound) => return HelperAnswer::Missing,
            Err(ExecError::TimedOut(t)) => {
                return HelperAnswer::Failed(format!(
                    "did not answer within {}s and was stopped ({by_hand})",
                    t.as_secs()
                ))
            }
            Err(ExecError::Io(e)) => return HelperAnswer::Failed(format!("could not run: {e}")),
        };
        if !out.success {
            // Helpers print "credentials not found in native keychain" on
            // stdout for an unknown server; that message holds no secret.
            let said = String::from_utf8_lossy(&out.stdout);
            if said.to_ascii_lowercase().contains("credentials not found") {
                return HelperAnswer::NotFound;
            }
            return HelperAnswer::Failed(format!("{} ({by_hand})", out.status));
        }
        parse_reply(&out.stdout)
    }
}

/// `word` quoted for a POSIX shell when it needs it.
pub(crate) fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@%+=,".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[derive(serde::Deserialize)]
struct Reply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Read a helper's stdout; never quotes it.
fn parse_reply(stdout: &[u8]) -> HelperAnswer {
    let Ok(reply) = serde_json::from_slice::<Reply>(stdout) else {
        return HelperAnswer::Failed(
            "answered something that is not the credential JSON ({\"ServerURL\", \"Username\", \"Secret\"})".into(),
        );
    };
    if reply.secret.is_empty() {
        return HelperAnswer::NotFound;
    }
    if reply.username == "<token>" {
        HelperAnswer::Found(Credential::IdentityToken {
            token: Secret::new(reply.secret),
        })
    } else {
        HelperAnswer::Found(Credential::basic(reply.username, reply.secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(
            parse_reply(br#"{"ServerURL":"x","Username":"u","Secret":"s"}"#),
            HelperAnswer::Found(Credential::basic("u", "s"))
        );
        assert_eq!(
            parse_reply(br#"{"ServerURL":"x","Username":"<token>","Secret":"r"}"#),
            HelperAnswer::Found(Credential::IdentityToken {
                token: Secret::new("r")
            })
        );
        assert_eq!(
            parse_reply(br#"{"ServerURL":"x","Username":"","Secret":""}"#),
            HelperAnswer::NotFound
        );
        match parse_reply(b"user:hunter2") {
            HelperAnswer::Failed(m) => assert!(!m.contains("hunter2")),
            other => panic!("{other:?}"),
        }
    }
}
