//! Compose variable interpolation through the real binary: `image:` values
//! with `$VAR`/`${VAR…}` read from the project's `.env` and the file's
//! defaults (the environment only with `--compose-env`), listed with the
//! variables that built them, locked, checked and pinned where the
//! reference ends (literal tail, default, `.env` line); refusals change no
//! file; and `podman-compose config` as an independent oracle of what each
//! fixture's images interpolate to.

use std::path::Path;
use std::process::Command;

use crate::support::e2e::{assert_locked, run};
use crate::support::run::{bin, expect_code, imagelock, text};
use crate::support::{Registry, Setup};

/// Fixtures written from the specification's rules: (compose file, .env).
const FIXTURES: &[(&str, &str, &str)] = &[
    (
        "defaults",
        "services:\n  a:\n    image: \"${REPO:-ghcr.io/acme}/app:${TAG:-1.0}\"\n  b:\n    image: ${EMPTY-registry.example/b}b:2\n  c:\n    image: ${NOPE:-${ALSO_NOPE:-nested}}:3\n  d:\n    image: app:${SET:+alt}1\n  j:\n    image: ${EMPTY:-fallback}:1\n  plain:\n    image: redis:7\n",
        "EMPTY=\nSET=yes\n",
    ),
    (
        "dotenv",
        "services:\n  e:\n    image: $BARE\n  f:\n    image: app:${QUOTED}\n  g:\n    image: 'app:${SINGLE}'\n  h:\n    image: app:${EXPORTED}\n  i:\n    image: app:${COMMENTED}\n  k:\n    image: app:${DERIVED}.1\n  l:\n    image: app:${OVERRIDDEN-no}\n",
        "# comment\nBARE=busybox:1.36\nQUOTED=\"1.2\"\nSINGLE='2.0'\nexport EXPORTED=3.1\nCOMMENTED=4.0 # the tag\nSET=yes\nDERIVED=${SET}-x\nOVERRIDDEN=old\nOVERRIDDEN=5\n",
    ),
    (
        // Unset with no default: compose substitutes an empty string.
        "unset",
        "services:\n  a:\n    image: ${DOCKER_REGISTRY}confluentinc/cp-server:${TAG:-7.6}\n  b:\n    image: nginx${SUFFIX}\n",
        "",
    ),
];

fn setup(dir: &Path, compose: &str, dotenv: &str) {
    fs_err::write(dir.join("compose.yaml"), compose).unwrap();
    if !dotenv.is_empty() {
        fs_err::write(dir.join(".env"), dotenv).unwrap();
    }
}

/// `list --format json`: (reference, context) of every image.
fn listed(dir: &Path, args: &[&str]) -> (Vec<(String, serde_json::Value)>, String) {
    let mut all = vec!["list", "--format", "json"];
    all.extend_from_slice(args);
    all.push("compose.yaml");
    let o = imagelock(dir, &all);
    expect_code(&o, 0);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let refs = doc["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["reference"].as_str().unwrap().to_string(),
                r["context"].clone(),
            )
        })
        .collect();
    (refs, text(&o.stderr))
}

fn fake_digest(seed: &str) -> String {
    use sha2::Digest as _;
    format!("sha256:{:x}", sha2::Sha256::digest(seed.as_bytes()))
}

/// A lockfile written by hand: (name, tag) → a digest made from them.
fn write_lock(dir: &Path, images: &[(&str, &str)]) {
    let mut s = String::from("version = 1\n");
    for (name, tag) in images {
        s.push_str(&format!(
            "\n[[image]]\nname = \"{name}\"\ntag = \"{tag}\"\ndigest = \"{}\"\nmedia-type = \"application/vnd.oci.image.manifest.v1+json\"\n",
            fake_digest(&format!("{name}:{tag}"))
        ));
    }
    fs_err::write(dir.join("images.lock"), s).unwrap();
}

#[test]
fn interpolated_images_are_listed_with_the_variables_that_built_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, FIXTURES[0].1, FIXTURES[0].2);
    let (refs, stderr) = listed(d, &[]);
    let names: Vec<&str> = refs.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "ghcr.io/acme/app:1.0",
            "b:2",
            "nested:3",
            "app:alt1",
            "fallback:1",
            "redis:7"
        ],
        "{stderr}"
    );
    assert_eq!(
        refs[0].1["variables"],
        serde_json::json!({
            "REPO": {"value": "ghcr.io/acme", "from": "default"},
            "TAG": {"value": "1.0", "from": "default"},
        })
    );
    assert_eq!(
        refs[0].1["template"],
        "${REPO:-ghcr.io/acme}/app:${TAG:-1.0}"
    );
    // `-` keeps an empty value, `:-` replaces it.
    assert_eq!(refs[1].1["variables"]["EMPTY"]["from"], ".env");
    assert_eq!(refs[4].1["variables"]["EMPTY"]["from"], "default");
    // A value without variables keeps its context as before.
    assert!(refs[5].1.get("variables").is_none() && refs[5].1.get("template").is_none());
}

#[test]
fn unset_variables_are_warnings_at_their_position_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        "services:\n  snuba:\n    image: \"$SNUBA_IMAGE\"\n  req:\n    image: app:${NEED:?set NEED first}\n  ok:\n    image: ghcr.io/app/server:${APP_VERSION:-release}\n  bad:\n    image: app:${TAG\n  dollar:\n    image: app$$:1\n",
        "",
    );
    let o = imagelock(d, &["list", "compose.yaml"]);
    expect_code(&o, 2); // `app$:1` is honestly invalid
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("compose.yaml:3:13: image \"$SNUBA_IMAGE\": SNUBA_IMAGE is not set in .env and has no default")
            && stderr.contains("--compose-env"),
        "{stderr}"
    );
    assert!(
        stderr.contains("compose.yaml:5:16:") && stderr.contains("\"set NEED first\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("compose.yaml:9:16:") && stderr.contains("never closed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("compose.yaml:11:12: invalid image reference \"app$:1\""),
        "{stderr}"
    );
    assert!(
        text(&o.stdout).contains("ghcr.io/app/server:release"),
        "{}",
        text(&o.stdout)
    );
    // A reference still complete without the variable is read, as compose
    // substitutes an empty string; the warning says what it became.
    setup(
        d,
        "services:\n  reg:\n    image: ${REGISTRY}team/app:1.2\n  tag:\n    image: app:${NOTAG}\n",
        "",
    );
    let o = imagelock(d, &["list", "--format", "json", "compose.yaml"]);
    expect_code(&o, 0);
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("compose.yaml:3:12: image \"${REGISTRY}team/app:1.2\": REGISTRY is not set in .env and has no default: compose substitutes an empty string, so the image is team/app:1.2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("compose.yaml:5:16: image \"app:${NOTAG}\": NOTAG is not set")
            && stderr.contains("which leaves \"app:\", no image reference; the image is skipped"),
        "{stderr}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let refs = doc["references"].as_array().unwrap();
    assert_eq!(refs.len(), 1, "{refs:?}");
    assert_eq!(refs[0]["reference"], "team/app:1.2");
    assert_eq!(refs[0]["context"]["variables"]["REGISTRY"]["from"], "unset");
    // Back to the first file, without the invalid one: warnings alone
    // leave the run clean.
    setup(
        d,
        "services:\n  snuba:\n    image: \"$SNUBA_IMAGE\"\n  req:\n    image: app:${NEED:?set NEED first}\n  ok:\n    image: ghcr.io/app/server:${APP_VERSION:-release}\n  bad:\n    image: app:${TAG\n  dollar:\n    image: app$$:1\n",
        "",
    );
    let compose = fs_err::read_to_string(d.join("compose.yaml")).unwrap();
    let cut = compose.find("  dollar:").unwrap();
    fs_err::write(d.join("compose.yaml"), &compose[..cut]).unwrap();
    let o = imagelock(d, &["list", "compose.yaml"]);
    expect_code(&o, 0);
}

#[test]
fn the_environment_is_read_only_with_compose_env_and_then_wins() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        "services:\n  a:\n    image: app:${TAG}\n  b:\n    image: ${ONLY_ENV:-none}:1\n",
        "TAG=from-dotenv\n",
    );
    let list = |extra: &[&str]| {
        let mut cmd = Command::new(bin());
        cmd.current_dir(d)
            .env("TAG", "from-env")
            .env("ONLY_ENV", "envimage")
            .args(["list", "--format", "json"])
            .args(extra)
            .arg("compose.yaml");
        let o = cmd.output().unwrap();
        expect_code(&o, 0);
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["references"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["reference"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(list(&[]), ["app:from-dotenv", "none:1"]);
    assert_eq!(list(&["--compose-env"]), ["app:from-env", "envimage:1"]);
    fs_err::write(d.join("imagelock.toml"), "compose-env = true\n").unwrap();
    assert_eq!(list(&[]), ["app:from-env", "envimage:1"]);
    // Pin cannot write into the environment: refused with the reason.
    write_lock(d, &[("docker.io/library/app", "from-env")]);
    let mut cmd = Command::new(bin());
    let o = cmd
        .current_dir(d)
        .env("TAG", "from-env")
        .args(["pin", "compose.yaml"])
        .output()
        .unwrap();
    expect_code(&o, 2);
    assert!(
        text(&o.stderr).contains("comes from the process environment"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn pin_writes_the_digest_where_the_reference_ends() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let compose = "services:\n  tail:\n    image: ${REPO:-ghcr.io/acme}/app:1.2 # literal tail\n  default:\n    image: \"ghcr.io/app/server:${APP_VERSION:-release}\"\n  one:\n    image: web:${WEB_TAG}\n  two:\n    image: web:${WEB_TAG}\n  quoted:\n    image: db:${DB_TAG}\n  plain:\n    image: redis:7\n";
    let dotenv = "# tags\nWEB_TAG=2.5\r\nexport DB_TAG=\"16\" # pinned by imagelock\n";
    setup(d, compose, dotenv);
    write_lock(
        d,
        &[
            ("ghcr.io/acme/app", "1.2"),
            ("ghcr.io/app/server", "release"),
            ("docker.io/library/web", "2.5"),
            ("docker.io/library/db", "16"),
            ("docker.io/library/redis", "7"),
        ],
    );
    let dg = |s: &str| fake_digest(s);
    let o = imagelock(d, &["pin", "--dry-run", "compose.yaml"]);
    expect_code(&o, 0);
    let diff = text(&o.stdout);
    assert!(diff.contains("+++ b/.env"), "{diff}");
    assert_eq!(fs_err::read_to_string(d.join(".env")).unwrap(), dotenv);

    let o = imagelock(d, &["pin", "compose.yaml"]);
    expect_code(&o, 0);
    assert!(
        text(&o.stderr).contains("in 2 file(s)"),
        "{}",
        text(&o.stderr)
    );
    let want_compose = compose
        .replace(
            "/app:1.2 #",
            &format!("/app:1.2@{} #", dg("ghcr.io/acme/app:1.2")),
        )
        .replace(
            ":-release}",
            &format!(":-release@{}}}", dg("ghcr.io/app/server:release")),
        )
        .replace(
            "redis:7\n",
            &format!("redis:7@{}\n", dg("docker.io/library/redis:7")),
        );
    assert_eq!(
        fs_err::read_to_string(d.join("compose.yaml")).unwrap(),
        want_compose
    );
    // One edit for the two services ending in WEB_TAG; CRLF and quotes kept.
    let want_env = format!(
        "# tags\nWEB_TAG=2.5@{}\r\nexport DB_TAG=\"16@{}\" # pinned by imagelock\n",
        dg("docker.io/library/web:2.5"),
        dg("docker.io/library/db:16")
    );
    assert_eq!(fs_err::read_to_string(d.join(".env")).unwrap(), want_env);

    // Read back: the same references, now pinned to the locked digests.
    let (refs, _) = listed(d, &[]);
    let got: Vec<&str> = refs.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        got,
        [
            format!("ghcr.io/acme/app:1.2@{}", dg("ghcr.io/acme/app:1.2")),
            format!(
                "ghcr.io/app/server:release@{}",
                dg("ghcr.io/app/server:release")
            ),
            format!("web:2.5@{}", dg("docker.io/library/web:2.5")),
            format!("web:2.5@{}", dg("docker.io/library/web:2.5")),
            format!("db:16@{}", dg("docker.io/library/db:16")),
            format!("redis:7@{}", dg("docker.io/library/redis:7")),
        ]
    );
    let o = imagelock(d, &["check", "--require-pinned", "compose.yaml"]);
    expect_code(&o, 0);
    // A second pin changes nothing.
    let o = imagelock(d, &["pin", "compose.yaml"]);
    expect_code(&o, 0);
    assert_eq!(
        fs_err::read_to_string(d.join("compose.yaml")).unwrap(),
        want_compose
    );
    assert_eq!(fs_err::read_to_string(d.join(".env")).unwrap(), want_env);
    // An override still wins, with its own tag (the default's digest is
    // not used): it is a reference of its own, not in the lockfile.
    let mut cmd = Command::new(bin());
    let o = cmd
        .current_dir(d)
        .env("APP_VERSION", "2.0")
        .args(["list", "--compose-env", "compose.yaml"])
        .output()
        .unwrap();
    expect_code(&o, 0);
    assert!(
        text(&o.stdout).contains("ghcr.io/app/server:2.0  "),
        "{}",
        text(&o.stdout)
    );
}

/// Pin must refuse, say why, and change no file.
fn refused(compose: &str, dotenv: &str, lock: &[(&str, &str)], why: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, compose, dotenv);
    write_lock(d, lock);
    let o = imagelock(d, &["pin", "compose.yaml"]);
    expect_code(&o, 2);
    let stderr = text(&o.stderr);
    assert!(stderr.contains(why), "want {why:?}:\n{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    assert!(stderr.contains("no file was changed"), "{stderr}");
    assert_eq!(
        fs_err::read_to_string(d.join("compose.yaml")).unwrap(),
        compose
    );
    if !dotenv.is_empty() {
        assert_eq!(fs_err::read_to_string(d.join(".env")).unwrap(), dotenv);
    }
}

/// `pin` writes the digest at the end of each image value (after the
/// expansion): `compose` must become `want` with `{web}`/`{api}` replaced
/// by the lock digests, the `.env` is left as it was, and a second pin
/// changes nothing.
fn pinned_after_value(compose: &str, dotenv: &str, want: &str) {
    pinned_after_value_with(
        compose,
        dotenv,
        &[
            ("docker.io/library/web", "2.5"),
            ("docker.io/library/api", "2.5"),
        ],
        want,
    );
}

/// [`pinned_after_value`] with the lockfile's images given; `{NAME:TAG}`
/// in `want` stands for the digest of `docker.io/NAME:TAG`.
fn pinned_after_value_with(compose: &str, dotenv: &str, lock: &[(&str, &str)], want: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, compose, dotenv);
    write_lock(d, lock);
    let o = imagelock(d, &["pin", "compose.yaml"]);
    expect_code(&o, 0);
    let mut want = want
        .replace("{web}", &fake_digest("docker.io/library/web:2.5"))
        .replace("{api}", &fake_digest("docker.io/library/api:2.5"));
    for (name, tag) in lock {
        let short = name.strip_prefix("docker.io/").unwrap_or(name);
        want = want.replace(
            &format!("{{{short}:{tag}}}"),
            &fake_digest(&format!("{name}:{tag}")),
        );
    }
    let pinned = fs_err::read_to_string(d.join("compose.yaml")).unwrap();
    assert_eq!(pinned, want);
    if !dotenv.is_empty() {
        assert_eq!(fs_err::read_to_string(d.join(".env")).unwrap(), dotenv);
    }
    let o = imagelock(d, &["pin", "compose.yaml"]);
    expect_code(&o, 0);
    assert_eq!(
        fs_err::read_to_string(d.join("compose.yaml")).unwrap(),
        want,
        "a second pin changes nothing"
    );
}

/// Where the `.env` line cannot take the digest without changing more
/// than the reference, the end of the image value takes it.
#[test]
fn pin_writes_after_the_expansion_where_no_written_value_can_take_it() {
    // The variable is also used where no image ends.
    pinned_after_value(
        "services:\n  web:\n    image: web:${TAG}\n    environment:\n      VERSION: ${TAG}\n",
        "TAG=2.5\n",
        "services:\n  web:\n    image: web:${TAG}@{web}\n    environment:\n      VERSION: ${TAG}\n",
    );
    // ...or by another .env value.
    pinned_after_value(
        "services:\n  web:\n    image: web:${TAG}\n",
        "TAG=2.5\nLABEL=v${TAG}\n",
        "services:\n  web:\n    image: web:${TAG}@{web}\n",
    );
    // ...or the .env is handed to containers.
    pinned_after_value(
        "services:\n  web:\n    image: web:${TAG}\n    env_file: .env\n",
        "TAG=2.5\n",
        "services:\n  web:\n    image: web:${TAG}@{web}\n    env_file: .env\n",
    );
    // Two repositories end in one variable (one tag for a product's images).
    pinned_after_value(
        "services:\n  web:\n    image: \"web:${TAG}\"\n  api:\n    image: 'api:$TAG'\n",
        "TAG=2.5\n",
        "services:\n  web:\n    image: \"web:${TAG}@{web}\"\n  api:\n    image: 'api:$TAG@{api}'\n",
    );
    // An alternative value.
    pinned_after_value(
        "services:\n  web:\n    image: web:${TAG:+2.5}\n",
        "TAG=x\n",
        "services:\n  web:\n    image: web:${TAG:+2.5}@{web}\n",
    );
    // A .env value not written as it reads (built from another).
    pinned_after_value(
        "services:\n  web:\n    image: web:${TAG}\n",
        "BASE=2.5\nTAG=\"${BASE}\"\n",
        "services:\n  web:\n    image: web:${TAG}@{web}\n",
    );
}

#[test]
fn pin_refuses_what_no_single_place_pins() {
    let web = [("docker.io/library/web", "2.5")];
    // The image value is shared through a YAML alias with a label: the
    // end of the value cannot take the digest alone.
    refused(
        "services:\n  web:\n    image: &img web:${TAG}\n    labels:\n      built-from: *img\n",
        "TAG=2.5\n",
        &web,
        "YAML anchor",
    );
    // A .env value not written as it reads, and an image value written
    // with an escape: neither is the place.
    refused(
        "services:\n  web:\n    image: \"w\\x65b:${TAG}\"\n",
        "BASE=2.5\nTAG=\"${BASE}\"\n",
        &web,
        "is not written as it reads",
    );
    // A tail of `$$`.
    refused(
        "services:\n  web:\n    image: ${R:-web}:2.5$$\n",
        "",
        &[],
        "invalid image reference",
    );
}

/// A reference that ends in a value from the process environment
/// (`--compose-env`) is refused: a digest written after it would hold
/// whatever the environment said on the day of the pin.
#[test]
fn pin_refuses_a_reference_ending_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let compose = "services:\n  web:\n    image: web:${TAG}\n";
    setup(d, compose, "");
    write_lock(d, &[("docker.io/library/web", "2.5")]);
    let o = Command::new(bin())
        .current_dir(d)
        .env("TAG", "2.5")
        .args(["pin", "--compose-env", "compose.yaml"])
        .output()
        .unwrap();
    expect_code(&o, 2);
    let stderr = text(&o.stderr);
    assert!(stderr.contains("process environment"), "{stderr}");
    assert_eq!(
        fs_err::read_to_string(d.join("compose.yaml")).unwrap(),
        compose
    );
}

#[test]
fn an_interpolated_reference_is_locked_like_any_other() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let web = reg.push_oci_image("shop/web", "2.1", "web");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        "services:\n  web:\n    image: ${REGISTRY}/shop/web:${WEB_TAG:-2.1}\n  app:\n    build: .\n    image: ${REGISTRY}/shop/app:${WEB_TAG:-2.1}\n",
        &format!("REGISTRY={h}\n"),
    );
    let o = run(&reg, d, &["lock", "compose.yaml"]);
    expect_code(&o, 0);
    assert_locked(&reg, d, &[("shop/web:2.1", &web)]);
    let lock = fs_err::read_to_string(d.join("images.lock")).unwrap();
    assert!(!lock.contains("shop/app"), "{lock}");
    let o = run(&reg, d, &["pin", "compose.yaml"]);
    expect_code(&o, 0);
    let pinned = fs_err::read_to_string(d.join("compose.yaml")).unwrap();
    assert!(
        pinned.contains(&format!("${{WEB_TAG:-2.1@{web}}}")),
        "{pinned}"
    );
    let o = run(&reg, d, &["check", "--remote", "compose.yaml"]);
    expect_code(&o, 0);
}

/// The images `podman-compose config` prints for the compose file in
/// `dir`, with a cleared environment (it reads `.env` from the project
/// directory, the compose file's). It needs the `podman` binary (it runs
/// `podman version`) but no running engine. Quirks of 1.6.0 the fixtures
/// avoid: services with `profiles:` are left out unless each profile is
/// named with `--profile`, and a service listing the implicit `default`
/// network without declaring it is refused ("missing networks: default").
fn podman_compose_images(dir: &Path) -> Vec<String> {
    let Some(pc) = which("podman-compose") else {
        panic!(
            "`podman-compose` not found on PATH: the interpolation oracle needs it. Install `podman` (apt-get install -y podman) and podman-compose (python3 -m venv ~/.venvs/podman-compose && ~/.venvs/podman-compose/bin/pip install podman-compose, then put its bin directory on PATH), or run scripts/test.sh, which does both"
        )
    };
    let path = std::env::var("PATH").unwrap_or_default();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let o = Command::new("env")
        .arg("-i")
        .arg(format!("PATH={path}"))
        .arg(format!("HOME={home}"))
        .arg(&pc)
        .args(["-f", "compose.yaml", "config"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "podman-compose config failed:\n{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let out = text(&o.stdout);
    let mut images: Vec<String> = out
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("image: "))
        .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
        .collect();
    images.sort();
    images
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[test]
fn podman_compose_config_agrees_on_every_fixture() {
    for (name, compose, dotenv) in FIXTURES {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        setup(d, compose, dotenv);
        let want = podman_compose_images(d);
        let (refs, stderr) = listed(d, &[]);
        let mut got: Vec<String> = refs.into_iter().map(|(r, _)| r).collect();
        got.sort();
        assert_eq!(got, want, "fixture {name}: {stderr}");
    }
    // The pin round trip's fixtures too (testdata/compose-env).
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/compose-env");
    for d in [data.clone(), data.join("shared")] {
        let want = podman_compose_images(&d);
        let (refs, stderr) = listed(&d, &[]);
        let mut got: Vec<String> = refs.into_iter().map(|(r, _)| r).collect();
        got.sort();
        assert_eq!(got, want, "{}: {stderr}", d.display());
    }
}

#[test]
fn pull_policy_is_interpolated_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        "services:\n  a:\n    image: app:1\n    pull_policy: ${POLICY:-never}\n  b:\n    image: app:2\n    pull_policy: $B_POLICY\n",
        "B_POLICY=always\n",
    );
    let o = imagelock(d, &["list", "compose.yaml"]);
    expect_code(&o, 0);
    let stdout = text(&o.stdout);
    let policy = |image: &str| -> String {
        let row = stdout.lines().find(|l| l.contains(image)).unwrap();
        row.split_whitespace().nth(3).unwrap().to_string()
    };
    assert_eq!(policy("app:1"), "never", "{stdout}");
    assert_eq!(policy("app:2"), "always", "{stdout}");
}

/// Compose reads the one `.env` for every compose file of the directory:
/// a variable another compose file there reads (temporal's
/// `TEMPORAL_VERSION`, for `auto-setup` in one file and `server` in
/// another) is not written into `.env`; the digest goes at the end of the
/// image value. A `.env` value that already holds a digest another image
/// reads is refused with what to do, never given a second digest.
#[test]
fn a_dotenv_variable_another_compose_file_reads_is_not_pinned_in_dotenv() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "services:\n  web:\n    image: web:${TAG}\n", "TAG=2.5\n");
    fs_err::write(
        d.join("docker-compose.extra.yml"),
        "services:\n  api:\n    image: api:${TAG:-2.5}\n",
    )
    .unwrap();
    write_lock(
        d,
        &[
            ("docker.io/library/web", "2.5"),
            ("docker.io/library/api", "2.5"),
        ],
    );
    let o = imagelock(d, &["pin", "compose.yaml"]);
    expect_code(&o, 0);
    let web = fake_digest("docker.io/library/web:2.5");
    assert_eq!(
        fs_err::read_to_string(d.join("compose.yaml")).unwrap(),
        format!("services:\n  web:\n    image: web:${{TAG}}@{web}\n")
    );
    assert_eq!(fs_err::read_to_string(d.join(".env")).unwrap(), "TAG=2.5\n");

    // A digest already in `.env` (pinned before the second file came),
    // read by both files: refused, with the way out.
    setup(
        d,
        "services:\n  web:\n    image: web:${TAG}\n",
        &format!("TAG=2.5@{web}\n"),
    );
    let o = imagelock(d, &["pin", "compose.yaml", "docker-compose.extra.yml"]);
    expect_code(&o, 2);
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("another compose file of the project")
            && stderr.contains("remove the digest from `TAG`"),
        "{stderr}"
    );
    assert!(!stderr.contains("invalid image reference"), "{stderr}");
    assert_eq!(
        fs_err::read_to_string(d.join(".env")).unwrap(),
        format!("TAG=2.5@{web}\n")
    );
}

#[test]
fn dotenv_keys_are_read_as_compose_go_reads_them() {
    // `export` is a prefix only when whitespace follows it (`exporter_tag`
    // is a key of its own, and `exportTAG` does not set TAG); keys may
    // hold `-`, `[` and `]`; a leading byte order mark is skipped, and kept
    // when pin writes the file.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let compose = "services:\n  a:\n    image: app:${exporter_tag}\n  b:\n    image: app:${TAG}\n";
    let dotenv = "exporter_tag=1.2\nMY-KEY[0]=x\nTAG=2.0\nexportTAG=9\n";
    setup(d, compose, dotenv);
    let want = ["app:1.2", "app:2.0"];
    assert_eq!(podman_compose_images(d), want);
    let bom = format!("\u{feff}{dotenv}");
    fs_err::write(d.join(".env"), &bom).unwrap();
    let (refs, stderr) = listed(d, &[]);
    let got: Vec<&str> = refs.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(got, want, "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    write_lock(
        d,
        &[
            ("docker.io/library/app", "1.2"),
            ("docker.io/library/app", "2.0"),
        ],
    );
    let o = imagelock(d, &["pin", "compose.yaml"]);
    expect_code(&o, 0);
    let want_env = bom
        .replace(
            "tag=1.2\n",
            &format!("tag=1.2@{}\n", fake_digest("docker.io/library/app:1.2")),
        )
        .replace(
            "TAG=2.0\n",
            &format!("TAG=2.0@{}\n", fake_digest("docker.io/library/app:2.0")),
        );
    assert_eq!(fs_err::read_to_string(d.join(".env")).unwrap(), want_env);
    assert_eq!(
        fs_err::read_to_string(d.join("compose.yaml")).unwrap(),
        compose
    );
}

#[test]
fn a_dotenv_given_to_containers_under_any_spelling_is_not_written() {
    // The `.env` handed to containers under any spelling of its path is
    // not written: the digest goes after the image value instead.
    for path in [".//.env", "sub/../.env", "${ENV_DIR:-.}/.env", "./.env"] {
        pinned_after_value(
            &format!("services:\n  web:\n    image: web:${{TAG}}\n    env_file: {path}\n"),
            "TAG=2.5\n",
            &format!("services:\n  web:\n    image: web:${{TAG}}@{{web}}\n    env_file: {path}\n"),
        );
    }
    // Another file is not the project's .env: the .env line takes it.
    let web = [("docker.io/library/web", "2.5")];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        "services:\n  web:\n    image: web:${TAG}\n    env_file: web.env\n",
        "TAG=2.5\n",
    );
    fs_err::write(d.join("web.env"), "X=1\n").unwrap();
    write_lock(d, &web);
    let o = imagelock(d, &["pin", "compose.yaml"]);
    expect_code(&o, 0);
    assert_eq!(
        fs_err::read_to_string(d.join(".env")).unwrap(),
        format!("TAG=2.5@{}\n", fake_digest("docker.io/library/web:2.5"))
    );
}

#[test]
fn an_alternative_does_not_show_the_value_of_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        "services:\n  db:\n    image: \"db:${POSTGRES_PASSWORD:+secure}16\"\n",
        "POSTGRES_PASSWORD=hunter2\n",
    );
    let o = imagelock(d, &["list", "--format", "json", "compose.yaml"]);
    expect_code(&o, 0);
    let out = text(&o.stdout);
    assert!(out.contains("db:secure16"), "{out}");
    assert!(!out.contains("hunter2"), "{out}");
}

#[test]
fn a_large_dotenv_is_read_in_linear_time() {
    // 60,000 entries before the image's: each statement's line number was
    // counted from the start of the file (minutes in a debug build).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut dotenv = String::new();
    for i in 0..60_000 {
        dotenv.push_str(&format!("KEY_{i}=value-{i}\n"));
    }
    dotenv.push_str("TAG=2.5\n");
    setup(d, "services:\n  web:\n    image: web:${TAG}\n", &dotenv);
    write_lock(d, &[("docker.io/library/web", "2.5")]);
    let started = std::time::Instant::now();
    let o = imagelock(d, &["pin", "compose.yaml"]);
    expect_code(&o, 0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let pinned = fs_err::read_to_string(d.join(".env")).unwrap();
    assert!(
        pinned.ends_with(&format!(
            "TAG=2.5@{}\n",
            fake_digest("docker.io/library/web:2.5")
        )),
        "{}",
        &pinned[pinned.len() - 100..]
    );
}

#[test]
fn a_dotenv_variable_that_also_ends_a_built_image_is_not_written() {
    // The worker pulls what the api service builds: a digest in TAG would
    // become part of the build's tag too, so the worker's value takes it.
    pinned_after_value_with(
        "services:\n  api:\n    build: .\n    image: myorg/api:${TAG}\n  worker:\n    image: myorg/api:${TAG}\n",
        "TAG=1.0\n",
        &[("docker.io/myorg/api", "1.0")],
        "services:\n  api:\n    build: .\n    image: myorg/api:${TAG}\n  worker:\n    image: myorg/api:${TAG}@{myorg/api:1.0}\n",
    );
}

#[test]
fn a_variable_used_in_a_dotenv_value_that_is_no_template_is_not_written() {
    // `$5` is no variable, but compose still substitutes `${TAG}` in the
    // value: BANNER would change with a digest in TAG.
    pinned_after_value(
        "services:\n  web:\n    image: web:${TAG}\n",
        "TAG=2.5\nBANNER=Costs $5 for ${TAG}\n",
        "services:\n  web:\n    image: web:${TAG}@{web}\n",
    );
}

#[test]
fn a_required_message_names_its_variables_without_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        "services:\n  db:\n    image: \"db:${DB_TAG:?set DB_TAG (the password is ${POSTGRES_PASSWORD})}\"\n",
        "POSTGRES_PASSWORD=hunter2\n",
    );
    let o = imagelock(d, &["list", "--format", "json", "compose.yaml"]);
    expect_code(&o, 0);
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(all.contains("DB_TAG is required"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
}

#[test]
fn a_dotenv_that_is_no_regular_file_is_a_warning_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "services:\n  web:\n    image: web:${TAG:-2.5}\n", "");
    // A FIFO nobody writes to blocked the run forever.
    let ok = Command::new("mkfifo")
        .arg(d.join(".env"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mkfifo");
    let o = imagelock(d, &["list", "compose.yaml"]);
    expect_code(&o, 0);
    assert!(
        text(&o.stderr).contains("not a regular file"),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stdout).contains("web:2.5"), "{}", text(&o.stdout));
}

/// `pin` writes the compose file and its `.env` all or nothing: with the
/// `.env` made immutable (`chattr +i`, as root), the run fails and the
/// compose file is left as it was too.
#[test]
fn a_dotenv_that_cannot_be_replaced_leaves_the_compose_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Both files take a digest: the default in compose.yaml, TAG in .env.
    let compose = "services:\n  web:\n    image: web:${TAG}\n  api:\n    image: api:${API:-2.5}\n";
    setup(d, compose, "TAG=2.5\n");
    write_lock(
        d,
        &[
            ("docker.io/library/web", "2.5"),
            ("docker.io/library/api", "2.5"),
        ],
    );
    struct Mutable<'a>(&'a Path);
    impl Drop for Mutable<'_> {
        fn drop(&mut self) {
            let _ = Command::new("chattr").arg("-i").arg(self.0).status();
        }
    }
    let env = d.join(".env");
    let _guard = Mutable(&env);
    let status = Command::new("chattr")
        .arg("+i")
        .arg(&env)
        .status()
        .expect("`chattr` not found: install e2fsprogs (apt-get install -y e2fsprogs)");
    assert!(
        status.success(),
        "chattr +i failed: run the tests as root on a file system with immutable files (ext4)"
    );
    let o = imagelock(d, &["pin", "compose.yaml"]);
    expect_code(&o, 2);
    let stderr = text(&o.stderr);
    assert!(stderr.contains(".env"), "{stderr}");
    assert!(stderr.contains("0 file(s) written"), "{stderr}");
    assert_eq!(
        fs_err::read_to_string(d.join("compose.yaml")).unwrap(),
        compose
    );
    assert_eq!(fs_err::read_to_string(&env).unwrap(), "TAG=2.5\n");
}
