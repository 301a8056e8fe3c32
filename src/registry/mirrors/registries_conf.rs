//! containers `registries.conf` (version 2, as CRI-O and Podman read it):
//! `[[registry]]` tables with `prefix` (default: `location`), `location`,
//! `insecure`, `mirror-by-digest-only`, and `[[registry.mirror]]` tables
//! with `location`, `insecure` and `pull-from-mirror` (`all`,
//! `digest-only`, `tag-only`). The table whose `prefix` matches longest
//! wins; the matched prefix is replaced by each mirror's location, then by
//! the registry's own `location` (tried last). `*.example.com` prefixes
//! match subdomains. Drop-ins: `registries.conf.d/*.conf` beside the file,
//! in lexical order, each `[[registry]]` replacing one with the same prefix.
//! `blocked = true` on the table that matches a name refuses pulls of it
//! (as does a version 1 `[registries.block] registries = [...]` list)
//! ([`RegistriesConf::blocked`]): the node pulls nothing under that prefix,
//! from its location or its mirrors (a longer prefix that is not blocked
//! wins over a shorter blocked one, as for everything else).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{join_path, normalize_upstream, under, Endpoint, HostTls, MirrorError};
use crate::reference::Reference;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawFile {
    #[serde(default)]
    registry: Vec<RawRegistry>,
    /// Version 1 tables (`[registries.block]`), still read by
    /// containers/image: only `block` matters here.
    registries: Option<RawV1>,
}

#[derive(Debug, Default, Deserialize)]
struct RawV1 {
    block: Option<RawV1List>,
}

#[derive(Debug, Default, Deserialize)]
struct RawV1List {
    #[serde(default)]
    registries: Vec<toml::Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawRegistry {
    prefix: Option<String>,
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    /// Where `blocked` is written, to point at it.
    blocked: Option<toml::Spanned<bool>>,
    #[serde(default)]
    mirror: Vec<RawMirror>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawMirror {
    location: String,
    #[serde(default)]
    insecure: bool,
    pull_from_mirror: Option<String>,
}

/// Which pulls use a mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PullFrom {
    All,
    DigestOnly,
    TagOnly,
}

#[derive(Debug, Clone)]
struct MirrorEntry {
    location: String,
    insecure: bool,
    pull_from: PullFrom,
}

#[derive(Debug, Clone)]
struct Registry {
    prefix: String,
    location: String,
    insecure: bool,
    mirrors: Vec<MirrorEntry>,
    /// The file that defined it.
    source: PathBuf,
    /// `blocked = true`: its line and column in `source`.
    blocked: Option<(usize, usize)>,
}

/// A name whose pulls a `registries.conf` refuses (`blocked = true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The `[[registry]]` prefix that matched.
    pub prefix: String,
    /// The file (or drop-in) that sets `blocked = true`.
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Blocked {
    /// What the block means for `reference`, said at each use (a `list`
    /// warning, a `check` finding, a reference `lock` keeps).
    pub fn refusal(&self, reference: &Reference) -> String {
        format!(
            "{reference}: {}:{}:{} sets `blocked = true` for the prefix {:?}: nodes using it refuse to pull this image",
            self.file.display(),
            self.line,
            self.column,
            self.prefix
        )
    }
}

/// The file and its drop-ins, merged.
#[derive(Debug, Clone, Default)]
pub struct RegistriesConf {
    registries: Vec<Registry>,
}

impl RegistriesConf {
    /// Read `file` and the `*.conf` files of `registries.conf.d` beside it.
    pub fn load(file: &Path) -> Result<RegistriesConf, MirrorError> {
        let mut conf = RegistriesConf::default();
        conf.merge(file, &fs_err::read_to_string(file)?)?;
        let dropins = file
            .parent()
            .unwrap_or(Path::new("."))
            .join("registries.conf.d");
        if dropins.is_dir() {
            let mut files: Vec<PathBuf> = fs_err::read_dir(&dropins)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "conf"))
                .collect();
            files.sort();
            for f in files {
                let text = fs_err::read_to_string(&f)?;
                conf.merge(&f, &text)?;
            }
        }
        Ok(conf)
    }

    /// Add the `[[registry]]` tables of `text` (read from `file`).
    pub fn merge(&mut self, file: &Path, text: &str) -> Result<(), MirrorError> {
        let invalid = |message: String| MirrorError::Invalid {
            path: file.to_path_buf(),
            message,
        };
        // A syntax or type error names its line:column, as `blocked` does.
        let raw: RawFile = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => {
                let (line, column) = crate::lockfile::line_col(text, span.start);
                MirrorError::Invalid {
                    path: PathBuf::from(format!("{}:{line}:{column}", file.display())),
                    message: e.message().to_string(),
                }
            }
            None => invalid(e.message().to_string()),
        })?;
        // Version 1: `[registries.block] registries = ["host", …]`, each
        // a blocked registry of its own.
        let v1_blocked = raw
            .registries
            .and_then(|r| r.block)
            .map(|b| b.registries)
            .unwrap_or_default();
        for name in v1_blocked {
            let prefix = normalize_upstream(name.get_ref());
            let reg = Registry {
                location: prefix.clone(),
                prefix,
                insecure: false,
                mirrors: Vec::new(),
                source: file.to_path_buf(),
                blocked: Some(crate::lockfile::line_col(text, name.span().start)),
            };
            match self.registries.iter_mut().find(|x| x.prefix == reg.prefix) {
                Some(slot) => *slot = reg,
                None => self.registries.push(reg),
            }
        }
        for r in raw.registry {
            let location = normalize_upstream(r.location.as_deref().unwrap_or_default());
            let prefix = match &r.prefix {
                Some(p) => normalize_upstream(p),
                None => location.clone(),
            };
            if prefix.is_empty() {
                return Err(invalid(
                    "a [[registry]] table has neither prefix nor location".into(),
                ));
            }
            let mut mirrors = Vec::new();
            for m in r.mirror {
                let pull_from = match (m.pull_from_mirror.as_deref(), r.mirror_by_digest_only) {
                    (_, true) => PullFrom::DigestOnly,
                    (None | Some("" | "all"), false) => PullFrom::All,
                    (Some("digest-only"), false) => PullFrom::DigestOnly,
                    (Some("tag-only"), false) => PullFrom::TagOnly,
                    (Some(other), false) => {
                        return Err(invalid(format!(
                            "pull-from-mirror = {other:?} for mirror {:?}: expected \"all\", \"digest-only\" or \"tag-only\"",
                            m.location
                        )))
                    }
                };
                mirrors.push(MirrorEntry {
                    location: m.location.trim_end_matches('/').to_string(),
                    insecure: m.insecure,
                    pull_from,
                });
            }
            let blocked = r
                .blocked
                .filter(|b| *b.get_ref())
                .map(|b| crate::lockfile::line_col(text, b.span().start));
            let reg = Registry {
                prefix,
                location,
                insecure: r.insecure,
                mirrors,
                source: file.to_path_buf(),
                blocked,
            };
            match self.registries.iter_mut().find(|x| x.prefix == reg.prefix) {
                Some(slot) => *slot = reg,
                None => self.registries.push(reg),
            }
        }
        Ok(())
    }

    /// The `[[registry]]` whose prefix matches `name` longest, and the rest
    /// of the name after the prefix (for `*.domain`, the whole name and the
    /// matched host).
    fn matching(&self, name: &str) -> Option<(&Registry, String, String)> {
        let host = name.split('/').next().unwrap_or_default();
        self.registries
            .iter()
            .filter_map(|r| {
                if let Some(domain) = r.prefix.strip_prefix("*.") {
                    let matches = host.ends_with(&format!(".{domain}"));
                    let rest = name[host.len()..].trim_start_matches('/').to_string();
                    return matches.then(|| (r, host.to_string(), rest));
                }
                under(name, &r.prefix).map(|rest| (r, r.prefix.clone(), rest.to_string()))
            })
            // Of prefixes of one length the first wins, as containers/image
            // keeps the first (`*.example.com` and `b.example.com` tie).
            .fold(
                None,
                |best: Option<(&Registry, String, String)>, m| match best {
                    Some(b) if b.0.prefix.len() >= m.0.prefix.len() => Some(b),
                    _ => Some(m),
                },
            )
    }

    /// Where pulls of `reference` are refused: the `[[registry]]` table
    /// that matches its name longest says `blocked = true`.
    pub fn blocked(&self, reference: &Reference) -> Option<Blocked> {
        let (reg, _, _) = self.matching(&reference.name())?;
        let (line, column) = reg.blocked?;
        Some(Blocked {
            prefix: reg.prefix.clone(),
            file: reg.source.clone(),
            line,
            column,
        })
    }

    /// The hosts a node tries for `reference`: the mirrors of the matching
    /// table, then its location (the upstream when it is the reference's
    /// own registry).
    pub fn route(&self, reference: &Reference) -> Vec<Endpoint> {
        let name = reference.name();
        let Some((reg, matched, rest)) = self.matching(&name) else {
            return vec![super::default_upstream(reference)];
        };
        let source = reg.source.display().to_string();
        let at = |location: &str, insecure: bool, by_digest, by_tag, upstream| {
            let location = if location.is_empty() {
                matched.as_str()
            } else {
                location
            };
            let (host, prefix) = location.split_once('/').unwrap_or((location, ""));
            Endpoint {
                host: host.to_ascii_lowercase(),
                scheme: "https",
                root: "/v2".into(),
                path: join_path(prefix, &rest),
                by_digest,
                by_tag,
                upstream,
                tls: HostTls {
                    ca_files: Vec::new(),
                    skip_verify: false,
                    insecure,
                },
                source: source.clone(),
            }
        };
        let mut out: Vec<Endpoint> = reg
            .mirrors
            .iter()
            .map(|m| {
                at(
                    &m.location,
                    m.insecure,
                    m.pull_from != PullFrom::TagOnly,
                    m.pull_from != PullFrom::DigestOnly,
                    false,
                )
            })
            .collect();
        let mut primary = at(&reg.location, reg.insecure, true, true, false);
        primary.upstream = primary.name() == name;
        if primary.upstream {
            primary.host = reference.domain().to_string();
        }
        out.push(primary);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> RegistriesConf {
        let mut c = RegistriesConf::default();
        c.merge(Path::new("/etc/containers/registries.conf"), text)
            .unwrap();
        c
    }

    fn names(route: &[Endpoint]) -> Vec<String> {
        route.iter().map(Endpoint::name).collect()
    }

    /// The example of containers-registries.conf(5).
    #[test]
    fn documented_example_remaps_the_prefix() {
        let c = conf(
            r#"
unqualified-search-registries = ["example.com"]

[[registry]]
prefix = "example.com/foo"
insecure = false
blocked = false
location = "internal-registry-for-example.com/bar"

[[registry.mirror]]
location = "example-mirror-0.local/mirror-for-foo"

[[registry.mirror]]
location = "example-mirror-1.local/mirrors/foo"
insecure = true
"#,
        );
        let route = c.route(&Reference::parse("example.com/foo/image:latest").unwrap());
        assert_eq!(
            names(&route),
            vec![
                "example-mirror-0.local/mirror-for-foo/image",
                "example-mirror-1.local/mirrors/foo/image",
                "internal-registry-for-example.com/bar/image",
            ]
        );
        assert!(route[1].tls.insecure);
        // The remapped location is not the registry the reference names.
        assert!(!route[2].upstream);
    }

    #[test]
    fn longest_prefix_wins_and_pull_from_mirror_filters() {
        let c = conf(
            r#"
[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "all.local/hub"

[[registry]]
prefix = "docker.io/library"
location = "docker.io/library"
[[registry.mirror]]
location = "digests.local/lib"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tags.local/lib"
pull-from-mirror = "tag-only"
"#,
        );
        let route = c.route(&Reference::parse("nginx:1.25").unwrap());
        assert_eq!(
            names(&route),
            vec![
                "digests.local/lib/nginx",
                "tags.local/lib/nginx",
                "docker.io/library/nginx"
            ]
        );
        assert!(route[0].by_digest && !route[0].by_tag);
        assert!(!route[1].by_digest && route[1].by_tag);
        assert!(route[2].upstream);
        let route = c.route(&Reference::parse("bitnami/redis:7").unwrap());
        assert_eq!(
            names(&route),
            vec!["all.local/hub/bitnami/redis", "docker.io/bitnami/redis"]
        );
        // A prefix matches at a path boundary only.
        let c2 = conf("[[registry]]\nprefix = \"quay.io/a\"\nlocation = \"m.local\"\n");
        assert!(c2.route(&Reference::parse("quay.io/ab/c:1").unwrap())[0].upstream);
    }

    #[test]
    fn mirror_by_digest_only_and_wildcards() {
        let c = conf(
            r#"
[[registry]]
prefix = "*.example.com"
mirror-by-digest-only = true
[[registry.mirror]]
location = "cache.local"
"#,
        );
        let route = c.route(&Reference::parse("a.example.com/x/y:1").unwrap());
        assert_eq!(names(&route), vec!["cache.local/x/y", "a.example.com/x/y"]);
        assert!(route[0].by_digest && !route[0].by_tag);
        assert!(route[1].upstream);
    }

    #[test]
    fn dropins_replace_a_prefix_in_lexical_order() {
        let d = tempfile::tempdir().unwrap();
        let main = d.path().join("registries.conf");
        fs_err::write(
            &main,
            "[[registry]]\nlocation = \"quay.io\"\n[[registry.mirror]]\nlocation = \"old.local\"\n",
        )
        .unwrap();
        let dropins = d.path().join("registries.conf.d");
        fs_err::create_dir_all(&dropins).unwrap();
        fs_err::write(
            dropins.join("20-b.conf"),
            "[[registry]]\nprefix = \"quay.io\"\nlocation = \"quay.io\"\n[[registry.mirror]]\nlocation = \"b.local\"\n",
        )
        .unwrap();
        fs_err::write(
            dropins.join("10-a.conf"),
            "[[registry]]\nlocation = \"quay.io\"\n[[registry.mirror]]\nlocation = \"a.local\"\n",
        )
        .unwrap();
        fs_err::write(dropins.join("ignored.txt"), "not toml [").unwrap();
        let c = RegistriesConf::load(&main).unwrap();
        let route = c.route(&Reference::parse("quay.io/o/r:1").unwrap());
        assert_eq!(names(&route), vec!["b.local/o/r", "quay.io/o/r"]);
        assert!(route[0].source.ends_with("20-b.conf"));
    }

    #[test]
    fn blocked_is_read_with_its_position_and_the_longest_prefix_decides() {
        let c = conf(
            "[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\nblocked = true\n\n[[registry]]\nprefix = \"docker.io/library\"\nlocation = \"docker.io/library\"\n\n[[registry]]\nlocation = \"quay.io\"\nblocked = false\n",
        );
        let b = c
            .blocked(&Reference::parse("bitnami/redis:7").unwrap())
            .unwrap();
        assert_eq!((b.prefix.as_str(), b.line, b.column), ("docker.io", 4, 11));
        assert_eq!(b.file, Path::new("/etc/containers/registries.conf"));
        // A longer prefix that is not blocked wins.
        assert!(c
            .blocked(&Reference::parse("nginx:1.25").unwrap())
            .is_none());
        assert!(c
            .blocked(&Reference::parse("quay.io/a/b:1").unwrap())
            .is_none());
        assert!(c
            .blocked(&Reference::parse("ghcr.io/a/b:1").unwrap())
            .is_none());
    }

    #[test]
    fn version_1_block_lists_are_blocked_registries() {
        let c = conf("[registries.search]\nregistries = ['docker.io']\n\n[registries.block]\nregistries = ['quay.io', \"evil.example\"]\n");
        let b = c
            .blocked(&Reference::parse("evil.example/a/b:1").unwrap())
            .unwrap();
        assert_eq!(
            (b.prefix.as_str(), b.line, b.column),
            ("evil.example", 5, 26)
        );
        assert!(c
            .blocked(&Reference::parse("quay.io/a/b:1").unwrap())
            .is_some());
        assert!(c.blocked(&Reference::parse("nginx:1").unwrap()).is_none());
    }

    #[test]
    fn bad_pull_from_mirror_names_the_file() {
        let mut c = RegistriesConf::default();
        let e = c
            .merge(
                Path::new("r.conf"),
                "[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\nlocation = \"m\"\npull-from-mirror = \"sometimes\"\n",
            )
            .unwrap_err();
        assert!(e.to_string().starts_with("r.conf: "), "{e}");
        assert!(e.to_string().contains("sometimes"), "{e}");
    }
}
