//! The registry and credential options checked before anything runs: each
//! one that cannot work is an error (code `usage`) naming the option,
//! reported with the run's other failures; and the values the registry
//! layer takes parsed from them.

use crate::registry::Platform;
use crate::report::{Diagnostics, Message};
use crate::settings::{CredentialSettings, RegistrySettings};

/// Parse `--platform` values.
pub fn parse_platforms(values: &[String]) -> anyhow::Result<Vec<Platform>> {
    let mut out = Vec::new();
    for v in values {
        let p: Platform = v.parse().map_err(|e| {
            anyhow::anyhow!(
                "invalid --platform {v:?}: {e} (write os/arch[/variant], such as linux/arm64/v8)"
            )
        })?;
        out.push(p);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `--pull-secret FILE: cannot read: <why>`.
pub(crate) fn pull_secret_unreadable(path: &std::path::Path, e: std::io::Error) -> String {
    format!(
        "--pull-secret {}: cannot read: {}",
        path.display(),
        crate::file_error::without_path(e, path)
    )
}

/// Check the credential options before anything runs: each one that
/// cannot work is an error (code `usage`) naming the option, reported
/// with the run's other failures. Returns whether all can work.
pub fn check_credential_options(settings: &CredentialSettings, diag: &mut Diagnostics) -> bool {
    let before = diag.errors();
    for path in &settings.pull_secrets {
        let problem = match fs_err::metadata(path) {
            Err(e) => Some(pull_secret_unreadable(path, e)),
            Ok(m) if m.is_dir() => Some(format!(
                "--pull-secret {}: is a directory; name a Secret manifest or a docker config.json",
                path.display()
            )),
            Ok(_) => None,
        };
        if let Some(p) = problem {
            diag.emit(Message::error(p).code("usage"));
        }
    }
    diag.errors() == before
}

/// [`check_credential_options`] and the registry options: `--ca-file`,
/// `--plain-http` and the `--platform` values given.
pub fn check_registry_options(
    settings: &RegistrySettings,
    platforms: &[String],
    diag: &mut Diagnostics,
) -> bool {
    let before = diag.errors();
    check_credential_options(&settings.credentials, diag);
    for ca in &settings.ca_files {
        if !ca.is_file() {
            diag.emit(
                Message::error(format!("--ca-file {}: no such file", ca.display())).code("usage"),
            );
        }
    }
    // Its notes are said again when the client is built.
    if let Err(e) = plain_http_hosts(&settings.plain_http, &mut Diagnostics::new(true)) {
        diag.emit(Message::error(e).code("usage"));
    }
    if let Err(e) = parse_platforms(platforms) {
        diag.emit(Message::error(e).code("usage"));
    }
    diag.errors() == before
}

/// `--plain-http` values as hosts: `http://host:port/` is accepted as
/// `host:port` (with a note); anything else with a scheme or path is refused.
pub fn plain_http_hosts(values: &[String], diag: &mut Diagnostics) -> anyhow::Result<Vec<String>> {
    let mut hosts = Vec::new();
    for v in values {
        let host = match v.split_once("://") {
            Some(("http", rest)) => {
                let host = rest.trim_end_matches('/');
                diag.note(format!(
                    "--plain-http {v}: taken as {host} (the option names a host[:port]; plain HTTP is implied)"
                ));
                host
            }
            Some((scheme, _)) => {
                anyhow::bail!("--plain-http {v}: expected HOST[:PORT], not a {scheme}:// URL")
            }
            None => v.as_str(),
        };
        if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
            anyhow::bail!("--plain-http {v}: expected HOST[:PORT], such as localhost:5000");
        }
        hosts.push(host.to_string());
    }
    Ok(hosts)
}
