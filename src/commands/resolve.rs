//! `imagelock resolve REF...`: print each reference's current digest (or a
//! platform's manifest digest with `--platform`), like `crane digest`.

use std::io::Write;

use crate::choices::ResolveFormat;
use crate::pipeline::mirror_checks::{digests_at_mirrors, unless_blocked};
use crate::pipeline::options::{check_registry_options, parse_platforms};
use crate::pipeline::remote::{load_mirrors, registry_client, registry_error, Remote};
use crate::reference::Reference;
use crate::report::{json, Diagnostics, Message};
use crate::settings::ResolveSettings;

pub fn run(args: &ResolveSettings, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    let options_ok = check_registry_options(&args.registry, args.platform.as_slice(), diag);
    let platforms = parse_platforms(args.platform.as_slice()).unwrap_or_default();
    let mut refs = Vec::new();
    for s in &args.references {
        match Reference::parse(s) {
            Ok(r) => refs.push(r),
            Err(e) => diag.error(e, None),
        }
    }
    if !options_ok {
        // Nothing is asked with an option that cannot work.
        if args.format == ResolveFormat::Json {
            let doc = json::document(
                vec![
                    ("resolved", serde_json::json!([])),
                    ("registries", serde_json::json!([])),
                ],
                diag,
            );
            json::print(&mut std::io::stdout().lock(), &doc)?;
        }
        return Ok(diag.exit_status(0));
    }
    // The client first, then the mirrors: a failure of each is said in
    // that order.
    let (client, pull_secrets) = registry_client(&args.registry, diag)?;
    let mirrors = load_mirrors(&args.registry.mirrors)?;
    let remote = Remote::new(&args.registry, client, pull_secrets, &mirrors)?;
    let at = remote.tag_source(diag)?;
    let requests = crate::registry::Request::without_pod(&refs);
    let results = unless_blocked(&mirrors, &requests, |open| match at {
        Some(m) => digests_at_mirrors(&remote, m, open, &platforms),
        None => remote.digests_for(open, &platforms),
    })?;
    remote.report_credential_warnings(diag);
    let mut out = std::io::BufWriter::new(crate::redact::stdout());
    let mut rows = Vec::new();
    for (r, result) in refs.iter().zip(results) {
        match result {
            Err(e) => diag.emit(registry_error(&e, &[])),
            Ok(resolved) => {
                // `name:tag@digest`: the tag is resolved; a digest written
                // beside it that the tag no longer has is said, not
                // silently replaced.
                if let (Some(tag), Some(written)) = (r.tag(), r.digest()) {
                    if *written != resolved.digest {
                        diag.emit(
                            Message::error(format!(
                                "{r}: the tag {tag} points at {} in the registry, not at the digest written ({written}); a pull by this reference gets {written}",
                                resolved.digest
                            ))
                            .code("stale")
                            .hint(Some(format!(
                                "write the tag's digest (`imagelock lock` then `imagelock pin` do), or resolve {}:{tag} alone",
                                r.name()
                            ))),
                        );
                        continue;
                    }
                }
                let platform = platforms.first().map(ToString::to_string);
                let digest = match &platform {
                    Some(p) => match resolved.platforms.get(p) {
                        Some(d) => d.clone(),
                        None => {
                            diag.error(format!("{r}: no manifest for platform {p}"), None);
                            continue;
                        }
                    },
                    None => resolved.digest.clone(),
                };
                match args.format {
                    ResolveFormat::Text => writeln!(out, "{r} {digest}")?,
                    ResolveFormat::Json => rows.push(serde_json::json!({
                        "reference": r.original(),
                        "name": r.name(),
                        "tag": r.effective_tag(),
                        "digest": digest,
                        "index-digest": resolved.digest,
                        "media-type": resolved.media_type,
                        "platform": platform,
                    })),
                }
            }
        }
    }
    let registries = remote.report_budget(diag);
    if args.format == ResolveFormat::Json {
        let doc = json::document(
            vec![
                ("resolved", serde_json::json!(rows)),
                ("registries", serde_json::json!(registries)),
            ],
            diag,
        );
        json::print(&mut out, &doc)?;
    }
    out.flush()?;
    Ok(diag.exit_status(0))
}
