//! Credential programs for tests: docker credential helpers
//! (`docker-credential-<name>`) and kubelet credential provider plugins,
//! written as small POSIX `sh` scripts (only `cat`, `sed` and `printf`)
//! that speak the real protocols, plus a kubelet `CredentialProviderConfig`
//! writer.
//!
//! Every reply is computed here with serde_json and embedded in the script
//! as a quoted heredoc, so quoting in the values cannot break the script.
//! Each script appends what it was asked to a `<script>.calls` file (one
//! line per call; never a secret): read it with [`calls`].

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a docker credential helper prints when it has nothing for a
/// server (docker-credential-helpers' `errCredentialsNotFound`, on stdout,
/// exit 1). Clients test for this text.
pub(crate) const NOT_FOUND: &str = "credentials not found in native keychain";

/// What [`failing_docker_credential_helper`] prints on stderr (exit 3).
pub(crate) const HELPER_FAILURE: &str =
    "error getting credentials - err: exit status 1, out: keychain locked";

/// The first stderr line of [`failing_credential_provider_plugin`] (exit 2;
/// the second line is `detail`).
pub(crate) const PLUGIN_FAILURE: &str = "plugin failed: no instance metadata";

/// The kubelet credential provider protocol version the plugins speak.
pub(crate) const PROVIDER_API_VERSION: &str = "credentialprovider.kubelet.k8s.io/v1";

/// One entry of a plugin's `auth` map: `key` is an image match key
/// (`registry.example`, `*.registry.example/team`, ...).
#[derive(Debug, Clone)]
pub(crate) struct ProviderAuth {
    pub key: String,
    pub username: String,
    pub password: String,
}

/// One `providers:` entry for [`credential_provider_config`]: `name`,
/// `matchImages`, `defaultCacheDuration`, `args`, `env` (`name`, `value`).
pub(crate) type ProviderEntry<'a> = (
    &'a str,
    &'a [&'a str],
    &'a str,
    &'a [&'a str],
    &'a [(&'a str, &'a str)],
);

/// The `.calls` file a script logs to: `<script>.calls`.
pub(crate) fn calls_path(script: &Path) -> PathBuf {
    let mut s = script.as_os_str().to_owned();
    s.push(".calls");
    PathBuf::from(s)
}

/// The lines of a `.calls` (or `.args`, `.env`, `.requests`) file; empty
/// when the file does not exist (never called).
pub(crate) fn calls(path: &Path) -> Vec<String> {
    match fs_err::read_to_string(path) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

/// `s` as one single-quoted shell word.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn sh_path(p: &Path) -> String {
    sh_quote(
        p.to_str()
            .unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display())),
    )
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Escape `<`, `>`, `&` as Go's `encoding/json` does by default (the real
/// helpers are Go programs: `<token>` comes out as `\u003ctoken\u003e`).
/// Those characters occur in serialized JSON only inside strings.
fn go_html_escape(json: &str) -> String {
    json.replace('<', r"\u003c")
        .replace('>', r"\u003e")
        .replace('&', r"\u0026")
}

const EOF_MARK: &str = "IMAGELOCK_EOF";

/// Shell lines printing `line` (one line of JSON) and a newline, as is.
fn heredoc(line: &str) -> String {
    assert!(!line.contains('\n') && line != EOF_MARK);
    format!("cat <<'{EOF_MARK}'\n{line}\n{EOF_MARK}\n")
}

/// Write an executable script. The file is written by a child `sh` rather
/// than by this (multi-threaded) process: a write descriptor held here
/// could leak into a process another test thread is forking at that
/// moment, and executing the script would then fail with ETXTBSY. Every
/// test module shares this process, so every test writes the programs it
/// runs with this.
pub(crate) fn write_script(path: &Path, text: &str) -> PathBuf {
    let mut child = Command::new("/bin/sh")
        .args(["-c", r#"cat > "$1""#, "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("cannot run /bin/sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "cannot write {}", path.display());
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

/// Shell: set `$server` from stdin as docker-credential-helpers' `get`
/// does (all lines joined, `\r` dropped, surrounding whitespace trimmed),
/// and log it.
const READ_SERVER: &str = r#"cr=$(printf '\r')
server=$(sed -n 'H;${x;s/\n//g;p;}' | sed -e "s/$cr//g" -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
printf '%s\n' "$server" >> "$calls"
"#;

/// `dir/docker-credential-<name>`: a docker credential helper knowing
/// `entries` (`server`, `username`, `secret`; a username of `<token>`
/// makes the secret an identity token).
///
/// `get` reads the server URL from stdin and prints
/// `{"ServerURL":..,"Username":..,"Secret":..}` (exit 0) for a known
/// server, else [`NOT_FOUND`] on stdout (exit 1); an empty URL prints
/// `no credentials server URL` (exit 1). `list` prints the
/// `{server: username}` map. Any other action fails (exit 1). Each asked
/// URL is appended to `dir/docker-credential-<name>.calls`.
pub(crate) fn docker_credential_helper(
    dir: &Path,
    name: &str,
    entries: &[(&str, &str, &str)],
) -> PathBuf {
    let path = dir.join(format!("docker-credential-{name}"));
    let mut script = format!(
        "#!/bin/sh\n# Test docker credential helper (tests/it/support/creds.rs).\ncalls={}\ncase \"$1\" in\nget)\n{READ_SERVER}",
        sh_path(&calls_path(&path))
    );
    script.push_str(
        "if [ -z \"$server\" ]; then\n  printf '%s\\n' 'no credentials server URL'\n  exit 1\nfi\n",
    );
    for (server, username, secret) in entries {
        let reply = format!(
            "{{\"ServerURL\":{},\"Username\":{},\"Secret\":{}}}",
            json_str(server),
            json_str(username),
            json_str(secret)
        );
        script.push_str(&format!(
            "if [ \"$server\" = {} ]; then\n{}exit 0\nfi\n",
            sh_quote(server),
            heredoc(&go_html_escape(&reply))
        ));
    }
    script.push_str(&format!(
        "printf '%s\\n' {}\nexit 1\n;;\nlist)\n",
        sh_quote(NOT_FOUND)
    ));
    let list: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(s, u, _)| (s.to_string(), serde_json::Value::from(*u)))
        .collect();
    script.push_str(&heredoc(&go_html_escape(
        &serde_json::Value::Object(list).to_string(),
    )));
    script.push_str(
        "exit 0\n;;\n*)\nprintf 'Unknown credential action `%s`\\n' \"$1\"\nexit 1\n;;\nesac\n",
    );
    write_script(&path, &script)
}

/// `dir/docker-credential-<name>` whose `get` fails as a locked keychain
/// does: [`HELPER_FAILURE`] on stderr, nothing on stdout, exit 3. Calls
/// are logged as for [`docker_credential_helper`].
pub(crate) fn failing_docker_credential_helper(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("docker-credential-{name}"));
    let script = format!(
        "#!/bin/sh\n# Failing test docker credential helper (tests/it/support/creds.rs).\ncalls={}\ncase \"$1\" in\nget)\n{READ_SERVER}printf '%s\\n' {} >&2\nexit 3\n;;\n*)\nprintf 'Unknown credential action `%s`\\n' \"$1\"\nexit 1\n;;\nesac\n",
        sh_path(&calls_path(&path)),
        sh_quote(HELPER_FAILURE)
    );
    write_script(&path, &script)
}

/// Shell: read the CredentialProviderRequest from stdin into `$flat` (one
/// line), log it to `$requests`, and set `$api`, `$kind`, `$image`.
const READ_REQUEST: &str = r#"flat=$(sed -n 'H;${x;s/\n/ /g;s/^ //;p;}')
printf '%s\n' "$flat" >> "$requests"
field() {
  printf '%s\n' "$flat" | sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"
}
api=$(field apiVersion)
kind=$(field kind)
image=$(field image)
"#;

/// Shell: log the image, argv and `$PLUGIN_TEST_ENV`.
const LOG_CALL: &str = r#"printf '%s\n' "$image" >> "$calls"
printf '%s\n' "$*" >> "$args"
printf '%s\n' "${PLUGIN_TEST_ENV-}" >> "$envlog"
"#;

fn plugin_prologue(path: &Path, what: &str) -> String {
    let side = |ext: &str| {
        let mut s = path.as_os_str().to_owned();
        s.push(ext);
        sh_path(Path::new(&s))
    };
    format!(
        "#!/bin/sh\n# {what} (tests/it/support/creds.rs).\ncalls={}\nargs={}\nenvlog={}\nrequests={}\n{READ_REQUEST}",
        side(".calls"),
        side(".args"),
        side(".env"),
        side(".requests"),
    )
}

/// The CredentialProviderResponse JSON [`credential_provider_plugin`]
/// prints (`cacheDuration` left out when empty).
pub(crate) fn provider_response(
    cache_key_type: &str,
    cache_duration: &str,
    auth: &[ProviderAuth],
) -> String {
    let mut s = format!(
        "{{\"apiVersion\":{},\"kind\":\"CredentialProviderResponse\",\"cacheKeyType\":{}",
        json_str(PROVIDER_API_VERSION),
        json_str(cache_key_type)
    );
    if !cache_duration.is_empty() {
        s.push_str(&format!(",\"cacheDuration\":{}", json_str(cache_duration)));
    }
    s.push_str(",\"auth\":{");
    for (i, a) in auth.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{}:{{\"username\":{},\"password\":{}}}",
            json_str(&a.key),
            json_str(&a.username),
            json_str(&a.password)
        ));
    }
    s.push_str("}}");
    s
}

/// `bin_dir/<name>`: a kubelet credential provider plugin. It reads the
/// CredentialProviderRequest from stdin; unless its `apiVersion` is
/// [`PROVIDER_API_VERSION`] and its `kind` `CredentialProviderRequest`, it
/// says so on stderr and exits 1. Otherwise it appends the `image` to
/// `<name>.calls`, its arguments (space-joined) to `<name>.args`, the
/// value of `PLUGIN_TEST_ENV` (or an empty line) to `<name>.env`, prints
/// [`provider_response`] and exits 0. Every request (valid or not) is also
/// appended, on one line, to `<name>.requests`.
pub(crate) fn credential_provider_plugin(
    bin_dir: &Path,
    name: &str,
    cache_key_type: &str,
    cache_duration: &str,
    auth: &[ProviderAuth],
) -> PathBuf {
    let path = bin_dir.join(name);
    let mut script = plugin_prologue(&path, "Test kubelet credential provider plugin");
    script.push_str(&format!(
        "if [ \"$api\" != {api} ]; then\n  printf 'unsupported apiVersion \"%s\", want %s\\n' \"$api\" {api} >&2\n  exit 1\nfi\nif [ \"$kind\" != 'CredentialProviderRequest' ]; then\n  printf 'unexpected kind \"%s\", want CredentialProviderRequest\\n' \"$kind\" >&2\n  exit 1\nfi\n{LOG_CALL}",
        api = sh_quote(PROVIDER_API_VERSION)
    ));
    script.push_str(&heredoc(&provider_response(
        cache_key_type,
        cache_duration,
        auth,
    )));
    script.push_str("exit 0\n");
    write_script(&path, &script)
}

/// `bin_dir/<name>`: a plugin that fails: [`PLUGIN_FAILURE`] and `detail`
/// on stderr, nothing on stdout, exit 2. Calls are logged as for
/// [`credential_provider_plugin`].
pub(crate) fn failing_credential_provider_plugin(bin_dir: &Path, name: &str) -> PathBuf {
    let path = bin_dir.join(name);
    let mut script = plugin_prologue(&path, "Failing test kubelet credential provider plugin");
    script.push_str(LOG_CALL);
    script.push_str(&format!(
        "printf '%s\\n' {} 'detail' >&2\nexit 2\n",
        sh_quote(PLUGIN_FAILURE)
    ));
    write_script(&path, &script)
}

/// Write a kubelet `CredentialProviderConfig` (YAML, `apiVersion:
/// kubelet.config.k8s.io/<api_version>`) to `path`. Every value is a
/// double-quoted scalar (match images start with `*`, which YAML would
/// read as an alias); `args`/`env` are left out when empty, an empty
/// `matchImages` is written as `[]`.
pub(crate) fn credential_provider_config(
    path: &Path,
    api_version: &str,
    providers: &[ProviderEntry],
) {
    let mut y = format!(
        "apiVersion: kubelet.config.k8s.io/{api_version}\nkind: CredentialProviderConfig\nproviders:\n"
    );
    for (name, match_images, default_cache_duration, args, env) in providers {
        y.push_str(&format!("  - name: {}\n", json_str(name)));
        if match_images.is_empty() {
            y.push_str("    matchImages: []\n");
        } else {
            y.push_str("    matchImages:\n");
            for m in *match_images {
                y.push_str(&format!("      - {}\n", json_str(m)));
            }
        }
        y.push_str(&format!(
            "    defaultCacheDuration: {}\n",
            json_str(default_cache_duration)
        ));
        y.push_str(&format!("    apiVersion: {PROVIDER_API_VERSION}\n"));
        if !args.is_empty() {
            y.push_str("    args:\n");
            for a in *args {
                y.push_str(&format!("      - {}\n", json_str(a)));
            }
        }
        if !env.is_empty() {
            y.push_str("    env:\n");
            for (k, v) in *env {
                y.push_str(&format!(
                    "      - name: {}\n        value: {}\n",
                    json_str(k),
                    json_str(v)
                ));
            }
        }
    }
    fs_err::write(path, y).unwrap();
}
