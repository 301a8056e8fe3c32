//! End-to-end: `lock`, `pin`, `check --remote` and `update` driven through
//! the real binary against the real CNCF distribution registry, with every
//! recorded digest cross-checked against skopeo.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

use crate::support;
use crate::support::{Registry, Setup, PASSWORD};

/// imagelock with this registry's credentials and TLS/plain-HTTP flags,
/// checking that no output of any run holds the password.
fn run(reg: &Registry, dir: &Path, args: &[&str]) -> Output {
    let o = support::e2e::run(reg, dir, args);
    // Nothing secret ever reaches any output of any run.
    assert!(
        !out(&o).contains(PASSWORD) && !err(&o).contains(PASSWORD),
        "the password leaked: {}{}",
        out(&o),
        err(&o)
    );
    o
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert the exit code, showing both streams when it is wrong.
fn expect_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        out(o),
        err(o)
    );
}

fn lock_digest(dir: &Path, name: &str, tag: &str) -> String {
    let lock = imagelock::lockfile::Lockfile::load(&dir.join("images.lock")).unwrap();
    let r = imagelock::reference::Reference::parse(&format!("{name}:{tag}")).unwrap();
    lock.lookup(&r)
        .unwrap_or_else(|| panic!("{name}:{tag} not locked"))
        .digest
        .to_string()
}

/// The whole workflow on one registry setup.
fn lock_pin_drift_update(setup: Setup, prefix: &str) {
    let reg = Registry::start(setup);
    let web = reg.push_oci_image(&format!("{prefix}/web"), "1.0", "a");
    let api = reg.push_docker_schema2(&format!("{prefix}/api"), "2", "a");
    let multi = reg.push_oci_index(&format!("{prefix}/multi"), "1", "a");
    let list = reg.push_docker_manifest_list(&format!("{prefix}/list"), "1", "a");
    let h = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::create_dir_all(d.join("k8s")).unwrap();
    let manifest = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: shop}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {h}/{prefix}/web:1.0 # storefront\n        - name: api\n          image: \"{h}/{prefix}/api:2\"\n      initContainers:\n        - name: multi\n          image: '{h}/{prefix}/multi:1'\n        - name: list\n          image: {h}/{prefix}/list:1\n        - name: by-digest\n          image: {h}/{prefix}/web@{web}\n"
    );
    fs_err::write(d.join("k8s/app.yaml"), &manifest).unwrap();

    let o = run(&reg, d, &["lock", "k8s"]);
    expect_code(&o, 0);
    assert!(
        err(&o).contains("5 added, 0 changed, 0 kept, 0 removed, 0 stale"),
        "{}",
        err(&o)
    );
    for (repo, expected) in [
        ("web", &web),
        ("api", &api),
        ("multi", &multi.digest),
        ("list", &list.digest),
    ] {
        let tag = match repo {
            "web" => "1.0",
            "api" => "2",
            _ => "1",
        };
        let locked = lock_digest(d, &format!("{h}/{prefix}/{repo}"), tag);
        assert_eq!(&locked, expected, "{repo}");
        assert_eq!(
            locked,
            reg.skopeo_digest(&format!("{prefix}/{repo}:{tag}")),
            "{repo} vs skopeo"
        );
    }
    let lockfile = fs_err::read_to_string(d.join("images.lock")).unwrap();
    assert!(!lockfile.contains(PASSWORD));
    assert!(
        lockfile
            .contains("media-type = \"application/vnd.docker.distribution.manifest.list.v2+json\""),
        "{lockfile}"
    );

    // Locked references cost no request: lock works with the registry gone
    // from the flags entirely (a bogus --plain-http is never contacted).
    let o = Command::cargo_bin("imagelock")
        .unwrap()
        .current_dir(d)
        .args(["lock", "k8s"])
        .output()
        .unwrap();
    expect_code(&o, 0);
    assert!(
        err(&o).contains("0 added, 0 changed, 5 kept"),
        "{}",
        err(&o)
    );

    let o = run(&reg, d, &["pin", "k8s"]);
    expect_code(&o, 0);
    let pinned = fs_err::read_to_string(d.join("k8s/app.yaml")).unwrap();
    assert!(
        pinned.contains(&format!("image: {h}/{prefix}/web:1.0@{web} # storefront")),
        "{pinned}"
    );
    assert!(
        pinned.contains(&format!("image: '{h}/{prefix}/multi:1@{}'", multi.digest)),
        "{pinned}"
    );
    let o = run(&reg, d, &["check", "--remote", "--require-pinned", "k8s"]);
    expect_code(&o, 0);

    // The tag moves: check --remote reports drift with both digests and the line.
    let moved = reg.push_oci_image(&format!("{prefix}/web"), "1.0", "b");
    assert_ne!(moved, web);
    let o = run(&reg, d, &["check", "--remote", "k8s"]);
    expect_code(&o, 1);
    let report = out(&o);
    assert!(report.contains("k8s/app.yaml:9:18: drift"), "{report}");
    assert!(report.contains(&web) && report.contains(&moved), "{report}");
    let o = run(&reg, d, &["check", "--remote", "--format", "github", "k8s"]);
    assert!(
        out(&o).contains("::error file=k8s/app.yaml,line=9,col=18,title=imagelock::drift: "),
        "{}",
        out(&o)
    );

    // update records the new digest and says old -> new; pin follows.
    let o = run(&reg, d, &["update", "--format", "markdown"]);
    expect_code(&o, 0);
    assert!(
        out(&o).contains(&format!(
            "| `{h}/{prefix}/web` | `1.0` | `{}` | `{}` |",
            &web[..19],
            &moved[..19]
        )),
        "{}",
        out(&o)
    );
    assert_eq!(out(&o).lines().count(), 3, "only web moved: {}", out(&o));
    assert_eq!(
        lock_digest(d, &format!("{h}/{prefix}/web"), "1.0"),
        reg.skopeo_digest(&format!("{prefix}/web:1.0"))
    );
    let o = run(&reg, d, &["pin", "k8s"]);
    expect_code(&o, 0);
    let o = run(&reg, d, &["check", "--remote", "k8s"]);
    expect_code(&o, 0);
    let pinned = fs_err::read_to_string(d.join("k8s/app.yaml")).unwrap();
    assert!(
        pinned.contains(&format!("web:1.0@{moved} # storefront")),
        "{pinned}"
    );
    // The digest-only reference was left alone.
    assert!(
        pinned.contains(&format!("image: {h}/{prefix}/web@{web}\n")),
        "{pinned}"
    );
}

#[test]
fn workflow_plain_http_anonymous() {
    lock_pin_drift_update(Setup::PlainAnonymous, "team");
}

#[test]
fn workflow_tls_basic_auth() {
    lock_pin_drift_update(Setup::TlsBasic, "team");
}

#[test]
fn workflow_token_auth() {
    lock_pin_drift_update(Setup::Token, "team");
}

#[test]
fn bump_workflow_edit_tag_then_lock_then_pin() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let d125 = reg.push_oci_image("lib/nginx", "1.25", "old");
    let d126 = reg.push_oci_image("lib/nginx", "1.26", "new");
    let h = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = d.join("app.yaml");
    fs_err::write(&path, format!("image: {h}/lib/nginx:1.25\n")).unwrap();
    assert_eq!(run(&reg, d, &["lock", "app.yaml"]).status.code(), Some(0));
    assert_eq!(run(&reg, d, &["pin", "app.yaml"]).status.code(), Some(0));
    assert_eq!(
        fs_err::read_to_string(&path).unwrap(),
        format!("image: {h}/lib/nginx:1.25@{d125}\n")
    );

    // Someone bumps the tag but keeps the old digest.
    fs_err::write(&path, format!("image: {h}/lib/nginx:1.26@{d125}\n")).unwrap();
    let o = run(&reg, d, &["lock", "app.yaml"]);
    expect_code(&o, 0);
    assert!(
        err(&o).contains("1 added, 0 changed, 0 kept, 1 removed, 1 stale"),
        "{}",
        err(&o)
    );
    assert!(
        err(&o).contains("app.yaml:1:8:") && err(&o).contains("stale digest"),
        "{}",
        err(&o)
    );
    let o = run(&reg, d, &["pin", "app.yaml"]);
    expect_code(&o, 0);
    assert_eq!(
        fs_err::read_to_string(&path).unwrap(),
        format!("image: {h}/lib/nginx:1.26@{d126}\n")
    );
}

#[test]
fn failures_are_all_reported_and_the_lockfile_is_left_as_it_was() {
    let reg = Registry::start(Setup::Token);
    reg.push_oci_image("team/ok", "1", "a");
    let h = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(
        d.join("a.yaml"),
        format!("containers:\n  - image: {h}/team/ok:1\n  - image: {h}/team/missing:9\n  - image: {h}/forbidden/secret:1\n"),
    )
    .unwrap();
    let before = "# images.lock: written by imagelock. Change it with `imagelock lock` or `imagelock update`.\nversion = 1\n";
    fs_err::write(d.join("images.lock"), before).unwrap();
    let o = run(&reg, d, &["lock", "a.yaml"]);
    expect_code(&o, 2);
    let e = err(&o);
    assert!(
        e.contains(&format!("{h}/team/missing:9")) && e.contains("used at a.yaml:3:12"),
        "{e}"
    );
    assert!(
        e.contains(&format!("{h}/forbidden/secret:1")) && e.contains("used at a.yaml:4:12"),
        "{e}"
    );
    assert!(e.contains(&format!("(registry {h})")), "{e}");
    assert!(e.contains("left unchanged"), "{e}");
    assert!(!e.contains(PASSWORD) && !out(&o).contains(PASSWORD));
    assert_eq!(
        fs_err::read_to_string(d.join("images.lock")).unwrap(),
        before
    );
}

#[test]
fn lock_with_platforms_records_child_digests() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let pushed = reg.push_oci_index("team/multi", "1", "p");
    let h = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(d.join("a.yaml"), format!("image: {h}/team/multi:1\n")).unwrap();
    let o = run(
        &reg,
        d,
        &[
            "lock",
            "--platform",
            "linux/amd64",
            "--platform",
            "linux/arm64/v8",
            "a.yaml",
        ],
    );
    expect_code(&o, 0);
    let lock = fs_err::read_to_string(d.join("images.lock")).unwrap();
    let expected = format!(
        "platforms = {{ \"linux/amd64\" = \"{}\", \"linux/arm64/v8\" = \"{}\" }}",
        pushed.children["linux/amd64"], pushed.children["linux/arm64/v8"]
    );
    assert!(lock.contains(&expected), "{lock}");
    // Entries keep their platforms on update.
    let o = run(&reg, d, &["update"]);
    expect_code(&o, 0);
    assert_eq!(fs_err::read_to_string(d.join("images.lock")).unwrap(), lock);
}

/// Changing an entry's platform set is a change: `lock` counts it as
/// changed (not kept) and names it, `update` lists it in text and in JSON.
#[test]
fn a_changed_platform_set_is_reported_as_a_change() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let pushed = reg.push_oci_index("team/plat", "1", "p");
    let h = reg.host();
    let name = format!("{h}/team/plat");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(d.join("a.yaml"), format!("image: {name}:1\n")).unwrap();
    let o = run(&reg, d, &["lock", "--platform", "linux/amd64", "a.yaml"]);
    expect_code(&o, 0);
    assert!(
        err(&o).contains("1 added, 0 changed, 0 kept"),
        "{}",
        err(&o)
    );

    // Another platform asked: the entry is read again and rewritten.
    let o = run(&reg, d, &["lock", "--platform", "linux/arm64/v8", "a.yaml"]);
    expect_code(&o, 0);
    assert!(
        err(&o).contains(&format!(
            "images.lock: {name}:1: platforms linux/amd64 -> linux/arm64/v8"
        )),
        "{}",
        err(&o)
    );
    assert!(
        err(&o).contains("0 added, 1 changed, 0 kept"),
        "{}",
        err(&o)
    );
    let lock = fs_err::read_to_string(d.join("images.lock")).unwrap();
    assert!(
        lock.contains(&format!(
            "platforms = {{ \"linux/arm64/v8\" = \"{}\" }}",
            pushed.children["linux/arm64/v8"]
        )),
        "{lock}"
    );
    // Nothing new asked: kept.
    let o = run(&reg, d, &["lock", "a.yaml"]);
    assert!(
        err(&o).contains("0 added, 0 changed, 1 kept"),
        "{}",
        err(&o)
    );

    // update --platform changes the set: one change, digest unchanged.
    let o = run(
        &reg,
        d,
        &[
            "update",
            "--format",
            "json",
            "--platform",
            "linux/amd64",
            "--platform",
            "linux/arm64/v8",
        ],
    );
    expect_code(&o, 0);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        doc["changes"],
        serde_json::json!([{
            "name": name,
            "tag": "1",
            "old": pushed.digest,
            "new": pushed.digest,
            "old-platforms": ["linux/arm64/v8"],
            "new-platforms": ["linux/amd64", "linux/arm64/v8"],
        }]),
        "{doc}"
    );
    assert!(err(&o).contains("1 tag(s) asked, 1 changed"), "{}", err(&o));
    // Asked again: nothing changes, nothing listed.
    let o = run(&reg, d, &["update"]);
    expect_code(&o, 0);
    assert_eq!(out(&o), "");
    assert!(err(&o).contains("1 tag(s) asked, 0 changed"), "{}", err(&o));
}

/// A platform the lockfile records that the image no longer has: `update`
/// says the platform came from the lockfile and gives the command that
/// records the platforms left; that command works and says what changed.
#[test]
fn a_recorded_platform_gone_upstream_names_the_lockfile_and_the_way_out() {
    let reg = Registry::start(Setup::PlainAnonymous);
    reg.push_oci_index("team/gone", "1", "g");
    let h = reg.host();
    let name = format!("{h}/team/gone");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs_err::write(d.join("a.yaml"), format!("image: {name}:1\n")).unwrap();
    let o = run(
        &reg,
        d,
        &[
            "lock",
            "--platform",
            "linux/amd64",
            "--platform",
            "linux/arm64/v8",
            "a.yaml",
        ],
    );
    expect_code(&o, 0);
    let before = fs_err::read_to_string(d.join("images.lock")).unwrap();
    // The tag now holds a single-platform linux/amd64 image.
    let single = reg.push_oci_image("team/gone", "1", "single");
    let o = run(&reg, d, &["update"]);
    expect_code(&o, 2);
    let e = err(&o);
    assert!(
        e.contains("no manifest for platform linux/arm64/v8")
            && e.contains(&format!(
                "(platform linux/arm64/v8 is recorded for {name}:1 in images.lock, and `update` asks for the platforms an entry records)"
            )),
        "{e}"
    );
    let fix = format!("imagelock update --platform linux/amd64 {name}:1");
    assert!(
        e.contains(&format!(
            "record the platforms it still has: `{fix}` (this replaces the entry's platform set in images.lock)"
        )),
        "{e}"
    );
    assert_eq!(
        fs_err::read_to_string(d.join("images.lock")).unwrap(),
        before
    );
    // The hint's command, as given.
    let args: Vec<&str> = fix.split(' ').skip(1).collect();
    let o = run(&reg, d, &args);
    expect_code(&o, 0);
    let text = out(&o);
    assert!(text.contains(&format!("{name}:1  sha256:")), "{text}");
    assert!(text.contains(&format!("-> {single}")), "{text}");
    assert!(
        text.contains(&format!(
            "{name}:1  platforms linux/amd64, linux/arm64/v8 -> linux/amd64"
        )),
        "{text}"
    );
    assert_eq!(lock_digest(d, &name, "1"), single);
}
