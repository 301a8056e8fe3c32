//! Pinning at render time: the Helm 3 post-renderer
//! (`contrib/helm/imagelock-post-render`), the Helm 4 `postrenderer/v1`
//! plugin (`contrib/helm-plugin/imagelock`) and the Argo CD Config
//! Management Plugin (`contrib/argocd/plugin.yaml`), each run the way its
//! host runs it.
//!
//! No `helm` can be installed here (Debian has no package; PyPI's and npm's
//! `helm` are other projects), so these tests stand in for Helm, following
//! its source: Helm 3 (`pkg/postrender/exec.go`) runs the executable with
//! one argument per `--post-renderer-args`, the manifests on standard input
//! as `---\n# Source: NAME\nCONTENT\n` per template (hooks left out), in the
//! directory helm runs in, with helm's environment; Helm 4
//! (`internal/plugin/runtime_subprocess.go`, `subprocess_commands.go`) picks
//! the `platformCommand` for the platform, splits its `command` at spaces,
//! expands `${VAR}` in it, appends `--post-renderer-args`, adds
//! `HELM_PLUGIN_NAME` and `HELM_PLUGIN_DIR` to the environment, and sends
//! every document (hooks too) annotated with
//! `postrenderer.helm.sh/postrender-filename`. Argo CD runs `generate` in
//! the Application's source directory with `ARGOCD_APP_*` set; a stand-in
//! `helm` prints the rendered chart there.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::creds::write_script;
use crate::support::run::{bin, expect_code, text};

const SHOP: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const MIGRATE: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const REPORT: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
const NGINX: &str = "sha256:4444444444444444444444444444444444444444444444444444444444444444";
const BUSYBOX: &str = "sha256:5555555555555555555555555555555555555555555555555555555555555555";
/// Another digest for `nginx:1.25`, in a second lockfile.
const NGINX_OTHER: &str = "sha256:6666666666666666666666666666666666666666666666666666666666666666";

/// What Helm 3 writes to a post-renderer for a chart `shop`: each template
/// as `---\n# Source: NAME\nCONTENT\n`. A ConfigMap holds an image-like
/// string that is no image; the Deployment has an init container, a quoted
/// image and one with a comment; the CronJob's image is single-quoted.
const HELM3_STREAM: &str = r#"---
# Source: shop/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: shop-config
data:
  UPSTREAM: "nginx:1.25"
---
# Source: shop/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: shop-web
  labels:
    app.kubernetes.io/instance: shop
spec:
  type: ClusterIP
  ports:
    - port: 80
      targetPort: http
  selector:
    app.kubernetes.io/name: web
---
# Source: shop/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-web
spec:
  replicas: 2
  template:
    spec:
      initContainers:
        - name: migrate
          image: "ghcr.io/acme/shop-migrate:1.4.2"
      containers:
        - name: web
          image: "ghcr.io/acme/shop:1.4.2"
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: 8080
        - name: proxy
          image: nginx:1.25 # the sidecar
---
# Source: shop/templates/cronjob.yaml
apiVersion: batch/v1
kind: CronJob
metadata:
  name: shop-report
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: report
              image: 'ghcr.io/acme/shop-report:1.4.2'
              args: ["--since", "24h"]
"#;

/// [`HELM3_STREAM`] pinned: the four image values and nothing else.
const HELM3_PINNED: &str = r#"---
# Source: shop/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: shop-config
data:
  UPSTREAM: "nginx:1.25"
---
# Source: shop/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: shop-web
  labels:
    app.kubernetes.io/instance: shop
spec:
  type: ClusterIP
  ports:
    - port: 80
      targetPort: http
  selector:
    app.kubernetes.io/name: web
---
# Source: shop/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-web
spec:
  replicas: 2
  template:
    spec:
      initContainers:
        - name: migrate
          image: "ghcr.io/acme/shop-migrate:1.4.2@{MIGRATE}"
      containers:
        - name: web
          image: "ghcr.io/acme/shop:1.4.2@{SHOP}"
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: 8080
        - name: proxy
          image: nginx:1.25@{NGINX} # the sidecar
---
# Source: shop/templates/cronjob.yaml
apiVersion: batch/v1
kind: CronJob
metadata:
  name: shop-report
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: report
              image: 'ghcr.io/acme/shop-report:1.4.2@{REPORT}'
              args: ["--since", "24h"]
"#;

/// What Helm 4 writes to a `postrenderer/v1` plugin: every document, hooks
/// included, re-written by kyaml with the template it came from in the
/// `postrenderer.helm.sh/postrender-filename` annotation (which Helm reads
/// back to split the output), separated by `---`.
const HELM4_STREAM: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-web
  annotations:
    postrenderer.helm.sh/postrender-filename: shop/templates/deployment.yaml
spec:
  template:
    spec:
      containers:
      - name: web
        image: "ghcr.io/acme/shop:1.4.2"
      - name: proxy
        image: nginx:1.25 # the sidecar
---
apiVersion: batch/v1
kind: Job
metadata:
  name: shop-db-check
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    postrenderer.helm.sh/postrender-filename: shop/templates/hooks/db-check.yaml
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: check
        image: busybox:1.36
        command: ["sh", "-c", "true"]
"#;

const HELM4_PINNED: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-web
  annotations:
    postrenderer.helm.sh/postrender-filename: shop/templates/deployment.yaml
spec:
  template:
    spec:
      containers:
      - name: web
        image: "ghcr.io/acme/shop:1.4.2@{SHOP}"
      - name: proxy
        image: nginx:1.25@{NGINX} # the sidecar
---
apiVersion: batch/v1
kind: Job
metadata:
  name: shop-db-check
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    postrenderer.helm.sh/postrender-filename: shop/templates/hooks/db-check.yaml
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: check
        image: busybox:1.36@{BUSYBOX}
        command: ["sh", "-c", "true"]
"#;

/// An expected stream with its digests filled in.
fn pinned(template: &str) -> String {
    template
        .replace("{SHOP}", SHOP)
        .replace("{MIGRATE}", MIGRATE)
        .replace("{REPORT}", REPORT)
        .replace("{NGINX}", NGINX)
        .replace("{BUSYBOX}", BUSYBOX)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn post_renderer() -> PathBuf {
    repo().join("contrib/helm/imagelock-post-render")
}

fn plugin_dir() -> PathBuf {
    repo().join("contrib/helm-plugin/imagelock")
}

/// The directory of the binary under test.
fn bin_dir() -> PathBuf {
    bin().parent().unwrap().to_path_buf()
}

/// `PATH` with the binary under test first.
fn path_with_imagelock() -> String {
    format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Write `dir/name` as a lockfile recording `nginx:1.25` at `nginx` and
/// the chart's other images at their digests.
fn write_lock(dir: &Path, name: &str, nginx: &str) -> PathBuf {
    let entries = [
        ("docker.io/library/busybox", "1.36", BUSYBOX),
        ("docker.io/library/nginx", "1.25", nginx),
        ("ghcr.io/acme/shop", "1.4.2", SHOP),
        ("ghcr.io/acme/shop-migrate", "1.4.2", MIGRATE),
        ("ghcr.io/acme/shop-report", "1.4.2", REPORT),
    ];
    let mut lock = String::from("version = 1\n");
    for (image, tag, digest) in entries {
        lock.push_str(&format!(
            "\n[[image]]\nname = \"{image}\"\ntag = \"{tag}\"\ndigest = \"{digest}\"\n"
        ));
    }
    let path = dir.join(name);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(&path, lock).unwrap();
    path
}

/// How a host runs a program: `input` written to its standard input
/// (then closed), its standard output and error read, in `cwd`, with this
/// process's environment less `IMAGELOCK` and `RUST_LOG`, plus `env`.
/// With `detached`, the program runs in a session of its own (`setsid`),
/// with no controlling terminal, as under a CI runner.
fn host_runs(
    program: &Path,
    args: &[&str],
    cwd: &Path,
    env: &[(&str, &str)],
    input: &str,
    detached: bool,
) -> Output {
    let setsid = Path::new("/usr/bin/setsid");
    let mut cmd = if detached && setsid.exists() {
        let mut cmd = Command::new(setsid);
        cmd.arg("-w").arg(program);
        cmd
    } else {
        Command::new(program)
    };
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("IMAGELOCK")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        // A program that fails before reading closes the pipe: not an error here.
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Helm 3: `helm install … --post-renderer imagelock-post-render
/// [--post-renderer-args ARG]…`, helm run in `cwd`.
fn helm3(args: &[&str], cwd: &Path, input: &str) -> Output {
    host_runs(
        &post_renderer(),
        args,
        cwd,
        &[("PATH", &path_with_imagelock())],
        input,
        false,
    )
}

fn failed_with_nothing_printed(out: &Output) -> String {
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        out.stdout.is_empty(),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

#[test]
fn helm3_post_renderer_prints_the_rendered_chart_with_every_image_pinned_and_nothing_else_changed()
{
    let dir = tempfile::tempdir().unwrap();
    write_lock(dir.path(), "images.lock", NGINX);
    let out = helm3(&[], dir.path(), HELM3_STREAM);
    expect_code(&out, 0);
    assert_eq!(text(&out.stdout), pinned(HELM3_PINNED));
    assert!(
        text(&out.stderr).contains("pinned 4 reference(s) in the stream"),
        "{}",
        text(&out.stderr)
    );
    // `helm upgrade` of a release already pinned: nothing changes.
    let again = helm3(&[], dir.path(), &pinned(HELM3_PINNED));
    expect_code(&again, 0);
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn helm3_post_renderer_args_are_options_of_imagelock_pin_spaces_and_all() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lock = write_lock(&d.join("my charts/shop"), "images lock.toml", NGINX);
    let lock = lock.to_str().unwrap();

    // `--post-renderer-args --lockfile --post-renderer-args "…/images lock.toml"`
    let out = helm3(&["--lockfile", lock], d, HELM3_STREAM);
    expect_code(&out, 0);
    assert_eq!(text(&out.stdout), pinned(HELM3_PINNED));

    // `--post-renderer-args="--lockfile=my charts/shop/images lock.toml"`,
    // relative to where helm runs, with other options of `imagelock pin`.
    let out = helm3(
        &[
            "--lockfile=my charts/shop/images lock.toml",
            "--pull-policy",
            "if-not-present",
            "--quiet",
        ],
        d,
        HELM3_STREAM,
    );
    expect_code(&out, 0);
    let expected = pinned(HELM3_PINNED)
        .replace(
            &format!("shop-migrate:1.4.2@{MIGRATE}\"\n"),
            &format!("shop-migrate:1.4.2@{MIGRATE}\"\n          imagePullPolicy: IfNotPresent\n"),
        )
        .replace(
            "# the sidecar\n",
            "# the sidecar\n          imagePullPolicy: IfNotPresent\n",
        )
        .replace(
            &format!("shop-report:1.4.2@{REPORT}'\n"),
            &format!("shop-report:1.4.2@{REPORT}'\n              imagePullPolicy: IfNotPresent\n"),
        );
    assert_eq!(text(&out.stdout), expected);
    assert!(out.stderr.is_empty(), "--quiet: {}", text(&out.stderr));

    // An option imagelock does not know, a file name where an option was
    // meant, or --help (whose text Helm would take for manifests): refused,
    // nothing printed.
    for args in [
        &["--no-such-option"][..],
        &[lock],
        &["--help"],
        &["--lockfile", lock, "-h"],
    ] {
        let err = failed_with_nothing_printed(&helm3(args, d, HELM3_STREAM));
        assert!(!err.is_empty(), "{args:?}");
    }
    let err = failed_with_nothing_printed(&helm3(&["--help"], d, HELM3_STREAM));
    assert!(
        err.contains("imagelock-post-render: --help would print help to standard output"),
        "{err}"
    );
}

#[test]
fn helm3_post_renderer_finds_the_lockfile_from_its_argument_else_where_helm_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The directory helm runs in has a lockfile; so has the chart's.
    write_lock(d, "images.lock", NGINX);
    write_lock(&d.join("shop"), "images.lock", NGINX_OTHER);
    let uses = |out: &Output| {
        expect_code(out, 0);
        let stdout = text(&out.stdout);
        if stdout.contains(NGINX_OTHER) {
            "chart"
        } else {
            assert!(stdout.contains(NGINX), "{stdout}");
            "cwd"
        }
    };
    // No argument: the current directory's.
    assert_eq!(uses(&helm3(&[], d, HELM3_STREAM)), "cwd");
    // The argument wins.
    assert_eq!(
        uses(&helm3(&["--lockfile", "shop/images.lock"], d, HELM3_STREAM)),
        "chart"
    );
    // Helm tells a post-renderer nothing of the chart, so the chart's
    // lockfile is never guessed: without an argument and without one
    // where helm runs, nothing is printed and the message says where it
    // looked.
    let elsewhere = tempfile::tempdir().unwrap();
    let err = failed_with_nothing_printed(&helm3(&[], elsewhere.path(), HELM3_STREAM));
    assert!(err.contains("pin -: no lockfile at images.lock"), "{err}");
    assert!(err.contains("--lockfile"), "{err}");
}

#[test]
fn helm3_post_renderer_fails_the_install_with_nothing_printed_when_a_reference_is_not_locked() {
    let dir = tempfile::tempdir().unwrap();
    write_lock(dir.path(), "images.lock", NGINX);
    let stream = format!(
        "{HELM3_STREAM}---\n# Source: shop/templates/cache.yaml\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: shop-cache\nspec:\n  template:\n    spec:\n      containers:\n        - name: redis\n          image: redis:7\n"
    );
    let out = helm3(&[], dir.path(), &stream);
    expect_code(&out, 2);
    let err = failed_with_nothing_printed(&out);
    let line = HELM3_STREAM.lines().count() + 12;
    assert!(
        err.contains(&format!(
            "<stdin>:{line}:18: redis:7 (docker.io/library/redis:7) is not in images.lock"
        )),
        "{err}"
    );
    assert!(err.contains("nothing was printed"), "{err}");
}

#[test]
fn helm3_post_renderer_without_imagelock_says_how_to_get_it_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lock = write_lock(d, "images.lock", NGINX);
    // Not on PATH (the script needs nothing else from PATH).
    let out = host_runs(
        &post_renderer(),
        &[],
        d,
        &[("PATH", "/nonexistent")],
        HELM3_STREAM,
        false,
    );
    expect_code(&out, 2);
    let err = failed_with_nothing_printed(&out);
    assert!(
        err.contains("imagelock-post-render: imagelock is not on PATH (/nonexistent); install it, or set IMAGELOCK"),
        "{err}"
    );
    // IMAGELOCK naming something that is not a program.
    let out = host_runs(
        &post_renderer(),
        &[],
        d,
        &[("IMAGELOCK", lock.to_str().unwrap())],
        HELM3_STREAM,
        false,
    );
    expect_code(&out, 2);
    let err = failed_with_nothing_printed(&out);
    assert!(
        err.contains("IMAGELOCK is ") && err.contains("which is not an executable file"),
        "{err}"
    );
    // IMAGELOCK naming the binary: PATH is not needed.
    let out = host_runs(
        &post_renderer(),
        &[],
        d,
        &[
            ("PATH", "/nonexistent"),
            ("IMAGELOCK", bin().to_str().unwrap()),
        ],
        HELM3_STREAM,
        false,
    );
    expect_code(&out, 0);
    assert_eq!(text(&out.stdout), pinned(HELM3_PINNED));
}

#[test]
fn helm3_post_renderer_passes_an_empty_rendering_through() {
    // A chart that renders nothing: Helm 3 installs an empty release, and
    // the post-renderer must not invent output (Helm 4 rejects an empty
    // output by itself).
    let dir = tempfile::tempdir().unwrap();
    write_lock(dir.path(), "images.lock", NGINX);
    let out = helm3(&[], dir.path(), "");
    expect_code(&out, 0);
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

/// `plugin.yaml` read as a value.
fn plugin_yaml() -> Value {
    let text = fs_err::read_to_string(plugin_dir().join("plugin.yaml")).unwrap();
    imagelock::yaml::value::document(&text).unwrap()
}

/// Helm 4's `getPlatformCommand`: the entry whose os and arch match, else
/// the first whose os matches and arch is empty, else the first with
/// neither; its command split at spaces, and its args.
fn platform_command(plugin: &Value, os: &str, arch: &str) -> (Vec<String>, Vec<String>) {
    let cmds = plugin["runtimeConfig"]["platformCommand"]
        .as_array()
        .expect("runtimeConfig.platformCommand");
    let field = |c: &Value, k: &str| c[k].as_str().unwrap_or("").to_string();
    let parts = |c: &Value| -> (Vec<String>, Vec<String>) {
        let command = field(c, "command").split(' ').map(str::to_string).collect();
        let args = c["args"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        (command, args)
    };
    let mut chosen = None;
    let mut found_os = false;
    for c in cmds {
        let (c_os, c_arch) = (field(c, "os"), field(c, "arch"));
        if c_os.eq_ignore_ascii_case(os) && c_arch.eq_ignore_ascii_case(arch) {
            return parts(c);
        }
        if (!c_os.is_empty() && !c_os.eq_ignore_ascii_case(os)) || !c_arch.is_empty() {
            continue;
        }
        if !found_os && !c_os.is_empty() {
            chosen = Some(parts(c));
            found_os = true;
        } else if chosen.is_none() {
            chosen = Some(parts(c));
        }
    }
    chosen.expect("no plugin command is applicable")
}

/// Go's `os.Expand` over `env`: `${NAME}` and `$NAME`, unknown names empty.
fn expand(s: &str, env: &[(&str, &str)]) -> String {
    let lookup = |name: &str| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    };
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').expect("unclosed ${");
            out.push_str(&lookup(&inner[..end]));
            rest = &inner[end + 1..];
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            out.push_str(&lookup(&after[..end]));
            rest = &after[end..];
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn helm4_plugin_yaml_is_a_postrenderer_v1_subprocess_plugin_running_the_same_script() {
    let plugin = plugin_yaml();
    // Helm 4's MetadataV1: apiVersion "v1", a name of [A-Za-z0-9_-]+, a
    // SemVer version, a type and a runtime.
    assert_eq!(plugin["apiVersion"], "v1");
    assert_eq!(plugin["type"], "postrenderer/v1");
    assert_eq!(plugin["runtime"], "subprocess");
    assert_eq!(plugin["name"], "imagelock");
    assert_eq!(plugin["version"], env!("CARGO_PKG_VERSION"));

    let (command, args) = platform_command(&plugin, "linux", "amd64");
    assert_eq!(command, ["${HELM_PLUGIN_DIR}/imagelock-post-render"]);
    assert!(args.is_empty());
    assert_eq!(
        platform_command(&plugin, "darwin", "arm64"),
        (command.clone(), args.clone())
    );
    let (command, args) = platform_command(&plugin, "windows", "amd64");
    assert_eq!(command, ["imagelock", "pin", "-"]);
    assert!(args.is_empty());

    // The plugin's script is the Helm 3 post-renderer, executable (a
    // plugin installed from a repository is a copy, not a link).
    let script = plugin_dir().join("imagelock-post-render");
    assert_eq!(
        fs_err::read(&script).unwrap(),
        fs_err::read(post_renderer()).unwrap(),
        "contrib/helm-plugin/imagelock/imagelock-post-render differs from contrib/helm/imagelock-post-render"
    );
    use std::os::unix::fs::PermissionsExt;
    for path in [script, post_renderer()] {
        let mode = fs_err::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{} is not executable", path.display());
    }
}

/// Helm 4 running the plugin installed in `plugins` (`helm plugin install
/// contrib/helm-plugin/imagelock` links it there) for `os`, helm run in
/// `cwd` with `--post-renderer imagelock` and these `--post-renderer-args`.
fn helm4(plugins: &Path, os: &str, extra: &[&str], cwd: &Path, input: &str) -> Output {
    let plugin_dir = plugins.join("imagelock");
    let plugin_dir = plugin_dir.to_str().unwrap();
    let path = path_with_imagelock();
    let env = [
        ("PATH", path.as_str()),
        ("HELM_PLUGIN_NAME", "imagelock"),
        ("HELM_PLUGIN_DIR", plugin_dir),
    ];
    let (command, args) = platform_command(&plugin_yaml(), os, "amd64");
    let main = expand(&command[0], &env);
    let mut argv: Vec<String> = command[1..].iter().map(|a| expand(a, &env)).collect();
    argv.extend(args.iter().map(|a| expand(a, &env)));
    argv.extend(extra.iter().map(ToString::to_string));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    // `imagelock` alone is looked up on PATH, as exec.Command does.
    let program = if main.contains('/') {
        PathBuf::from(main)
    } else {
        bin_dir().join(main)
    };
    host_runs(&program, &argv, cwd, &env, input, true)
}

#[test]
fn helm4_plugin_pins_every_document_hooks_included_and_keeps_helms_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plugins = d.join("helm data/plugins");
    fs_err::create_dir_all(&plugins).unwrap();
    fs_err::os::unix::fs::symlink(plugin_dir(), plugins.join("imagelock")).unwrap();
    let cwd = d.join("work");
    write_lock(&cwd, "images.lock", NGINX);
    let lock = write_lock(&d.join("my chart"), "images.lock", NGINX_OTHER);

    let out = helm4(&plugins, "linux", &[], &cwd, HELM4_STREAM);
    expect_code(&out, 0);
    assert_eq!(text(&out.stdout), pinned(HELM4_PINNED));

    // --post-renderer-args, a path with spaces.
    let out = helm4(
        &plugins,
        "linux",
        &["--lockfile", lock.to_str().unwrap()],
        &cwd,
        HELM4_STREAM,
    );
    expect_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        pinned(HELM4_PINNED).replace(NGINX, NGINX_OTHER)
    );

    // Windows' entry (`imagelock pin -`, no shell) takes the same arguments.
    let out = helm4(
        &plugins,
        "windows",
        &["--lockfile", lock.to_str().unwrap()],
        &cwd,
        HELM4_STREAM,
    );
    expect_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        pinned(HELM4_PINNED).replace(NGINX, NGINX_OTHER)
    );

    // A reference not locked: a non-zero exit and an empty output, both
    // of which fail Helm 4's install. With no terminal (CI), the reasons
    // stay on standard error.
    let out = helm4(
        &plugins,
        "linux",
        &[],
        &cwd,
        &HELM4_STREAM.replace("busybox:1.36", "busybox:1.37"),
    );
    expect_code(&out, 2);
    let err = failed_with_nothing_printed(&out);
    assert!(
        err.contains("busybox:1.37 (docker.io/library/busybox:1.37) is not in images.lock"),
        "{err}"
    );
}

/// The Argo CD plugin's `generate` step: `[command…, args…]`.
fn argocd_generate() -> Vec<String> {
    let path = repo().join("contrib/argocd/plugin.yaml");
    let plugin = imagelock::yaml::value::document(&fs_err::read_to_string(path).unwrap()).unwrap();
    assert_eq!(plugin["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    assert_eq!(plugin["metadata"]["name"], "imagelock-helm");
    let generate = &plugin["spec"]["generate"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut argv = strings(&generate["command"]);
    argv.extend(strings(&generate["args"]));
    argv
}

#[test]
fn argocd_plugin_generates_the_pinned_chart_and_nothing_when_helm_or_the_lock_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A stand-in for `helm`: it records its arguments and prints the
    // rendered chart, or the first document and fails when asked to.
    let fake = d.join("bin");
    fs_err::create_dir_all(&fake).unwrap();
    fs_err::write(fake.join("rendered.yaml"), HELM3_STREAM).unwrap();
    write_script(
        &fake.join("helm"),
        "#!/bin/sh\nprintf '%s\\n' \"$*\" > \"${0%/*}/helm.args\"\nif [ -n \"${FAKE_HELM_FAIL-}\" ]; then\n  sed -n '1,9p' \"${0%/*}/rendered.yaml\"\n  echo 'Error: template: shop/templates/cronjob.yaml: boom' >&2\n  exit 1\nfi\ncat \"${0%/*}/rendered.yaml\"\n",
    );
    // The Application's source directory: the chart, its lockfile beside it.
    let app = d.join("repo/charts/shop");
    write_lock(&app, "images.lock", NGINX);
    write_lock(&d.join("repo"), "images.lock", NGINX_OTHER);

    let argv = argocd_generate();
    // The README shows this very step.
    let readme = fs_err::read_to_string(repo().join("README.md")).unwrap();
    let shown: String = argv[2].lines().map(|l| format!("        {l}\n")).collect();
    assert!(
        readme.contains(&shown),
        "README.md's Argo CD example differs from contrib/argocd/plugin.yaml:\n{shown}"
    );
    let path = format!("{}:{}:/usr/bin:/bin", fake.display(), bin_dir().display());
    let run = |extra: &[(&str, &str)]| {
        let mut env = vec![
            ("PATH", path.as_str()),
            ("ARGOCD_APP_NAME", "shop"),
            ("ARGOCD_APP_NAMESPACE", "prod"),
        ];
        env.extend_from_slice(extra);
        let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
        host_runs(Path::new(&argv[0]), &args, &app, &env, "", false)
    };

    let out = run(&[]);
    expect_code(&out, 0);
    assert_eq!(text(&out.stdout), pinned(HELM3_PINNED));
    assert_eq!(
        fs_err::read_to_string(fake.join("helm.args")).unwrap(),
        "template shop . --namespace prod\n"
    );

    // `plugin.env: [{name: IMAGELOCK_LOCKFILE, value: ../../images.lock}]`
    let out = run(&[("ARGOCD_ENV_IMAGELOCK_LOCKFILE", "../../images.lock")]);
    expect_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        pinned(HELM3_PINNED).replace(NGINX, NGINX_OTHER)
    );

    // helm failing after printing part of the chart: nothing reaches Argo CD.
    let err = failed_with_nothing_printed(&run(&[("FAKE_HELM_FAIL", "1")]));
    assert!(err.contains("Error: template"), "{err}");

    // A reference the lockfile lacks: nothing either, and the reason.
    fs_err::write(
        fake.join("rendered.yaml"),
        HELM3_STREAM.replace("nginx:1.25 # the sidecar", "nginx:1.27 # the sidecar"),
    )
    .unwrap();
    let out = run(&[]);
    expect_code(&out, 2);
    let err = failed_with_nothing_printed(&out);
    assert!(
        err.contains("nginx:1.27 (docker.io/library/nginx:1.27) is not in images.lock"),
        "{err}"
    );
}

#[test]
fn helm4_plugin_sends_its_reasons_to_the_terminal_since_helm_4_drops_a_plugins_stderr() {
    // Helm 4 gives a post-renderer plugin a standard error it never shows
    // (`runPostrenderer` buffers it; a failure prints only `plugin
    // "imagelock" exited with error`), so run as the plugin's command the
    // script writes its messages to the terminal when there is one.
    // `script` gives the run a terminal, and reports what reached it.
    let script = Path::new("/usr/bin/script");
    assert!(
        script.exists(),
        "/usr/bin/script is missing: install the Debian package bsdutils (util-linux's script), which gives the plugin a terminal"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plugins = d.join("helm data/plugins");
    fs_err::create_dir_all(&plugins).unwrap();
    fs_err::os::unix::fs::symlink(plugin_dir(), plugins.join("imagelock")).unwrap();
    write_lock(d, "images.lock", NGINX);
    let input = d.join("in.yaml");
    fs_err::write(&input, HELM4_STREAM.replace("busybox:1.36", "busybox:1.37")).unwrap();
    let plugin_dir = plugins.join("imagelock");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let out = Command::new(script)
        .args(["-qec", r#""$W" <"$IN" >"$OUT" 2>"$ERR""#, "/dev/null"])
        .current_dir(d)
        .env_remove("IMAGELOCK")
        .env_remove("RUST_LOG")
        .env("SHELL", "/bin/sh")
        .env("PATH", path_with_imagelock())
        .env("HELM_PLUGIN_NAME", "imagelock")
        .env("HELM_PLUGIN_DIR", s(&plugin_dir))
        .env("W", s(&plugin_dir.join("imagelock-post-render")))
        .env("IN", s(&input))
        .env("OUT", s(&d.join("out")))
        .env("ERR", s(&d.join("err")))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let terminal = text(&out.stdout);
    assert!(
        terminal.contains("busybox:1.37 (docker.io/library/busybox:1.37) is not in images.lock"),
        "terminal:\n{terminal}\nscript's stderr:\n{}",
        text(&out.stderr)
    );
    assert_eq!(fs_err::read_to_string(d.join("out")).unwrap(), "");
    assert_eq!(fs_err::read_to_string(d.join("err")).unwrap(), "");

    // Run as Helm 3's --post-renderer, standard error stays standard error
    // (Helm 3 prints it when the post-renderer fails).
    let out = Command::new(script)
        .args(["-qec", r#""$W" <"$IN" >"$OUT" 2>"$ERR""#, "/dev/null"])
        .current_dir(d)
        .env_remove("IMAGELOCK")
        .env_remove("RUST_LOG")
        .env_remove("HELM_PLUGIN_DIR")
        .env("SHELL", "/bin/sh")
        .env("PATH", path_with_imagelock())
        .env("W", s(&post_renderer()))
        .env("IN", s(&input))
        .env("OUT", s(&d.join("out")))
        .env("ERR", s(&d.join("err")))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !text(&out.stdout).contains("busybox:1.37"),
        "{}",
        text(&out.stdout)
    );
    let err = fs_err::read_to_string(d.join("err")).unwrap();
    assert!(err.contains("busybox:1.37"), "{err}");
}
