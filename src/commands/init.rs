//! `imagelock init`: write a commented starter `imagelock.toml` for the
//! repository in the current directory, from what a scan of it finds
//! (files per input kind, the registries the references name, the paths
//! to scan). Never replaces an existing file without `--force`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use crate::config::FILE_NAME;
use crate::pipeline::scanning::{scan_each, Scanned};
use crate::report::{Diagnostics, Message};
use crate::scan::Context;
use crate::settings::{InitSettings, ScanSettings};

/// What the scan of the repository found.
#[derive(Debug, Default)]
struct Survey {
    /// Input kind → files holding references of that kind.
    kinds: BTreeMap<&'static str, BTreeSet<PathBuf>>,
    /// Registry → references naming it.
    registries: BTreeMap<String, usize>,
    /// Top-level directories and files holding references.
    paths: BTreeSet<PathBuf>,
    references: usize,
}

pub fn run(args: &InitSettings, diag: &mut Diagnostics) -> anyhow::Result<i32> {
    let target = Path::new(FILE_NAME);
    if target.exists() && !args.force {
        diag.emit(
            Message::error(format!("{FILE_NAME} exists already; left unchanged"))
                .code("exists")
                .hint(Some(
                    "edit it, or run `imagelock init --force` to replace it",
                )),
        );
        return Ok(crate::exit::ERROR);
    }
    let mut survey = Survey::default();
    // The whole repository as it stands, with no configuration yet.
    let everything = ScanSettings {
        paths: vec![PathBuf::from(".")],
        helm_values: Vec::new(),
        compose_env: false,
        filters: Default::default(),
    };
    let scanned = scan_each(&everything, diag, |event, _| {
        let Scanned::Part(file, part) = event else {
            return;
        };
        for image in &part.images {
            survey.references += 1;
            survey
                .kinds
                .entry(kind(&image.context))
                .or_default()
                .insert(file.path.clone());
            if !image.built() {
                *survey
                    .registries
                    .entry(image.reference.domain().to_string())
                    .or_default() += 1;
            }
            if let Some(top) = top_level(&file.path) {
                survey.paths.insert(top);
            }
        }
    });
    if scanned.failed > 0 {
        diag.say(format!(
            "{} file(s) could not be read; {FILE_NAME} describes the others",
            scanned.failed
        ));
    }
    fs_err::write(target, starter(&survey))?;
    diag.say(format!(
        "wrote {FILE_NAME}: {} reference(s) in {} file(s); review it, then run `imagelock lock`",
        survey.references,
        survey
            .kinds
            .values()
            .flatten()
            .collect::<BTreeSet<_>>()
            .len()
    ));
    Ok(diag.exit_status(0))
}

/// The input kind a reference was read as.
fn kind(context: &Context) -> &'static str {
    match context {
        Context::Kubernetes(_) => "Kubernetes manifests",
        Context::Compose(_) => "compose files",
        Context::Dockerfile(_) => "Dockerfiles",
        Context::HelmValues(_) => "Helm values files",
        Context::Workflow(_) => "GitHub workflows",
        Context::Kustomize(_) => "kustomizations",
    }
}

/// The first component of a path found by walking `.` (`deploy` for
/// `deploy/app/a.yaml`; the file itself at the top).
fn top_level(path: &Path) -> Option<PathBuf> {
    path.components()
        .find(|c| matches!(c, Component::Normal(_)))
        .map(|c| PathBuf::from(c.as_os_str()))
}

/// A TOML string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The commented file.
fn starter(s: &Survey) -> String {
    let mut out = String::new();
    out.push_str(
        "# imagelock.toml: imagelock's settings for this repository.\n\
         # Flags given on the command line override it; a list given as flags\n\
         # replaces the list here. Relative paths are relative to this file.\n#\n",
    );
    let files: BTreeSet<_> = s.kinds.values().flatten().collect();
    out.push_str(&format!(
        "# `imagelock init` found {} image reference(s) in {} file(s):\n",
        s.references,
        files.len()
    ));
    for (kind, files) in &s.kinds {
        out.push_str(&format!("#   {kind}: {} file(s)\n", files.len()));
    }
    if !s.registries.is_empty() {
        let names: Vec<String> = s
            .registries
            .iter()
            .map(|(r, n)| format!("{r} ({n})"))
            .collect();
        out.push_str(&format!("# Registries named: {}\n", names.join(", ")));
    }
    out.push_str("\n# What to scan when no path is given.\n");
    if s.paths.is_empty() {
        out.push_str("# paths = [\".\"]\n");
    } else {
        let paths: Vec<String> = s
            .paths
            .iter()
            .map(|p| quoted(&p.to_string_lossy()))
            .collect();
        out.push_str(&format!("paths = [{}]\n", paths.join(", ")));
    }
    out.push_str(
        "\n# Globs (relative to this file) the directory walk leaves out.\n\
         # exclude = [\"deploy/generated/**\"]\n\
         \n# Images this repository builds itself, as globs on the normalised name\n\
         # (`*` within one `/` part, `**` across): neither resolved nor reported\n\
         # missing or unpinned; `list` shows them as ignored.\n\
         # ignore-images = [\"registry.example.com/ours/*\"]\n\
         \n# Registry and credential options, under the flags' own names.\n\
         # plain-http = [\"127.0.0.1:5000\"]\n\
         # ca-files = [\"certs/ca.pem\"]\n\
         # platforms = [\"linux/amd64\", \"linux/arm64\"]\n\
         # concurrency = 64\n\
         # timeout = 30\n\
         # pull-secrets = [\"ci/pull-secret.json\"]\n\
         # credential-provider-config = \"ci/credential-providers.yaml\"\n\
         # credential-provider-bin-dir = \"ci/credential-provider-plugins\"\n\
         \n# Where the nodes pull from (the README's Mirrors section): `mirrors`,\n\
         # and a containerd `containerd-hosts-dir` or a CRI-O `registries-conf`.\n\
         # mirrors = [\"docker.io=mirror.example.com/dockerhub\"]\n\
         # containerd-hosts-dir = \"/etc/containerd/certs.d\"\n\
         \n# Custom image locations: values no built-in rule reads, such as an\n\
         # operator's argument. `kind` and `api-version` are globs; `pattern`'s\n\
         # group `image` marks the reference inside a longer string.\n\
         # [[location]]\n\
         # kind = \"Deployment\"\n\
         # path = \"spec.template.spec.containers[*].args[*]\"\n\
         # pattern = '^--prometheus-config-reloader=(?P<image>.+)$'\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_is_a_valid_configuration() {
        let mut s = Survey::default();
        s.paths.insert(PathBuf::from("deploy"));
        s.paths.insert(PathBuf::from("docker-compose.yaml"));
        s.registries.insert("docker.io".into(), 2);
        let text = starter(&s);
        let c = crate::config::parse(Path::new(FILE_NAME), &text).unwrap();
        assert_eq!(
            c.paths.unwrap(),
            vec![
                PathBuf::from("deploy"),
                PathBuf::from("docker-compose.yaml")
            ]
        );
        // Every commented setting is valid once uncommented.
        let uncommented: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = ") || l.starts_with("[["))
            .map(|l| format!("{l}\n"))
            .collect();
        crate::config::parse(Path::new(FILE_NAME), &uncommented).unwrap();
    }
}
