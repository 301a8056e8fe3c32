//! End-to-end: compose files through the real binary against the real CNCF
//! distribution registry: `lock`, `pin` (byte-exact, idempotent), `check`,
//! `check --remote` drift, every digest cross-checked with skopeo; and
//! compose's own pull-policy rules (no Kubernetes `imagePullPolicy`
//! reasoning).

use crate::support::e2e::{assert_locked, pin_twice, run};
use crate::support::run::{expect_code, text};
use crate::support::{Registry, Setup};

#[test]
fn lock_pin_check_and_drift_of_a_compose_file() {
    let reg = Registry::start(Setup::PlainAnonymous);
    let h = reg.host();
    let web = reg.push_oci_image("shop/web", "2.1", "web");
    let db = reg.push_oci_image("shop/db", "16", "db");
    let original = format!(
        "x-common: &common\n  restart: always\n  pull_policy: always\n\nservices:\n  web:\n    <<: *common\n    image: {h}/shop/web:2.1 # the shop\n  db:\n    image: \"{h}/shop/db:16\"\n    pull_policy: never\n  app:\n    build: ./app\n    image: {h}/shop/app:dev\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("compose.yaml");
    fs_err::write(&file, &original).unwrap();

    let o = run(&reg, d, &["list", "compose.yaml"]);
    expect_code(&o, 0);
    let stdout = text(&o.stdout);
    let policy = |image: &str| -> String {
        let row = stdout.lines().find(|l| l.contains(image)).unwrap();
        row.split_whitespace().nth(3).unwrap().to_string()
    };
    assert_eq!(policy("shop/web"), "always", "{stdout}");
    assert_eq!(policy("shop/db"), "never", "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("shop/app") && l.ends_with("built")),
        "{stdout}"
    );
    let stderr = text(&o.stderr);
    assert!(!stderr.contains("imagePullPolicy"), "{stderr}");
    assert!(
        stderr.contains("compose.yaml:10:") && stderr.contains("pull_policy never"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("mutable tag"),
        "a mutable tag is no compose warning: {stderr}"
    );

    let o = run(&reg, d, &["lock", "compose.yaml"]);
    expect_code(&o, 0);
    assert_locked(&reg, d, &[("shop/web:2.1", &web), ("shop/db:16", &db)]);
    let lock = fs_err::read_to_string(d.join("images.lock")).unwrap();
    assert!(
        !lock.contains("shop/app"),
        "a built image is not locked: {lock}"
    );

    let pinned = pin_twice(&reg, d, &["pin", "compose.yaml"], &file, &original);
    assert_eq!(pinned.matches("@sha256:").count(), 2, "{pinned}");

    let o = run(&reg, d, &["check", "--require-pinned", "compose.yaml"]);
    expect_code(&o, 0);
    let moved = reg.push_oci_image("shop/web", "2.1", "moved");
    let o = run(&reg, d, &["check", "--remote", "compose.yaml"]);
    expect_code(&o, 1);
    let out = text(&o.stdout);
    assert!(out.contains("compose.yaml:8:12: drift:"), "{out}");
    assert!(out.contains(&moved) && out.contains(&web), "{out}");
}
