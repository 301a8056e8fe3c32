//! End-to-end: where the nodes pull from. Real distribution registries: an
//! upstream, mirrors filled by pushing a subset of its images, and
//! distribution's own pull-through cache in front of the upstream; the
//! binary reads `--mirror`, containerd `hosts.toml` and `registries.conf`.

use std::path::Path;
use std::process::Output;

use crate::support;
use crate::support::e2e::deployment;
use crate::support::run::{expect_code, isolated, text};
use crate::support::{Registry, Setup};

fn json_findings(out: &Output) -> Vec<serde_json::Value> {
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(&out.stdout)));
    doc["findings"].as_array().unwrap().clone()
}

fn of_kind<'a>(findings: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    findings.iter().filter(|f| f["kind"] == kind).collect()
}

#[test]
fn digest_missing_from_mirror_names_the_upstream_fallback() {
    let up = Registry::start(Setup::PlainAnonymous);
    let mirror = Registry::start(Setup::PlainAnonymous);
    let d1 = up.push_oci_image("team/app", "1", "one");
    let d2 = up.push_oci_image("team/app", "2", "two");
    // The mirror holds a copy of tag 1 only (same content, same digest).
    assert_eq!(mirror.push_oci_image("team/app", "1", "one"), d1);
    let dir = tempfile::tempdir().unwrap();
    deployment(
        dir.path(),
        &[up.image("team/app:1"), up.image("team/app:2")],
    );
    let plain = ["--plain-http", "127.0.0.1"];
    let flag = format!("{}={}", up.host(), mirror.host());
    let mut args = vec!["lock"];
    args.extend(plain);
    expect_code(&isolated(&up, dir.path(), &args), 0);

    let mut args = vec!["check", "--remote", "--format", "json", "--mirror", &flag];
    args.extend(plain);
    let out = isolated(&up, dir.path(), &args);
    expect_code(&out, 1);
    let findings = json_findings(&out);
    let missing = of_kind(&findings, "mirror-missing");
    assert_eq!(missing.len(), 1, "{findings:#?}");
    let m = missing[0];
    assert_eq!(m["reference"], up.image("team/app:2"));
    assert_eq!(m["locked"], d2);
    assert_eq!(m["file"], "deploy.yaml");
    let message = m["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("mirror {} does not serve {d2}", mirror.host())),
        "{message}"
    );
    assert!(
        message.contains(&format!("at {}/v2/team/app", mirror.host())),
        "{message}"
    );
    assert!(
        message.contains(&format!("a node falls back to the upstream {}", up.host())),
        "{message}"
    );
    // skopeo agrees: the mirror has tag 1's digest, not tag 2's.
    assert_eq!(mirror.skopeo_digest("team/app:1"), d1);

    // The same check after `lock --check-mirrors`: a warning per missing
    // digest, exit 1, the lockfile written all the same.
    let mut args = vec!["lock", "--check-mirrors", "--mirror", &flag];
    args.extend(plain);
    let out = isolated(&up, dir.path(), &args);
    expect_code(&out, 1);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("mirror-missing"), "{stderr}");
    assert!(stderr.contains(&d2), "{stderr}");
    assert!(
        !stderr.contains(&format!("does not serve {d1}")),
        "{stderr}"
    );

    // The same mirror from imagelock.toml, under the flag's name.
    fs_err::write(
        dir.path().join("imagelock.toml"),
        format!("mirrors = [\"{flag}\"]\nplain-http = [\"127.0.0.1\"]\n"),
    )
    .unwrap();
    let out = isolated(&up, dir.path(), &["check", "--remote"]);
    expect_code(&out, 1);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("mirror-missing: "), "{stdout}");
    assert!(stdout.contains(&d2), "{stdout}");
}

#[test]
fn pull_through_cache_serves_every_locked_digest() {
    let up = Registry::start(Setup::PlainAnonymous);
    let cache = Registry::start_pull_through(&up);
    let d1 = up.push_oci_image("team/app", "1", "one");
    let dir = tempfile::tempdir().unwrap();
    deployment(dir.path(), &[up.image("team/app:1")]);
    expect_code(
        &isolated(&up, dir.path(), &["lock", "--plain-http", "127.0.0.1"]),
        0,
    );
    let flag = format!("{}=http://{}", up.host(), cache.host());
    let out = isolated(
        &up,
        dir.path(),
        &[
            "check",
            "--remote",
            "--compare-tags",
            "--mirror",
            &flag,
            "--plain-http",
            &up.host(),
        ],
    );
    expect_code(&out, 0);
    // The cache fetched it from upstream on our HEAD and serves it now.
    assert_eq!(cache.skopeo_digest("team/app:1"), d1);
}

#[test]
fn tag_moved_upstream_but_not_at_the_mirror_is_mirror_stale() {
    let up = Registry::start(Setup::PlainAnonymous);
    let mirror = Registry::start(Setup::PlainAnonymous);
    let old = up.push_oci_image("team/app", "1", "old");
    mirror.push_oci_image("team/app", "1", "old");
    let dir = tempfile::tempdir().unwrap();
    deployment(dir.path(), &[up.image("team/app:1")]);
    expect_code(
        &isolated(&up, dir.path(), &["lock", "--plain-http", "127.0.0.1"]),
        0,
    );
    let new = up.push_oci_image("team/app", "1", "new");
    let flag = format!("{}={}/", up.host(), mirror.host());
    let args = [
        "check",
        "--remote",
        "--compare-tags",
        "--format",
        "json",
        "--mirror",
        &flag,
        "--plain-http",
        "127.0.0.1",
    ];
    let out = isolated(&up, dir.path(), &args);
    expect_code(&out, 1);
    let findings = json_findings(&out);
    let stale = of_kind(&findings, "mirror-stale");
    assert_eq!(stale.len(), 1, "{findings:#?}");
    assert_eq!(stale[0]["locked"], new, "upstream's digest");
    assert_eq!(stale[0]["actual"], old, "the mirror's digest");
    let message = stale[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("resolves tag 1 to {old}")),
        "{message}"
    );
    assert!(
        message.contains(&format!("the upstream to {new}")),
        "{message}"
    );
    assert_eq!(of_kind(&findings, "drift").len(), 1);
    // The mirror still serves the locked (old) digest: not missing.
    assert!(of_kind(&findings, "mirror-missing").is_empty());
    // Every other printer names the kind too.
    for (format, shown) in [
        ("text", "mirror-stale: "),
        ("github", "mirror-stale"),
        ("markdown", "mirror-stale"),
    ] {
        let mut with_format = args.to_vec();
        with_format[4] = format;
        let out = isolated(&up, dir.path(), &with_format);
        expect_code(&out, 1);
        let stdout = text(&out.stdout);
        assert!(stdout.contains(shown), "{format}: {stdout}");
        assert!(stdout.contains(&old), "{format}: {stdout}");
    }
}

#[test]
fn containerd_hosts_toml_two_hosts_with_override_path() {
    let up = Registry::start(Setup::PlainAnonymous);
    let first = Registry::start(Setup::PlainAnonymous);
    let second = Registry::start(Setup::PlainAnonymous);
    let d1 = up.push_oci_image("team/app", "1", "one");
    let d2 = up.push_oci_image("team/app", "2", "two");
    // The first mirror serves repositories under `hub/` (override_path
    // with `/v2/hub`) and holds tag 1 only; the second holds both.
    first.push_oci_image("hub/team/app", "1", "one");
    second.push_oci_image("team/app", "1", "one");
    second.push_oci_image("team/app", "2", "two");
    let dir = tempfile::tempdir().unwrap();
    deployment(
        dir.path(),
        &[up.image("team/app:1"), up.image("team/app:2")],
    );
    let certs = dir.path().join("certs.d");
    let host_dir = certs.join(up.host());
    fs_err::create_dir_all(&host_dir).unwrap();
    fs_err::write(
        host_dir.join("hosts.toml"),
        format!(
            "server = \"http://{up}\"\n\n[host.\"http://{first}/v2/hub\"]\n  capabilities = [\"pull\"]\n  override_path = true\n\n[host.\"http://{second}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            up = up.host(),
            first = first.host(),
            second = second.host()
        ),
    )
    .unwrap();
    expect_code(
        &isolated(&up, dir.path(), &["lock", "--plain-http", "127.0.0.1"]),
        0,
    );
    let args = [
        "check",
        "--remote",
        "--format",
        "json",
        "--containerd-hosts-dir",
        "certs.d",
        "--plain-http",
        &up.host(),
    ];
    let out = isolated(&up, dir.path(), &args);
    expect_code(&out, 1);
    let findings = json_findings(&out);
    let missing = of_kind(&findings, "mirror-missing");
    assert_eq!(missing.len(), 1, "{findings:#?}");
    let message = missing[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "mirror {} does not serve {d2} at {}/v2/hub/team/app",
            first.host(),
            first.host()
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("a node falls back to mirror {}", second.host())),
        "{message}"
    );
    assert!(!message.contains(&d1));

    // `list --format json` shows the hosts a node tries, in order.
    let out = isolated(
        &up,
        dir.path(),
        &[
            "list",
            "--format",
            "json",
            "--containerd-hosts-dir",
            "certs.d",
        ],
    );
    expect_code(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hosts = doc["references"][0]["pull-hosts"].as_array().unwrap();
    let seen: Vec<(String, String, bool, bool)> = hosts
        .iter()
        .map(|h| {
            (
                h["host"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    h["root"].as_str().unwrap(),
                    h["path"].as_str().unwrap()
                ),
                h["by-tag"].as_bool().unwrap(),
                h["upstream"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (first.host(), "/v2/hub/team/app".to_string(), false, false),
            (second.host(), "/v2/team/app".to_string(), true, false),
            (up.host(), "/v2/team/app".to_string(), true, true),
        ]
    );
}

#[test]
fn registries_conf_prefix_remapping_and_digest_only() {
    let up = Registry::start(Setup::PlainAnonymous);
    let mirror = Registry::start(Setup::PlainAnonymous);
    up.push_oci_image("team/app", "1", "one");
    let d2 = up.push_oci_image("team/app", "2", "two");
    // Under another path at the mirror; its tag 2 points elsewhere, which
    // a digest-only mirror never serves to a node: not stale.
    mirror.push_oci_image("copies/team/app", "1", "one");
    mirror.push_oci_image("copies/team/app", "2", "elsewhere");
    let dir = tempfile::tempdir().unwrap();
    deployment(
        dir.path(),
        &[up.image("team/app:1"), up.image("team/app:2")],
    );
    fs_err::write(
        dir.path().join("registries.conf"),
        format!(
            "[[registry]]\nprefix = \"{up}/team\"\nlocation = \"{up}/team\"\n\n[[registry.mirror]]\nlocation = \"{m}/copies/team\"\ninsecure = true\npull-from-mirror = \"digest-only\"\n",
            up = up.host(),
            m = mirror.host()
        ),
    )
    .unwrap();
    expect_code(
        &isolated(&up, dir.path(), &["lock", "--plain-http", &up.host()]),
        0,
    );
    let args = [
        "check",
        "--remote",
        "--compare-tags",
        "--format",
        "json",
        "--registries-conf",
        "registries.conf",
        "--plain-http",
        &up.host(),
    ];
    let out = isolated(&up, dir.path(), &args);
    expect_code(&out, 1);
    let findings = json_findings(&out);
    assert!(
        of_kind(&findings, "mirror-stale").is_empty(),
        "{findings:#?}"
    );
    let missing = of_kind(&findings, "mirror-missing");
    assert_eq!(missing.len(), 1, "{findings:#?}");
    let message = missing[0]["message"].as_str().unwrap();
    // `insecure` and no --plain-http for it: HTTPS failed, plain HTTP answered.
    assert!(
        message.contains(&format!(
            "does not serve {d2} at {}/v2/copies/team/app",
            mirror.host()
        )),
        "{message}"
    );
    assert!(
        message.contains("a node falls back to the upstream"),
        "{message}"
    );
}

#[test]
fn mirror_with_its_own_credentials_and_ca() {
    let up = Registry::start(Setup::PlainAnonymous);
    // HTTPS with its own test CA and htpasswd; its docker config holds
    // the mirror's credentials, under the mirror's own host name.
    let mirror = Registry::start(Setup::TlsBasic);
    let d1 = up.push_oci_image("team/app", "1", "one");
    mirror.push_oci_image("team/app", "1", "one");
    let dir = tempfile::tempdir().unwrap();
    deployment(dir.path(), &[up.image("team/app:1")]);
    let host_dir = dir.path().join("certs.d").join(up.host());
    fs_err::create_dir_all(&host_dir).unwrap();
    fs_err::copy(
        mirror.ca_file.as_ref().unwrap(),
        host_dir.join("mirror-ca.pem"),
    )
    .unwrap();
    fs_err::write(
        host_dir.join("hosts.toml"),
        format!(
            "server = \"http://{}\"\n[host.\"https://{}\"]\n  ca = \"mirror-ca.pem\"\n",
            up.host(),
            mirror.host()
        ),
    )
    .unwrap();
    expect_code(
        &isolated(&up, dir.path(), &["lock", "--plain-http", &up.host()]),
        0,
    );
    let args = [
        "check",
        "--remote",
        "--compare-tags",
        "--containerd-hosts-dir",
        "certs.d",
        "--plain-http",
        &up.host(),
    ];
    let out = isolated(&mirror, dir.path(), &args);
    expect_code(&out, 0);
    assert_eq!(mirror.skopeo_digest("team/app:1"), d1);

    // Without the mirror's credentials it cannot be asked: an error naming it.
    let out = isolated(&up, dir.path(), &args);
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot ask mirror {}", mirror.host())),
        "{stderr}"
    );
    assert!(stderr.contains(&mirror.host()), "{stderr}");
    assert!(!stderr.contains(support::PASSWORD), "{stderr}");

    // Without its CA in hosts.toml the TLS check fails.
    fs_err::write(
        host_dir.join("hosts.toml"),
        format!(
            "server = \"http://{}\"\n[host.\"https://{}\"]\n",
            up.host(),
            mirror.host()
        ),
    )
    .unwrap();
    let out = isolated(&mirror, dir.path(), &args);
    expect_code(&out, 2);
    assert!(
        text(&out.stderr).to_lowercase().contains("tls"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn resolve_at_mirror_with_the_upstream_unreachable() {
    let mirror = Registry::start(Setup::PlainAnonymous);
    let digest = mirror.push_oci_image("dockerhub/team/app", "1", "one");
    // Nothing listens on the upstream's port (held, so no other test's
    // server takes it).
    let dead = support::ClosedPort::new();
    let upstream = dead.host();
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{upstream}/team/app:1");
    deployment(dir.path(), std::slice::from_ref(&image));
    let flag = format!("{upstream}=http://{}/dockerhub", mirror.host());

    // At upstream (the default) it cannot resolve.
    let out = isolated(
        &mirror,
        dir.path(),
        &[
            "lock",
            "--mirror",
            &flag,
            "--plain-http",
            &upstream,
            "--timeout",
            "5",
        ],
    );
    expect_code(&out, 2);
    assert!(!dir.path().join("images.lock").exists());

    let out = isolated(
        &mirror,
        dir.path(),
        &[
            "lock",
            "--resolve-at",
            "mirror",
            "--mirror",
            &flag,
            "--plain-http",
            &upstream,
        ],
    );
    expect_code(&out, 0);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("resolved at the first mirror"), "{stderr}");
    assert!(
        stderr.contains("1 added, 0 changed, 0 kept, 0 removed, 0 stale, tags resolved at mirrors"),
        "{stderr}"
    );
    // The lockfile names the upstream image, with the mirror's digest.
    assert_eq!(support::e2e::locked(dir.path(), &image), digest);
    let lock = fs_err::read_to_string(dir.path().join("images.lock")).unwrap();
    assert!(lock.contains(&format!("{upstream}/team/app")), "{lock}");
    assert!(!lock.contains("dockerhub"), "{lock}");

    // `resolve` too: the upstream name, the mirror's digest.
    let out = isolated(
        &mirror,
        dir.path(),
        &[
            "resolve",
            "--resolve-at",
            "mirror",
            "--mirror",
            &flag,
            &image,
        ],
    );
    expect_code(&out, 0);
    assert_eq!(text(&out.stdout).trim(), format!("{image} {digest}"));
}

/// The README's containerd and CRI-O examples (`testdata/mirrors`), as
/// `list --format json` shows them: no registry is asked.
#[test]
fn readme_examples_list_the_hosts_a_node_tries() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/mirrors");
    let list = |extra: &[&str]| -> Vec<Vec<String>> {
        let mut args = vec!["--no-config", "list", "--format", "json", "deploy.yaml"];
        args.extend(extra);
        let out = support::run::imagelock(&data, &args);
        expect_code(&out, 0);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["references"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["pull-hosts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        let caps = match (h["by-digest"].as_bool(), h["by-tag"].as_bool()) {
                            (Some(true), Some(true)) => "digests+tags",
                            (Some(true), _) => "digests",
                            (_, Some(true)) => "tags",
                            _ => "none",
                        };
                        format!(
                            "{}://{}{}/{} {caps}",
                            h["scheme"].as_str().unwrap(),
                            h["host"].as_str().unwrap(),
                            h["root"].as_str().unwrap(),
                            h["path"].as_str().unwrap()
                        )
                    })
                    .collect()
            })
            .collect()
    };
    let containerd = list(&["--containerd-hosts-dir", "certs.d"]);
    assert_eq!(
        containerd[0],
        vec![
            "https://harbor.internal.example/v2/dockerhub-proxy/library/nginx digests+tags",
            "https://mirror.gcr.io/v2/library/nginx digests",
            "https://docker.io/v2/library/nginx digests+tags",
        ]
    );
    // No directory for ghcr.io or quay.io: the registry itself.
    assert_eq!(
        containerd[1],
        vec!["https://ghcr.io/v2/acme/api digests+tags"]
    );

    let crio = list(&["--registries-conf", "containers/registries.conf"]);
    assert_eq!(
        crio[0],
        vec![
            "https://registry.internal.example/v2/dockerhub/library/nginx digests",
            "https://docker.io/v2/library/nginx digests+tags",
        ]
    );
    assert_eq!(
        crio[1],
        vec!["https://registry.internal.example/v2/acme/api digests+tags"]
    );
    // From the drop-in in containers/registries.conf.d.
    assert_eq!(
        crio[2],
        vec![
            "https://registry.internal.example/v2/quay/prometheus/node-exporter digests+tags",
            "https://quay.io/v2/prometheus/node-exporter digests+tags",
        ]
    );
}
