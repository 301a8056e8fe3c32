//! `imagelock pin -` as a KRM function: the `ResourceList` exchange kpt and
//! kustomize perform, byte for byte, and the real `kpt` running it as an
//! exec function (`kpt fn eval --exec`, `kpt fn render` with a Kptfile
//! pipeline).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::creds::write_script;
use crate::support::run::{bin, expect_code, text};

const DIGEST_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn lockfile(dir: &Path) -> PathBuf {
    let path = dir.join("images.lock");
    fs_err::write(
        &path,
        format!(
            "version = 1\n\n[[image]]\nname = \"docker.io/library/nginx\"\ntag = \"1.25\"\ndigest = \"{DIGEST_A}\"\n"
        ),
    )
    .unwrap();
    path
}

fn pin_stdin(dir: &Path, args: &[&str], input: &str) -> std::process::Output {
    assert_cmd::Command::new(bin())
        .current_dir(dir)
        .args(["pin"])
        .args(args)
        .arg("-")
        .write_stdin(input)
        .output()
        .unwrap()
}

/// What kpt sends an exec function for a package holding one Deployment
/// and one Pod (its annotations, its comments), with `config`.
fn resource_list(pod_image: &str, config: &str) -> String {
    format!(
        "apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- # the app
  apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: app # name
    namespace: shop
    annotations:
      config.kubernetes.io/index: '0'
      config.kubernetes.io/path: 'deploy.yaml'
      internal.config.kubernetes.io/index: '0'
      internal.config.kubernetes.io/path: 'deploy.yaml'
  spec:
    template:
      spec:
        containers:
        - name: app
          image: \"nginx:1.25\" # here
- apiVersion: v1
  kind: Pod
  metadata:
    name: tool
    annotations:
      config.kubernetes.io/index: '1'
      config.kubernetes.io/path: 'sub/pod.yaml'
      internal.config.kubernetes.io/index: '1'
      internal.config.kubernetes.io/path: 'sub/pod.yaml'
  spec:
    containers:
    - name: tool
      image: {pod_image}
functionConfig:
{config}"
    )
}

const NO_CONFIG: &str =
    "  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: function-input\n  data: {}\n";

#[test]
fn a_resource_list_comes_back_with_its_items_pinned_and_every_other_byte_kept() {
    let dir = tempfile::tempdir().unwrap();
    lockfile(dir.path());
    let input = resource_list("nginx:1.25", NO_CONFIG);
    let out = pin_stdin(dir.path(), &[], &input);
    expect_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        input
            .replace("\"nginx:1.25\"", &format!("\"nginx:1.25@{DIGEST_A}\""))
            .replace(
                "image: nginx:1.25",
                &format!("image: nginx:1.25@{DIGEST_A}")
            )
    );
    // The function config names the lockfile (relative to the directory
    // the function runs in) and the pull policy.
    let elsewhere = tempfile::tempdir().unwrap();
    let config = format!(
        "  apiVersion: imagelock.dev/v1alpha1\n  kind: Pin\n  metadata:\n    name: pin\n  spec:\n    lockfile: {}\n    pullPolicy: IfNotPresent\n",
        dir.path().join("images.lock").display()
    );
    let out = pin_stdin(elsewhere.path(), &[], &resource_list("nginx:1.25", &config));
    expect_code(&out, 0);
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.matches("imagePullPolicy: IfNotPresent").count(),
        2,
        "{stdout}"
    );
    assert_eq!(stdout.matches(DIGEST_A).count(), 2, "{stdout}");
    // A ConfigMap's data says the same (`kpt fn eval -- lockfile=…`).
    let config = format!(
        "  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: function-input\n  data: {{lockfile: {}}}\n",
        dir.path().join("images.lock").display()
    );
    let out = pin_stdin(elsewhere.path(), &[], &resource_list("nginx:1.25", &config));
    expect_code(&out, 0);
    assert_eq!(text(&out.stdout).matches(DIGEST_A).count(), 2);
}

#[test]
fn a_failed_run_returns_the_list_unpinned_with_each_error_as_a_result_at_its_item() {
    let dir = tempfile::tempdir().unwrap();
    lockfile(dir.path());
    let input = resource_list("redis:7", NO_CONFIG);
    let out = pin_stdin(dir.path(), &[], &input);
    expect_code(&out, 2);
    let stdout = text(&out.stdout);
    // The input as it came (never half-pinned), then the results.
    let results = stdout
        .strip_prefix(input.as_str())
        .unwrap_or_else(|| panic!("the input does not come back unchanged:\n{stdout}"));
    assert_eq!(
        results,
        "results:
- message: \"redis:7 (docker.io/library/redis:7) is not in images.lock\"
  severity: error
  resourceRef:
    apiVersion: \"v1\"
    kind: \"Pod\"
    name: \"tool\"
  file:
    path: \"sub/pod.yaml\"
    index: 1
  field:
    path: \"spec.containers[0].image\"
"
    );
    // A function config imagelock cannot use is an error naming it.
    let config =
        "  apiVersion: imagelock.dev/v1alpha1\n  kind: Pin\n  spec:\n    lockfil: images.lock\n";
    let out = pin_stdin(dir.path(), &[], &resource_list("nginx:1.25", config));
    expect_code(&out, 2);
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("functionConfig: unknown option \"lockfil\""),
        "{}",
        text(&out.stderr)
    );
}

/// The real kpt, or a failure that says how to install it.
fn kpt() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("kpt"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("kpt is not installed: install the Debian package google-cloud-cli-kpt (Google Cloud SDK repository) or a kpt release binary on PATH")
    })
}

/// A wrapper kpt runs as an exec function: `imagelock pin -`.
fn wrapper(dir: &Path) -> PathBuf {
    write_script(
        &dir.join("imagelock-fn"),
        &format!("#!/bin/sh\nexec '{}' pin -\n", bin().display()),
    )
}

fn run_kpt(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(kpt())
        .current_dir(dir)
        .args(args)
        .env("HOME", dir)
        .output()
        .unwrap()
}

#[test]
fn kpt_runs_it_as_an_exec_function_and_only_the_image_values_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lockfile(d);
    let fun = wrapper(d);
    let noop = write_script(&d.join("noop"), "#!/bin/sh\nexec cat\n");
    let deploy = "# the app\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app # name\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: \"nginx:1.25\" # here\n      - name: side\n        image: nginx:1.25\n";
    fs_err::create_dir_all(d.join("pkg")).unwrap();
    fs_err::write(d.join("pkg/deploy.yaml"), deploy).unwrap();
    // kpt writes the files back in its own layout: what it writes for a
    // function that changes nothing is the baseline.
    let out = run_kpt(d, &["fn", "eval", "pkg", "--exec", noop.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let baseline = fs_err::read_to_string(d.join("pkg/deploy.yaml")).unwrap();
    let out = run_kpt(d, &["fn", "eval", "pkg", "--exec", fun.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs_err::read_to_string(d.join("pkg/deploy.yaml")).unwrap(),
        baseline.replace("nginx:1.25", &format!("nginx:1.25@{DIGEST_A}"))
    );
    // A reference the lockfile lacks fails the function: kpt shows the
    // result at its resource and writes nothing.
    fs_err::write(
        d.join("pkg/pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: tool\nspec:\n  containers:\n  - name: tool\n    image: redis:7\n",
    )
    .unwrap();
    let before = fs_err::read_to_string(d.join("pkg/deploy.yaml")).unwrap();
    let out = run_kpt(d, &["fn", "eval", "pkg", "--exec", fun.to_str().unwrap()]);
    assert!(!out.status.success());
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        shown.contains(
            // kpt shows the field the result names.
            "[error] v1/Pod/tool spec.containers[0].image: redis:7 (docker.io/library/redis:7) is not in images.lock"
        ),
        "{shown}"
    );
    assert_eq!(
        fs_err::read_to_string(d.join("pkg/deploy.yaml")).unwrap(),
        before
    );
}

#[test]
fn kpt_fn_render_runs_it_from_a_kptfile_pipeline_with_a_function_config() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lock = lockfile(d);
    let fun = wrapper(d);
    fs_err::create_dir_all(d.join("pkg")).unwrap();
    fs_err::write(
        d.join("pkg/Kptfile"),
        format!(
            "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: pkg\npipeline:\n  mutators:\n  - exec: {}\n    configMap:\n      lockfile: {}\n      pullPolicy: IfNotPresent\n",
            fun.display(),
            lock.display()
        ),
    )
    .unwrap();
    fs_err::write(
        d.join("pkg/web.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n",
    )
    .unwrap();
    let out = run_kpt(d, &["fn", "render", "pkg", "--allow-exec"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs_err::read_to_string(d.join("pkg/web.yaml")).unwrap(),
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25@{DIGEST_A}\n        imagePullPolicy: IfNotPresent\n")
    );
}

#[test]
fn results_go_into_the_list_only_where_a_key_can_be_added_after_its_last_byte() {
    let dir = tempfile::tempdir().unwrap();
    lockfile(dir.path());
    let stderr_of = |o: &std::process::Output| text(&o.stderr);
    // JSON (a flow mapping): returned as it came, still JSON; the errors
    // are said on stderr only.
    let json = r#"{"apiVersion":"config.kubernetes.io/v1","kind":"ResourceList","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"first"},"spec":{"containers":[{"name":"a","image":"redis:7"}]}},{"apiVersion":"v1","kind":"Pod","metadata":{"name":"second"},"spec":{"containers":[{"name":"b","image":"nginx:1.25"}]}}]}"#;
    let out = pin_stdin(dir.path(), &[], json);
    expect_code(&out, 2);
    assert_eq!(text(&out.stdout), json);
    assert!(
        stderr_of(&out).contains("not added to the ResourceList's results: the list is written as JSON or a flow mapping"),
        "{}",
        stderr_of(&out)
    );
    // No final newline: a newline added before `results` would change the
    // last value (a block scalar's, here).
    let no_newline = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p\n  spec:\n    containers:\n    - name: a\n      image: redis:7\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: script\n  data:\n    run.sh: |\n      echo hi";
    let out = pin_stdin(dir.path(), &[], no_newline);
    expect_code(&out, 2);
    assert_eq!(text(&out.stdout), no_newline);
    assert!(
        stderr_of(&out).contains("does not end with a newline"),
        "{}",
        stderr_of(&out)
    );
    // Results of an earlier function stay the only results, and stderr
    // says the new ones are not among them.
    let with_results = format!(
        "{}results:\n- message: from before\n  severity: info\n",
        resource_list("redis:7", NO_CONFIG)
    );
    let out = pin_stdin(dir.path(), &[], &with_results);
    expect_code(&out, 2);
    assert_eq!(text(&out.stdout), with_results);
    assert!(
        stderr_of(&out).contains("the list has results already"),
        "{}",
        stderr_of(&out)
    );
    // A trailing `---` still reads the function config.
    let config = "  apiVersion: imagelock.dev/v1alpha1\n  kind: Pin\n  spec:\n    pullPolicy: IfNotPresent\n";
    let out = pin_stdin(
        dir.path(),
        &[],
        &format!("{}---\n", resource_list("nginx:1.25", config)),
    );
    expect_code(&out, 0);
    assert_eq!(
        text(&out.stdout)
            .matches("imagePullPolicy: IfNotPresent")
            .count(),
        2
    );
}

#[test]
fn a_result_names_control_characters_as_yaml_escapes() {
    let dir = tempfile::tempdir().unwrap();
    lockfile(dir.path());
    let input = resource_list("redis:7", NO_CONFIG).replace("name: tool", "name: \"to\\u0080ol\"");
    let out = pin_stdin(dir.path(), &[], &input);
    expect_code(&out, 2);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("    name: \"to\\u0080ol\"\n  file:"),
        "{stdout}"
    );
    assert!(!stdout.contains('\u{80}'), "{stdout}");
}

/// A `ResourceList` whose keys come sorted (as Go writes a map:
/// `apiVersion`, `functionConfig`, `items`, `kind`) names its kind after
/// its items: a list longer than `pin -`'s first window (1 MiB) is still
/// read as one, its function config obeyed and its results added.
#[test]
fn a_resource_list_whose_kind_follows_a_long_items_list_is_a_function_call() {
    let dir = tempfile::tempdir().unwrap();
    lockfile(dir.path());
    let list = |last_image: &str| {
        let mut s = String::from("apiVersion: config.kubernetes.io/v1\nfunctionConfig:\n  apiVersion: imagelock.dev/v1alpha1\n  kind: Pin\n  metadata:\n    name: pin\n  spec:\n    pullPolicy: IfNotPresent\nitems:\n");
        let n = 5_000;
        for i in 0..n {
            let image = if i == n - 1 { last_image } else { "nginx:1.25" };
            s.push_str(&format!(
                "- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p{i}\n    annotations:\n      config.kubernetes.io/index: '{i}'\n      config.kubernetes.io/path: 'p{i}.yaml'\n  spec:\n    containers:\n    - name: app\n      image: {image}\n      args: [\"{}\"]\n",
                "x".repeat(100)
            ));
        }
        s.push_str("kind: ResourceList\n");
        s
    };
    let input = list("nginx:1.25");
    assert!(input.find("ResourceList").unwrap() > 1 << 20);
    let out = pin_stdin(dir.path(), &[], &input);
    expect_code(&out, 0);
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout
            .matches(&format!(
                "image: nginx:1.25@{DIGEST_A}\n      imagePullPolicy: IfNotPresent\n"
            ))
            .count(),
        5_000,
        "the function config's pull policy is applied"
    );
    assert!(
        text(&out.stderr).contains("in the ResourceList"),
        "{}",
        text(&out.stderr)
    );
    // A failed run returns the list unpinned, the error as a result.
    let input = list("redis:7");
    let out = pin_stdin(dir.path(), &[], &input);
    expect_code(&out, 2);
    let stdout = text(&out.stdout);
    let results = stdout
        .strip_prefix(input.as_str())
        .unwrap_or_else(|| panic!("the input does not come back unchanged"));
    assert!(
        results.starts_with(
            "results:\n- message: \"redis:7 (docker.io/library/redis:7) is not in images.lock\""
        ) && results.contains("path: \"p4999.yaml\""),
        "{results}"
    );
}
