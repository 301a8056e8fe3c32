//! `imagelock list`: every reference with its location, normalised name,
//! tag, digest, effective pull policy and lock status. Text and plain
//! output stream document by document (a file that fails to parse further
//! down still shows what its earlier documents hold, beside its error).

use std::io::Write;
use std::path::Path;

use crate::choices::ListFormat;
use crate::config::Filters;
use crate::credentials::{Keychain as _, Query};
use crate::lockfile::{Entry, Lockfile};
use crate::pipeline::options::check_credential_options;
use crate::pipeline::remote::{keychain, load_mirrors};
use crate::pipeline::scanning::{
    assess_policy, built_note, location, scan_each, PodCredentials, Scanned,
};
use crate::policy;
use crate::reference::Reference;
use crate::registry::mirrors::Mirrors;
use crate::report::{json, Diagnostics, Message};
use crate::scan::FoundImage;
use crate::settings::ListSettings;

pub fn run(args: &ListSettings, lockfile: &Path, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    // A --pull-secret that cannot be read is an error of the run; the
    // listing goes on without it.
    check_credential_options(&args.credentials, diag);
    let lock = Lockfile::load(lockfile)?;
    let mirrors = load_mirrors(&args.mirrors)?;
    match args.format {
        ListFormat::Json => return run_json(args, &lock, &mirrors, diag),
        ListFormat::Plain => return run_plain(args, &lock, &mirrors, diag),
        ListFormat::Text => {}
    }
    let mut out = std::io::BufWriter::new(crate::redact::stdout());
    let mut io_error = None;
    scan_each(&args.scan, diag, |event, diag| {
        let Scanned::Part(_, part) = event else {
            return;
        };
        for image in &part.images {
            let (policy, _) =
                assess_policy(&image.reference, &image.context, &location(image), diag);
            warn_blocked(&mirrors, image, diag);
            let (status, entry) = status_of(&lock, &args.scan.filters, image, diag);
            let result = row(&mut out, image, policy, status, entry);
            if let Err(e) = result {
                io_error.get_or_insert(e);
            }
        }
    });
    if let Some(e) = io_error {
        return Err(e.into());
    }
    out.flush()?;
    Ok(diag.exit_status(0))
}

/// One line of the text format: location, reference as written, name and
/// tag (and digest), effective policy, lock status and locked digest.
/// Written straight into `out` (one per reference: no string built).
fn row(
    out: &mut impl Write,
    image: &FoundImage,
    policy: policy::Effective,
    status: LockStatus,
    entry: Option<&crate::lockfile::Entry>,
) -> std::io::Result<()> {
    let r = &image.reference;
    write!(
        out,
        "{}:{}:{}  {}  {}:{}",
        image.file.display(),
        image.line,
        image.column,
        r.original(),
        r.name_str(),
        r.effective_tag().unwrap_or("-"),
    )?;
    if let Some(d) = r.digest() {
        write!(out, "@{d}")?;
    }
    write!(out, "  {}  {}", policy, status.as_str())?;
    if let (Some(e), None) = (entry, r.digest()) {
        write!(out, " {}", e.digest)?;
    }
    writeln!(out)
}

/// Plain: the locked `name@digest` of every reference found (sorted,
/// unique), to pre-load nodes that run with `imagePullPolicy: Never`
/// (`xargs -n1 crictl pull`). A reference the lockfile lacks is an error.
fn run_plain(
    args: &ListSettings,
    lock: &Lockfile,
    mirrors: &Mirrors,
    diag: &mut Diagnostics,
) -> anyhow::Result<i32> {
    let mut pulls = std::collections::BTreeSet::new();
    scan_each(&args.scan, diag, |event, diag| {
        let Scanned::Part(_, part) = event else {
            return;
        };
        for image in part.images.iter().filter(|i| !i.built()) {
            if args.scan.filters.ignores(&image.reference) {
                continue; // `ignore-images`: never locked
            }
            warn_blocked(mirrors, image, diag);
            match lock.lookup(&image.reference) {
                Some(e) => {
                    pulls.insert(format!("{}@{}", e.name, e.digest));
                }
                None => diag.emit(
                    Message::error(format!("{} is not in the lockfile", image.reference))
                        .at(location(image))
                        .code("missing")
                        .hint(Some("run `imagelock lock`")),
                ),
            }
        }
    });
    let mut out = std::io::BufWriter::new(crate::redact::stdout());
    for p in &pulls {
        writeln!(out, "{p}")?;
    }
    out.flush()?;
    Ok(diag.exit_status(0))
}

/// JSON: every reference with its context and the credential sources that
/// match it (names only). Pull secrets may sit in any scanned file, so the
/// rows are printed once every file is read.
fn run_json(
    args: &ListSettings,
    lock: &Lockfile,
    mirrors: &Mirrors,
    diag: &mut Diagnostics,
) -> anyhow::Result<i32> {
    let creds = &args.credentials;
    let mut images: Vec<FoundImage> = Vec::new();
    let mut secrets = Vec::new();
    let mut accounts = Vec::new();
    scan_each(&args.scan, diag, |event, _| {
        if let Scanned::Part(_, part) = event {
            images.extend(part.images);
            secrets.extend(part.secrets);
            accounts.extend(part.service_accounts);
        }
    });
    // Without the --pull-secret files reported unreadable above.
    let mut readable = creds.clone();
    readable.pull_secrets.retain(|p| p.is_file());
    let (keychain, extra) = keychain(&readable, std::time::Duration::from_secs(30))?;
    let mut pods = PodCredentials::new(&creds.namespace, &secrets, &accounts, &extra);
    let mut rows = Vec::new();
    for image in &images {
        let (policy, warnings) =
            assess_policy(&image.reference, &image.context, &location(image), diag);
        warn_blocked(mirrors, image, diag);
        let pod = pods.of(&image.context);
        let name = image.reference.name();
        let sources = keychain.sources(&Query {
            repository: &name,
            pod: pod.as_deref(),
        });
        let (status, entry) = status_of(lock, &args.scan.filters, image, diag);
        let mut row = json_row(image, policy, status, entry, &warnings, &sources);
        if !mirrors.is_empty() {
            // The hosts a node would try, in order (with mirrors configured).
            row["pull-hosts"] = serde_json::json!(mirrors.route(&image.reference)?);
        }
        rows.push(row);
    }
    pods.report(diag);
    let mut out = std::io::BufWriter::new(crate::redact::stdout());
    let doc = json::document(vec![("references", serde_json::json!(rows))], diag);
    json::print(&mut out, &doc)?;
    out.flush()?;
    Ok(diag.exit_status(0))
}

/// A warning at an image whose registry the `registries.conf` given
/// blocks (`blocked = true`): `list` shows it; `check` makes it a finding,
/// and `lock`, `update`, `resolve` an error.
fn warn_blocked(mirrors: &Mirrors, image: &FoundImage, diag: &mut Diagnostics) {
    if let Some(b) = mirrors.blocked(&image.reference) {
        diag.emit(
            Message::warning(b.refusal(&image.reference))
                .at(location(image))
                .code("blocked"),
        );
    }
}

/// The lock status; an image its compose service builds is `built` (with
/// a note), never locked.
fn status_of<'a>(
    lock: &'a Lockfile,
    filters: &Filters,
    image: &FoundImage,
    diag: &mut Diagnostics,
) -> (LockStatus, Option<&'a Entry>) {
    if image.built() {
        diag.note(built_note(image));
        return (LockStatus::Built, None);
    }
    if filters.ignores(&image.reference) {
        return (LockStatus::Ignored, None);
    }
    lock_status(lock, &image.reference)
}

fn json_row(
    image: &FoundImage,
    policy: policy::Effective,
    status: LockStatus,
    entry: Option<&crate::lockfile::Entry>,
    warnings: &[String],
    credential_sources: &[String],
) -> serde_json::Value {
    let r = &image.reference;
    let none = crate::scan::ObjectContext::default();
    let c = image.context.kubernetes().unwrap_or(&none);
    serde_json::json!({
        "file": &*image.file,
        "line": image.line,
        "column": image.column,
        "reference": r.original(),
        "name": r.name(),
        "tag": r.tag(),
        "digest": r.digest(),
        "pull-policy": policy,
        "pull-policy-written": image.context.pull_policy(),
        "status": status,
        "locked-digest": entry.map(|e| &e.digest),
        // What signs the locked digest, as the lockfile records it.
        "signatures": entry.map_or(&[][..], |e| &e.signatures[..]),
        "kind": c.kind,
        "namespace": c.namespace,
        "object": c.name,
        "container": c.container,
        "container-list": c.list,
        "field": image.field,
        "style": image.style,
        "warnings": warnings,
        "credential-sources": credential_sources,
        "context": image.context,
    })
}

/// How a reference stands against the lockfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
enum LockStatus {
    /// Written with the digest the lockfile records.
    Pinned,
    /// In the lockfile, written without a digest: `pin` will add it.
    Locked,
    /// Written with a digest other than the lockfile's.
    Mismatch,
    /// Not in the lockfile.
    Unlocked,
    /// Built by its compose service (`build:`), not pulled: never locked.
    Built,
    /// Named by `ignore-images` in imagelock.toml: never locked or pinned.
    Ignored,
}

impl LockStatus {
    fn as_str(self) -> &'static str {
        match self {
            LockStatus::Pinned => "pinned",
            LockStatus::Locked => "locked",
            LockStatus::Mismatch => "mismatch",
            LockStatus::Unlocked => "unlocked",
            LockStatus::Built => "built",
            LockStatus::Ignored => "ignored",
        }
    }
}

fn lock_status<'a>(lock: &'a Lockfile, r: &Reference) -> (LockStatus, Option<&'a Entry>) {
    match lock.lookup(r) {
        None => (LockStatus::Unlocked, None),
        Some(e) => match r.digest() {
            None => (LockStatus::Locked, Some(e)),
            Some(d) if *d == e.digest => (LockStatus::Pinned, Some(e)),
            Some(_) => (LockStatus::Mismatch, Some(e)),
        },
    }
}
