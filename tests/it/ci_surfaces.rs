//! Where results are seen: `check --format sarif` validated against the
//! official SARIF 2.1.0 schema, the GitHub Action's run steps executed as
//! GitHub runs them, the pre-commit hooks through the real `pre-commit`
//! (`try-repo`), shell completions and man pages.
//!
//! The action and pre-commit tests build imagelock with `cargo install`
//! exactly as the action and pre-commit do, into a target directory of
//! their own under the test target directory (reused from run to run), with
//! a fast release profile set through `CARGO_PROFILE_RELEASE_*`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use clap::CommandFactory;
use serde_json::Value;

use crate::support;
use crate::support::run::{expect_code, imagelock as run, text};

const LOCKED: &str = concat!(
    "sha256:",
    "aaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaa"
);
const OTHER: &str = concat!(
    "sha256:",
    "bbbbbbbbbbbbbbbb",
    "bbbbbbbbbbbbbbbb",
    "bbbbbbbbbbbbbbbb",
    "bbbbbbbbbbbbbbbb"
);

fn write(path: &Path, text: &str) {
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

/// A lockfile recording `LOCKED` for each docker.io name and tag.
fn lockfile(images: &[(&str, &str)]) -> String {
    let mut s = String::from("version = 1\n");
    for (name, tag) in images {
        s.push_str(&format!(
            "\n[[image]]\nname = \"docker.io/library/{name}\"\ntag = \"{tag}\"\ndigest = \"{LOCKED}\"\n"
        ));
    }
    s
}

fn pod(images: &[&str]) -> String {
    let mut s =
        String::from("apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  containers:\n");
    for (i, image) in images.iter().enumerate() {
        s.push_str(&format!("  - name: c{i}\n    image: {image}\n"));
    }
    s
}

// ---------------------------------------------------------------- SARIF

/// Findings of four kinds: nginx locked but unpinned, redis missing,
/// postgres pinned to another digest (in a file whose name needs
/// percent-encoding), an invalid reference.
fn sarif_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(
        &p.join("deploy/app.yaml"),
        &pod(&["nginx:1.25", "redis:7", "Invalid:Name"]),
    );
    write(
        &p.join("deploy/my db.yaml"),
        &pod(&[&format!("postgres:16@{OTHER}")]),
    );
    write(
        &p.join("images.lock"),
        &lockfile(&[("nginx", "1.25"), ("postgres", "16")]),
    );
    dir
}

fn schema_errors(doc: &Value) -> Vec<String> {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sarif/sarif-schema-2.1.0.json");
        serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap()
    });
    let validator = jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("the SARIF schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn sarif(dir: &Path, args: &[&str]) -> (Output, Value) {
    let mut all = vec!["check", "--format", "sarif"];
    all.extend_from_slice(args);
    let out = run(dir, &all);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    let errors = schema_errors(&doc);
    assert!(errors.is_empty(), "invalid SARIF: {errors:#?}\n{doc:#}");
    (out, doc)
}

fn results(doc: &Value) -> &Vec<Value> {
    doc["runs"][0]["results"].as_array().unwrap()
}

#[test]
fn check_sarif_is_valid_sarif_with_a_rule_per_kind_and_located_results() {
    let dir = sarif_tree();
    let (out, doc) = sarif(dir.path(), &["--require-pinned", "deploy"]);
    expect_code(&out, 1);
    assert_eq!(doc["version"], "2.1.0");
    // The validator is not vacuous: a wrong level or URI fails it.
    let mut bad = doc.clone();
    bad["runs"][0]["results"][0]["level"] = "fatal".into();
    bad["runs"][0]["tool"]["driver"]["informationUri"] = "not a uri".into();
    assert_eq!(schema_errors(&bad).len(), 2, "{:?}", schema_errors(&bad));
    let run0 = &doc["runs"][0];
    let driver = &run0["tool"]["driver"];
    assert_eq!(driver["name"], "imagelock");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let repository = env!("CARGO_PKG_REPOSITORY");
    if !repository.is_empty() {
        assert_eq!(driver["informationUri"], repository);
    }
    let rule_ids: Vec<&str> = driver["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rule_ids,
        [
            "missing",
            "mismatch",
            "unpinned",
            "drift",
            "invalid",
            "access",
            "mirror-missing",
            "mirror-stale",
            "blocked",
            "unsigned",
            "signature-invalid",
            "signature-gone"
        ]
    );
    for r in driver["rules"].as_array().unwrap() {
        assert!(
            r["shortDescription"]["text"].as_str().unwrap().len() > 10,
            "{r}"
        );
        assert!(
            r["help"]["text"].as_str().unwrap().contains("imagelock")
                || r["id"] == "invalid"
                || r["id"] == "access",
            "{r}"
        );
    }
    assert_eq!(run0["invocations"][0]["executionSuccessful"], true);
    assert_eq!(run0["invocations"][0]["exitCode"], 1);

    // The same findings, places and order as the JSON format's.
    let json_out = run(
        dir.path(),
        &["check", "--require-pinned", "--format", "json", "deploy"],
    );
    let json: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    let expected: Vec<(String, String, u64, u64)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["file"].as_str().unwrap().replace(' ', "%20"),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
            )
        })
        .collect();
    let got: Vec<(String, String, u64, u64)> = results(&doc)
        .iter()
        .map(|r| {
            let pl = &r["locations"][0]["physicalLocation"];
            assert_eq!(pl["artifactLocation"]["uriBaseId"], "%SRCROOT%", "{r}");
            (
                r["ruleId"].as_str().unwrap().to_string(),
                pl["artifactLocation"]["uri"].as_str().unwrap().to_string(),
                pl["region"]["startLine"].as_u64().unwrap(),
                pl["region"]["startColumn"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    let kinds: std::collections::BTreeSet<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["invalid", "mismatch", "missing", "unpinned"]
            .into_iter()
            .collect()
    );
    assert!(
        got.contains(&("missing".into(), "deploy/app.yaml".into(), 10, 12)),
        "{got:?}"
    );
    assert!(got.iter().any(|g| g.1 == "deploy/my%20db.yaml"), "{got:?}");

    let level = |kind: &str| {
        results(&doc)
            .iter()
            .find(|r| r["ruleId"] == kind)
            .map(|r| r["level"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(level("missing"), "warning");
    assert_eq!(level("unpinned"), "warning");
    assert_eq!(level("mismatch"), "error");
    assert_eq!(level("invalid"), "error");
    for r in results(&doc) {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(driver["rules"][index]["id"], r["ruleId"]);
        let fp = r["partialFingerprints"]["imagelock/v1"].as_str().unwrap();
        assert_eq!(fp.len(), 64, "{r}");
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
    }

    // Deterministic: the same bytes again, and from an absolute path.
    let again = run(
        dir.path(),
        &["check", "--require-pinned", "--format", "sarif", "deploy"],
    );
    assert_eq!(text(&again.stdout), text(&out.stdout));
    let absolute = dir.path().join("deploy");
    let abs = run(
        dir.path(),
        &[
            "check",
            "--require-pinned",
            "--format",
            "sarif",
            absolute.to_str().unwrap(),
        ],
    );
    assert_eq!(text(&abs.stdout), text(&out.stdout));
}

/// Fingerprint of each result by rule and reference.
fn fingerprints(doc: &Value) -> BTreeMap<(String, String), (String, u64)> {
    results(doc)
        .iter()
        .map(|r| {
            (
                (
                    r["ruleId"].as_str().unwrap().to_string(),
                    r["properties"]["reference"].as_str().unwrap().to_string(),
                ),
                (
                    r["partialFingerprints"]["imagelock/v1"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    r["locations"][0]["physicalLocation"]["region"]["startLine"]
                        .as_u64()
                        .unwrap(),
                ),
            )
        })
        .collect()
}

#[test]
fn check_sarif_fingerprints_stay_when_lines_are_inserted_above() {
    let dir = sarif_tree();
    let (_, before) = sarif(dir.path(), &["--require-pinned", "deploy"]);
    let app = dir.path().join("deploy/app.yaml");
    let old = fs_err::read_to_string(&app).unwrap();
    write(&app, &format!("# one\n# two\n# three\n{old}"));
    let (_, after) = sarif(dir.path(), &["--require-pinned", "deploy"]);
    let (before, after) = (fingerprints(&before), fingerprints(&after));
    assert_eq!(before.len(), 4, "{before:?}");
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    let mut moved = 0;
    for (k, (fp, line)) in &before {
        let (fp_after, line_after) = &after[k];
        assert_eq!(fp, fp_after, "{k:?} changed its fingerprint");
        if *line_after == line + 3 {
            moved += 1;
        }
    }
    // Every finding in app.yaml moved three lines down (postgres did not).
    assert_eq!(moved, 3, "{before:?} {after:?}");
    let unique: std::collections::BTreeSet<&String> = before.values().map(|v| &v.0).collect();
    assert_eq!(unique.len(), before.len());
}

#[test]
fn check_sarif_reports_run_errors_as_tool_execution_notifications() {
    let dir = sarif_tree();
    write(
        &dir.path().join("deploy/broken.yaml"),
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: [unclosed\n",
    );
    let (out, doc) = sarif(dir.path(), &["deploy"]);
    expect_code(&out, 2);
    let invocation = &doc["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    assert_eq!(invocation["exitCode"], 2);
    let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
    let parse: Vec<&Value> = notes.iter().filter(|n| n["level"] == "error").collect();
    assert_eq!(parse.len(), 1, "{notes:#?}");
    assert_eq!(parse[0]["descriptor"]["id"], "parse");
    let at = &parse[0]["locations"][0]["physicalLocation"];
    assert_eq!(at["artifactLocation"]["uri"], "deploy/broken.yaml");
    assert!(at["region"]["startLine"].as_u64().is_some());
    // The findings of the files that parsed are still there.
    assert!(results(&doc).iter().any(|r| r["ruleId"] == "missing"));

    // A run that stops before checking is a SARIF log all the same.
    let (out, doc) = sarif(dir.path(), &["--lockfile", "deploy", "deploy"]);
    expect_code(&out, 2);
    let invocation = &doc["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let message = invocation["toolExecutionNotifications"][0]["message"]["text"]
        .as_str()
        .unwrap();
    assert!(message.contains("is a directory"), "{message}");
    assert_eq!(results(&doc).len(), 0);
}

// ------------------------------------------------- completions and man

#[test]
fn bash_completion_script_loads_and_registers_imagelock() {
    let bin = support::run::bin();
    let script = format!(
        "source <('{}' completions bash) && complete -p imagelock",
        bin.display()
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("bash runs");
    expect_code(&out, 0);
    assert!(
        text(&out.stdout).contains("-F _imagelock imagelock"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn completions_for_every_shell_name_the_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(dir.path(), &["completions", shell]);
        expect_code(&out, 0);
        let script = text(&out.stdout);
        for sub in ["check", "lock", "pin", "completions"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
        assert!(script.contains("require-pinned"), "{shell}");
    }
    let out = run(dir.path(), &["completions", "tcsh"]);
    expect_code(&out, 2);
}

#[test]
fn man_page_lists_every_subcommand_and_one_page_each() {
    // No lockfile, even a --lockfile that could not be one: man needs none.
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["--lockfile", "/nonexistent/dir/x.lock", "man"],
    );
    expect_code(&out, 0);
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH imagelock 1"),
        "{page}"
    );
    assert!(page.contains(".TH imagelock 1"), "{page}");
    let cli = imagelock::cli::Cli::command();
    let names: Vec<&str> = cli.get_subcommands().map(clap::Command::get_name).collect();
    assert!(names.len() >= 8, "{names:?}");
    for name in &names {
        assert!(
            page.contains(&format!("imagelock\\-{name}(1)")),
            "the man page lacks {name}"
        );
    }
    let out = run(dir.path(), &["man", "check"]);
    expect_code(&out, 0);
    let check = text(&out.stdout);
    assert!(check.contains(".TH imagelock-check 1"), "{check}");
    assert!(
        check.contains(&format!("\"imagelock {}\"", env!("CARGO_PKG_VERSION"))),
        "{check}"
    );
    assert!(check.contains("\\-\\-require\\-pinned"), "{check}");
    assert!(check.contains("sarif"), "{check}");
    let out = run(dir.path(), &["man", "nope"]);
    expect_code(&out, 2);
    assert!(text(&out.stderr).contains("no subcommand \"nope\""));
}

// ---------------------------------------------------------- installs

/// Where `cargo install` builds and pre-commit keeps its environments:
/// under the test target directory, kept between runs.
fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ci-surfaces");
    fs_err::create_dir_all(&dir).unwrap();
    dir
}

/// The environment of a `cargo install`: a target directory of its own
/// and a release profile that compiles fast (the install is what is
/// tested, not the optimiser).
fn install_env(cmd: &mut Command) -> &mut Command {
    cmd.env("CARGO_TARGET_DIR", scratch().join("target"))
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256")
        .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "false")
        .env_remove("RUST_LOG")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "imagelock tests")
        .env("GIT_AUTHOR_EMAIL", "tests@imagelock.invalid")
        .env("GIT_COMMITTER_NAME", "imagelock tests")
        .env("GIT_COMMITTER_EMAIL", "tests@imagelock.invalid")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git is installed (apt-get install git)");
    expect_code(&out, 0);
    text(&out.stdout).trim().to_string()
}

/// The project as committed plus the working tree's changes, as one commit
/// of a repository of its own with fixed dates: the same sources make the
/// same commit, so pre-commit reuses its build from run to run.
fn snapshot() -> &'static Path {
    static SNAPSHOT: OnceLock<PathBuf> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let project = Path::new(env!("CARGO_MANIFEST_DIR"));
        let files = git(
            project,
            &[
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
        );
        let dir = scratch().join("snapshot");
        if dir.exists() {
            fs_err::remove_dir_all(&dir).unwrap();
        }
        fs_err::create_dir_all(&dir).unwrap();
        for file in files.split('\0').filter(|f| !f.is_empty()) {
            let from = project.join(file);
            if !from.is_file() {
                continue; // deleted in the working tree
            }
            let to = dir.join(file);
            fs_err::create_dir_all(to.parent().unwrap()).unwrap();
            fs_err::copy(&from, &to).unwrap();
        }
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-q", "-m", "snapshot"]);
        forget_older_builds(&git(&dir, &["rev-parse", "HEAD"]));
        dir
    })
}

/// When the snapshot changed, drop pre-commit's environments and the
/// imagelock builds of older snapshots, so the scratch directory does not
/// grow by a build per change (dependencies stay built).
fn forget_older_builds(commit: &str) {
    let marker = scratch().join("snapshot-commit");
    if fs_err::read_to_string(&marker).ok().as_deref() == Some(commit) {
        return;
    }
    let home = scratch().join("pre-commit-home");
    if home.exists() {
        fs_err::remove_dir_all(&home).unwrap();
    }
    let release = scratch().join("target/release");
    for sub in ["deps", ".fingerprint", "build"] {
        let Ok(entries) = fs_err::read_dir(release.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("imagelock-") || name.starts_with("libimagelock-") {
                let path = entry.path();
                if path.is_dir() {
                    fs_err::remove_dir_all(&path).unwrap();
                } else {
                    fs_err::remove_file(&path).unwrap();
                }
            }
        }
    }
    fs_err::write(&marker, commit).unwrap();
}

// ------------------------------------------------------- GitHub Action

/// `${{ … }}` expressions of action.yml, by name.
type Context = BTreeMap<String, String>;

fn substitute(s: &str, ctx: &Context) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed expression") + start;
        let expr = rest[start + 3..end].trim();
        let value = ctx
            .get(expr)
            .unwrap_or_else(|| panic!("action.yml uses ${{{{ {expr} }}}}, unknown to this test"));
        out.push_str(value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// What running the action did: each step's outputs, the last step's
/// output and exit code.
struct ActionRun {
    outputs: Context,
    code: i32,
    stdout: String,
    stderr: String,
    ran: Vec<String>,
}

/// Run action.yml's steps as GitHub's runner does: each `run:` with `bash
/// --noprofile --norc -eo pipefail FILE`, expressions substituted, the
/// runner's variables set, `GITHUB_OUTPUT` read after each step,
/// `GITHUB_PATH` prepended to `PATH` for the steps after; the
/// `actions/cache` step is skipped (a cache miss). Stops after `until` or
/// at the first failing step.
fn run_action(
    action_path: &Path,
    workspace: &Path,
    runner: &Path,
    inputs: &[(&str, &str)],
    until: Option<&str>,
) -> ActionRun {
    let action_yml = fs_err::read_to_string(action_path.join("action.yml")).unwrap();
    let action = imagelock::yaml::value::document(&action_yml).unwrap();
    assert_eq!(action["runs"]["using"], "composite");
    let mut ctx = Context::new();
    for (name, spec) in action["inputs"].as_object().unwrap() {
        let default = spec["default"].as_str().unwrap_or_default().to_string();
        ctx.insert(format!("inputs.{name}"), default);
    }
    ctx.insert("github.workspace".into(), workspace.display().to_string());
    ctx.insert("github.server_url".into(), "https://github.com".into());
    ctx.insert("github.action_repository".into(), "owner/imagelock".into());
    ctx.insert("github.action_ref".into(), "v1".into());
    // `github.*` entries stand in for the runner's context.
    for (name, value) in inputs {
        let key = if name.starts_with("github.") {
            name.to_string()
        } else {
            format!("inputs.{name}")
        };
        assert!(ctx.contains_key(&key), "action.yml has no {key}");
        ctx.insert(key, value.to_string());
    }
    let temp = runner.join("temp");
    let tool_cache = runner.join("tool-cache");
    fs_err::create_dir_all(&temp).unwrap();
    fs_err::create_dir_all(&tool_cache).unwrap();
    let mut path = std::env::var("PATH").unwrap();
    let mut last = ActionRun {
        outputs: Context::new(),
        code: 0,
        stdout: String::new(),
        stderr: String::new(),
        ran: Vec::new(),
    };
    for (i, step) in action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        if let Some(uses) = step["uses"].as_str() {
            assert!(uses.starts_with("actions/cache@"), "unexpected step {uses}");
            continue;
        }
        assert_eq!(step["shell"], "bash", "{step}");
        let id = step["id"].as_str().map(str::to_string);
        let script_file = temp.join(format!("step-{i}.sh"));
        fs_err::write(
            &script_file,
            substitute(step["run"].as_str().unwrap(), &ctx),
        )
        .unwrap();
        let output_file = temp.join(format!("output-{i}"));
        let path_file = temp.join(format!("path-{i}"));
        fs_err::write(&output_file, "").unwrap();
        fs_err::write(&path_file, "").unwrap();
        let cwd = match step["working-directory"].as_str() {
            Some(d) => PathBuf::from(substitute(d, &ctx)),
            None => workspace.to_path_buf(),
        };
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script_file)
            .current_dir(cwd)
            .env("PATH", &path)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_ACTION_PATH", action_path)
            .env("GITHUB_WORKSPACE", workspace)
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_PATH", &path_file)
            .env("RUNNER_TEMP", &temp)
            .env("RUNNER_TOOL_CACHE", &tool_cache)
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64");
        install_env(&mut cmd);
        if let Some(env) = step["env"].as_object() {
            for (k, v) in env {
                cmd.env(k, substitute(v.as_str().unwrap(), &ctx));
            }
        }
        let out = cmd.output().unwrap();
        last.code = out.status.code().unwrap_or(-1);
        last.stdout = text(&out.stdout);
        last.stderr = text(&out.stderr);
        last.ran
            .push(step["name"].as_str().unwrap_or_default().to_string());
        for line in fs_err::read_to_string(&output_file).unwrap().lines() {
            let (k, v) = line.split_once('=').expect("name=value in GITHUB_OUTPUT");
            if let Some(id) = &id {
                ctx.insert(format!("steps.{id}.outputs.{k}"), v.to_string());
            }
            last.outputs.insert(k.to_string(), v.to_string());
        }
        for dir in fs_err::read_to_string(&path_file).unwrap().lines().rev() {
            path = format!("{dir}:{path}");
        }
        if last.code != 0 || id.as_deref() == until && until.is_some() {
            break;
        }
    }
    if last.code == 0 && until.is_none() {
        // The action's outputs, as its caller would see them.
        for (name, spec) in action["outputs"].as_object().unwrap() {
            let value = substitute(spec["value"].as_str().unwrap(), &ctx);
            last.outputs.insert(format!("action.{name}"), value);
        }
    }
    last
}

#[test]
fn action_installs_imagelock_and_exits_with_its_code() {
    let action_path = snapshot();
    let runner = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let ws = workspace.path();
    write(&ws.join("k8s/app.yaml"), &pod(&["nginx:1.25", "redis:7"]));
    write(&ws.join("images.lock"), &lockfile(&[("nginx", "1.25")]));

    // redis is missing: exit 1, an annotation on its line.
    let first = run_action(
        action_path,
        ws,
        runner.path(),
        &[("args", "--format github"), ("paths", "k8s")],
        None,
    );
    assert_eq!(first.code, 1, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.ran.len(), 3, "{:?}", first.ran);
    assert_eq!(first.outputs["exit-code"], "1");
    assert!(
        first
            .stdout
            .contains("::error file=k8s/app.yaml,line=10,col=12,title=imagelock::missing"),
        "{}",
        first.stdout
    );
    let key = &first.outputs["key"];
    assert!(key.starts_with("imagelock-Linux-X64-v1-"), "{key}");

    // Locked: exit 0; the installed binary is found and not rebuilt (as
    // after a cache hit), and the action's output is the exit code.
    write(
        &ws.join("images.lock"),
        &lockfile(&[("nginx", "1.25"), ("redis", "7")]),
    );
    let second = run_action(
        action_path,
        ws,
        runner.path(),
        &[("args", "--format github"), ("paths", "k8s")],
        None,
    );
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert_eq!(second.outputs["action.exit-code"], "0");
    assert_eq!(&second.outputs["key"], key);

    // SARIF into a file (its directory made), for upload-sarif; the step
    // still fails on findings.
    write(&ws.join("k8s/more.yaml"), &pod(&["busybox:1"]));
    let sarif_run = run_action(
        action_path,
        ws,
        runner.path(),
        &[
            ("args", "--format sarif"),
            ("paths", "k8s"),
            ("output", "results/imagelock.sarif"),
        ],
        None,
    );
    assert_eq!(
        sarif_run.code, 1,
        "{}\n{}",
        sarif_run.stdout, sarif_run.stderr
    );
    assert_eq!(sarif_run.stdout, "");
    let doc: Value =
        serde_json::from_str(&fs_err::read_to_string(ws.join("results/imagelock.sarif")).unwrap())
            .unwrap();
    assert!(schema_errors(&doc).is_empty());
    let uris: Vec<&str> = results(&doc)
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(uris, ["k8s/more.yaml"]);
    fs_err::remove_file(ws.join("k8s/more.yaml")).unwrap();

    // Arguments with shell characters are words, never code.
    let third = run_action(
        action_path,
        ws,
        runner.path(),
        &[("args", "--format json $(touch pwned) ;"), ("paths", "k8s")],
        None,
    );
    assert_eq!(third.code, 2, "{}\n{}", third.stdout, third.stderr);
    assert!(!ws.join("pwned").exists());
}

#[test]
fn action_version_builds_that_ref_of_the_action_repository() {
    let repo = snapshot();
    let commit = git(repo, &["rev-parse", "HEAD"]);
    let runner = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let server = repo.parent().unwrap();
    let run = run_action(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        workspace.path(),
        runner.path(),
        &[
            ("version", "main"),
            ("github.server_url", &format!("file://{}", server.display())),
            (
                "github.action_repository",
                repo.file_name().unwrap().to_str().unwrap(),
            ),
        ],
        Some("source"),
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let dir = Path::new(&run.outputs["dir"]);
    assert_eq!(git(dir, &["rev-parse", "HEAD"]), commit);
    assert!(dir.join("Cargo.lock").is_file());
    assert!(
        run.outputs["key"].contains(&commit),
        "{}",
        run.outputs["key"]
    );
}

// ----------------------------------------------------------- pre-commit

fn pre_commit() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("pre-commit"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("pre-commit is not installed: `scripts/test.sh` installs it, or run `pip install pre-commit`")
    })
}

/// A git repository holding `files`, all added.
fn repo_with(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    for (name, content) in files {
        write(&dir.path().join(name), content);
    }
    git(dir.path(), &["add", "-A"]);
    dir
}

/// `pre-commit try-repo <snapshot> HOOK --all-files` in `repo`.
fn try_repo(repo: &Path, hook: &str) -> Output {
    let snapshot = snapshot();
    let mut cmd = Command::new(pre_commit());
    cmd.current_dir(repo)
        .args([
            "try-repo",
            snapshot.to_str().unwrap(),
            hook,
            "--all-files",
            "--color",
            "never",
        ])
        .env("PRE_COMMIT_HOME", scratch().join("pre-commit-home"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    install_env(&mut cmd);
    cmd.output().unwrap()
}

fn pinned(image: &str) -> String {
    format!("{image}@{LOCKED}")
}

#[test]
fn pre_commit_check_fails_on_an_unpinned_manifest() {
    let repo = repo_with(&[
        ("pinned.yaml", pod(&[&pinned("nginx:1.25")])),
        ("unpinned.yaml", pod(&["redis:7"])),
        (
            "images.lock",
            lockfile(&[("nginx", "1.25"), ("redis", "7")]),
        ),
    ]);
    let out = try_repo(repo.path(), "imagelock-check");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("Failed"), "{all}");
    assert!(all.contains("unpinned.yaml:8:12: unpinned"), "{all}");
    assert!(!all.contains(" pinned.yaml:"), "{all}");
}

#[test]
fn pre_commit_check_passes_when_everything_is_pinned() {
    let repo = repo_with(&[
        ("a.yaml", pod(&[&pinned("nginx:1.25")])),
        ("b/c.yaml", pod(&[&pinned("redis:7")])),
        (
            "images.lock",
            lockfile(&[("nginx", "1.25"), ("redis", "7")]),
        ),
    ]);
    let out = try_repo(repo.path(), "imagelock-check");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("Passed"), "{all}");
}

#[test]
fn pre_commit_lock_check_wants_every_reference_locked_not_pinned() {
    // Locked but not pinned: the lockfile covers it.
    let covered = repo_with(&[
        ("a.yaml", pod(&["nginx:1.25"])),
        ("images.lock", lockfile(&[("nginx", "1.25")])),
    ]);
    let out = try_repo(covered.path(), "imagelock-lock-check");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");

    let uncovered = repo_with(&[
        ("a.yaml", pod(&["nginx:1.25", "redis:7"])),
        ("images.lock", lockfile(&[("nginx", "1.25")])),
    ]);
    let out = try_repo(uncovered.path(), "imagelock-lock-check");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("a.yaml:10:12: missing"), "{all}");
}
