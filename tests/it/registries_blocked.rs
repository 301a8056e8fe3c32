//! End-to-end: `blocked = true` in a `registries.conf` (or one of its
//! `registries.conf.d` drop-ins) given with `--registries-conf`. CRI-O and
//! Podman refuse pulls under a blocked prefix, so `lock`, `update` and
//! `resolve` report each such reference as an error naming the file and
//! the position of `blocked = true` (and ask no registry about it),
//! together with every other failure of the run; `check` reports a
//! `blocked` finding (with or without `--remote`); `list` warns.

use std::path::Path;
use std::process::Output;

use crate::support;
use crate::support::run::{expect_code, text, without_proxies};
use crate::support::{Registry, Setup};

fn imagelock(env_from: &Registry, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = assert_cmd::Command::cargo_bin("imagelock").unwrap();
    cmd.envs(env_from.isolated_env())
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .arg("--no-config")
        .args(args);
    without_proxies(&mut cmd);
    cmd.output().unwrap()
}

/// A registries.conf allowing the registry, and a drop-in blocking its
/// `blocked/` namespace except `blocked/allowed` (a longer prefix wins).
fn conf(dir: &Path, host: &str) {
    fs_err::create_dir_all(dir.join("containers/registries.conf.d")).unwrap();
    fs_err::write(
        dir.join("containers/registries.conf"),
        format!("[[registry]]\nprefix = \"{host}\"\nlocation = \"{host}\"\ninsecure = true\n"),
    )
    .unwrap();
    fs_err::write(
        dir.join("containers/registries.conf.d/50-block.conf"),
        format!(
            "# nothing from the blocked namespace\n[[registry]]\nprefix = \"{host}/blocked\"\nlocation = \"{host}/blocked\"\nblocked = true\n\n[[registry]]\nprefix = \"{host}/blocked/allowed\"\nlocation = \"{host}/blocked/allowed\"\n"
        ),
    )
    .unwrap();
}

fn pod(dir: &Path, images: &[String]) {
    let containers: String = images
        .iter()
        .enumerate()
        .map(|(i, img)| format!("    - name: c{i}\n      image: {img}\n"))
        .collect();
    fs_err::write(
        dir.join("pod.yaml"),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n{containers}"
        ),
    )
    .unwrap();
}

#[test]
fn a_blocked_registry_is_an_error_beside_every_other_failure() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    reg.push_oci_image("team/app", "1", "app");
    reg.push_oci_image("blocked/app", "1", "blocked");
    let allowed = reg.push_oci_image("blocked/allowed/app", "1", "allowed");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    conf(d, &h);
    pod(
        d,
        &[
            format!("{h}/team/app:1"),
            format!("{h}/blocked/app:1"),
            format!("{h}/team/gone:1"),
            format!("{h}/blocked/allowed/app:1"),
        ],
    );
    let conf_args = [
        "--registries-conf",
        "containers/registries.conf",
        "--plain-http",
        &h,
    ];
    let dropin = "containers/registries.conf.d/50-block.conf:5:11";

    // lock: the blocked reference and the missing one, both errors; the
    // lockfile is not written.
    let mut args = vec!["lock", "pod.yaml"];
    args.extend(conf_args);
    let out = imagelock(&reg, d, &args);
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "error: {h}/blocked/app:1 (registry {h}): blocked: {dropin} sets `blocked = true` for the prefix \"{h}/blocked\""
        )),
        "{stderr}"
    );
    assert!(stderr.contains("used at pod.yaml:10:14"), "{stderr}");
    assert!(
        stderr.contains("remove `blocked = true` from containers/registries.conf.d/50-block.conf"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("error: {h}/team/gone:1")),
        "{stderr}"
    );
    assert!(stderr.contains("2 failure(s) while resolving"), "{stderr}");
    assert!(!d.join("images.lock").exists());
    // Nothing was asked about the blocked repository.
    assert!(!reg.log().contains("/v2/blocked/app/"), "{}", reg.log());

    // resolve: the blocked one fails, the others print their digests.
    let b = format!("{h}/blocked/app:1");
    let a = format!("{h}/blocked/allowed/app:1");
    let mut args = vec!["resolve", b.as_str(), a.as_str()];
    args.extend(conf_args);
    let out = imagelock(&reg, d, &args);
    expect_code(&out, 2);
    assert_eq!(text(&out.stdout), format!("{a} {allowed}\n"));
    assert!(
        text(&out.stderr).contains(&format!("blocked: {dropin}")),
        "{}",
        text(&out.stderr)
    );

    // check, offline: a `blocked` finding at the use.
    pod(
        d,
        &[format!("{h}/team/app:1"), format!("{h}/blocked/app:1")],
    );
    let mut args = vec!["check", "--format", "json", "pod.yaml"];
    args.extend(conf_args);
    let out = imagelock(&reg, d, &args);
    expect_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let blocked: Vec<&serde_json::Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "blocked")
        .collect();
    assert_eq!(blocked.len(), 1, "{doc:#}");
    assert_eq!(blocked[0]["line"], 10, "{doc:#}");
    assert!(
        blocked[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{dropin} sets `blocked = true`")),
        "{doc:#}"
    );

    // list: a warning, exit 0.
    let args = [
        "list",
        "pod.yaml",
        "--registries-conf",
        "containers/registries.conf",
    ];
    let out = imagelock(&reg, d, &args);
    expect_code(&out, 0);
    assert!(
        text(&out.stderr).contains(&format!(
            "warning: pod.yaml:10:14: {h}/blocked/app:1: {dropin} sets `blocked = true`"
        )),
        "{}",
        text(&out.stderr)
    );

    // Without the blocked reference, lock succeeds under the same
    // configuration, and check --remote reports nothing.
    pod(
        d,
        &[
            format!("{h}/team/app:1"),
            format!("{h}/blocked/allowed/app:1"),
        ],
    );
    let mut args = vec!["lock", "pod.yaml"];
    args.extend(conf_args);
    expect_code(&imagelock(&reg, d, &args), 0);
    let mut args = vec!["check", "--remote", "pod.yaml"];
    args.extend(conf_args);
    expect_code(&imagelock(&reg, d, &args), 0);

    // update of a locked reference that is blocked now: an error, and the
    // lockfile is left as it was.
    let mut lock = fs_err::read_to_string(d.join("images.lock")).unwrap();
    lock.push_str(&format!(
        "\n[[image]]\nname = \"{h}/blocked/app\"\ntag = \"1\"\ndigest = \"{allowed}\"\n"
    ));
    fs_err::write(d.join("images.lock"), &lock).unwrap();
    let mut args = vec!["update", b.as_str()];
    args.extend(conf_args);
    let out = imagelock(&reg, d, &args);
    expect_code(&out, 2);
    assert!(
        text(&out.stderr).contains(&format!("error: {b} (registry {h}): blocked: {dropin}")),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fs_err::read_to_string(d.join("images.lock")).unwrap(), lock);
}

#[test]
fn check_remote_reports_a_blocked_reference_once_as_a_finding() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let digest = reg.push_oci_image("blocked/app", "1", "blocked");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    conf(d, &h);
    // The blocked table has a mirror: a node pulls from it no more than
    // from the location, so it is not checked either.
    fs_err::write(
        d.join("containers/registries.conf.d/50-block.conf"),
        format!(
            "# nothing from the blocked namespace\n[[registry]]\nprefix = \"{h}/blocked\"\nlocation = \"{h}/blocked\"\nblocked = true\n\n[[registry.mirror]]\nlocation = \"{h}/mirror\"\ninsecure = true\n"
        ),
    )
    .unwrap();
    pod(d, &[format!("{h}/blocked/app:1")]);
    fs_err::write(
        d.join("images.lock"),
        format!("version = 1\n\n[[image]]\nname = \"{h}/blocked/app\"\ntag = \"1\"\ndigest = \"{digest}\"\n"),
    )
    .unwrap();
    let out = imagelock(
        &reg,
        d,
        &[
            "check",
            "--remote",
            "pod.yaml",
            "--registries-conf",
            "containers/registries.conf",
            "--plain-http",
            &h,
        ],
    );
    expect_code(&out, 1);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(
        stdout.lines().filter(|l| l.contains(": blocked: ")).count(),
        1,
        "{stdout}\n{stderr}"
    );
    assert!(!stderr.contains("error:"), "{stderr}");
    assert!(!stdout.contains("mirror-missing"), "{stdout}");
    assert!(!reg.log().contains("/v2/blocked/app/"), "{}", reg.log());
    assert!(!reg.log().contains("/v2/mirror/"), "{}", reg.log());
}

#[test]
fn of_prefixes_of_one_length_the_first_table_decides_as_containers_image() {
    // containers/image keeps the first of the longest matching prefixes:
    // `b.example.com` and `*.example.com` are both 13 characters, so the
    // table written first decides whether b.example.com is blocked.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pod(d, &["b.example.com/x:1".to_string()]);
    let first_blocked = "[[registry]]\nprefix = \"b.example.com\"\nblocked = true\n\n[[registry]]\nprefix = \"*.example.com\"\n";
    let first_allowed = "[[registry]]\nprefix = \"*.example.com\"\n\n[[registry]]\nprefix = \"b.example.com\"\nblocked = true\n";
    for (conf, blocked) in [(first_blocked, true), (first_allowed, false)] {
        fs_err::write(d.join("registries.conf"), conf).unwrap();
        let out = support::run::imagelock(
            d,
            &[
                "--no-config",
                "list",
                "pod.yaml",
                "--registries-conf",
                "registries.conf",
            ],
        );
        expect_code(&out, 0);
        let stderr = text(&out.stderr);
        assert_eq!(
            stderr.contains("warning: pod.yaml:8:14: b.example.com/x:1: registries.conf:3:11 sets `blocked = true`"),
            blocked,
            "{conf}\n{stderr}"
        );
    }
}

#[test]
fn a_registries_conf_that_does_not_parse_names_its_line_and_column() {
    // `blocked = "true"` is no boolean: CRI-O refuses the file; the error
    // says where, as a `blocked` finding does.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pod(d, &["example.com/x:1".to_string()]);
    fs_err::write(
        d.join("registries.conf"),
        "[[registry]]\nprefix = \"example.com\"\nblocked = \"true\"\n",
    )
    .unwrap();
    let out = support::run::imagelock(
        d,
        &[
            "--no-config",
            "list",
            "pod.yaml",
            "--registries-conf",
            "registries.conf",
        ],
    );
    expect_code(&out, 2);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "error: registries.conf:3:11: invalid type: string \"true\", expected a boolean"
        ),
        "{stderr}"
    );
}

#[test]
fn lock_warns_at_a_blocked_reference_it_keeps_without_asking() {
    // Already locked (or written by digest), lock asks no registry: the
    // block was silent and lock exited 0 as if all were well.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let digest = format!("sha256:{}", "1".repeat(64));
    pod(
        d,
        &[
            "example.com/app:1".to_string(),
            format!("example.com/base@{digest}"),
        ],
    );
    fs_err::write(
        d.join("registries.conf"),
        "[[registry]]\nprefix = \"example.com\"\nblocked = true\n",
    )
    .unwrap();
    let lock = format!(
        "version = 1\n\n[[image]]\nname = \"example.com/app\"\ntag = \"1\"\ndigest = \"{digest}\"\n"
    );
    fs_err::write(d.join("images.lock"), &lock).unwrap();
    let out = support::run::imagelock(
        d,
        &[
            "--no-config",
            "lock",
            "pod.yaml",
            "--registries-conf",
            "registries.conf",
        ],
    );
    expect_code(&out, 0);
    let stderr = text(&out.stderr);
    for at in [
        "pod.yaml:8:14: example.com/app:1",
        "pod.yaml:10:14: example.com/base@",
    ] {
        assert!(
            stderr.contains(&format!("warning: {at}"))
                && stderr.contains("registries.conf:3:11 sets `blocked = true`"),
            "{at}\n{stderr}"
        );
    }
}
