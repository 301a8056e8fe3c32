//! The kubelet's keyring matching rules (`pkg/credentialprovider/keyring.go`).
//!
//! This is a port of `BasicDockerKeyring.Add` / `Lookup`, `URLsMatchStr`,
//! `URLsMatch`, `ParseSchemelessURL`, `SplitURL` and `isDefaultRegistryMatch`
//! (Kubernetes v1.3x), on ports of the parts of Go's `net/url.Parse`,
//! `net.SplitHostPort` (`go_url.rs`) and `path/filepath.Match`
//! (`go_filepath_match.rs`) they rely on, so that a key in a docker
//! config or an image pull secret selects the same credentials here as it
//! does on a node.
//!
//! # Adding a key ([`normalise_key`], [`Keyring::add`])
//!
//! `https://` is prefixed unless the key starts with `https://` or
//! `http://`; the result is parsed as a URL (an unparsable key is ignored,
//! as the kubelet logs and skips it). A path starting with `/v2/` or `/v1/`
//! loses its first three characters (`/v1/` becomes `/`, `/v2/foo` becomes
//! `/foo`). The key is `host + path` when the path is neither empty nor
//! `/`, else the host (which keeps its port). Credentials under one key are
//! kept in insertion order, and the index of keys is sorted in *reverse*
//! lexicographic (byte) order, the kubelet's "most specific first":
//! `quay.io/coreos` comes before `quay.io`.
//!
//! # Matching a key against an image ([`key_matches`])
//!
//! Both are parsed as schemeless URLs (`https://` is prefixed, then
//! dropped). The ports must be equal as strings (no port is not `:443`);
//! the hosts, split on `.`, must have as many labels; each label of the
//! key is a [`glob_match`] pattern for the image's label at the same place;
//! and the key's path must be a string prefix of the image's path. It is a
//! plain string prefix, as in the kubelet: key `host/team` matches image
//! `host/team-a/app`.
//!
//! # Lookup ([`Keyring::lookup`])
//!
//! Every key, in index order, that matches the image contributes all its
//! credentials. When none matched and the image would be pulled from the
//! default registry (its first `/`-separated component is `docker.io` or
//! `index.docker.io`, or has no `.` and no `:`, or there is no `/` at all),
//! the credentials stored under the Docker Hub key are used.
//!
//! # imagelock's one deliberate extension: Docker Hub aliases
//!
//! imagelock treats `docker.io`, `index.docker.io` and `registry-1.docker.io`
//! as one registry (`registry.hub.docker.com` is not included). A key whose
//! host is exactly one of those three, with no port, is canonicalised to
//! `docker.io` when it is added, keeping its path: `https://index.docker.io/v1/`
//! becomes `docker.io` and matches every `docker.io/...` image,
//! `index.docker.io/myorg` becomes `docker.io/myorg` and matches
//! `docker.io/myorg/app`. Images arrive already normalised to `docker.io/...`,
//! so nothing is done to them. The kubelet, which is handed images as
//! written in pod specs, only matches such keys literally and falls back to
//! the key `index.docker.io` for default-registry images; here that fallback
//! uses the canonical key `docker.io` (which any of the three aliases fills).
//!
//! One unavoidable difference: the kubelet adds the entries of one config
//! in Go's random map order, so when two spellings of a key in one config
//! normalise to the same key (`ghcr.io` and `https://ghcr.io/v2/`), the
//! order of their credentials is unspecified there; here it is insertion
//! order.
//!
//! Details kept as Go has them: URLs are parsed as Go 1.25.2+ `net/url`
//! does for `https` (a `[` only at the start of the host, around an IPv6
//! address; only one `:` in the host, followed by a numeric port; hosts and
//! paths are percent-decoded); hosts and paths are compared case-sensitively;
//! and `filepath.Match` negates a character class with `^` only (`[!a]` is a
//! class of `!` and `a`), as does [`glob_match`].

use super::go_filepath_match::glob_match;
use super::go_url::{parse_url, split_host_port, GoUrl};

/// The canonical Docker Hub host (see the module documentation).
const DOCKER_HUB: &str = "docker.io";

/// Hosts that are Docker Hub for imagelock.
const HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// A key as the kubelet normalises it (`https://index.docker.io/v1/` → `docker.io`,
/// `https://registry.example.com:5000/v2/team` → `registry.example.com:5000/team`).
/// None when the key cannot be parsed as a URL (the kubelet ignores such entries).
pub fn normalise_key(key: &str) -> Option<String> {
    // What follows the scheme's colon; only the exact lowercase prefixes
    // count, as in the kubelet.
    let rest = if key.starts_with("https://") {
        key["https:".len()..].to_string()
    } else if key.starts_with("http://") {
        key["http:".len()..].to_string()
    } else {
        format!("//{key}")
    };
    let parsed = parse_url(&rest)?;
    let mut path = parsed.path.as_str();
    if path.starts_with("/v2/") || path.starts_with("/v1/") {
        path = &path[3..];
    }
    let host = if HUB_ALIASES.contains(&parsed.host.as_str()) {
        DOCKER_HUB
    } else {
        parsed.host.as_str()
    };
    if !path.is_empty() && path != "/" {
        Some(format!("{host}{path}"))
    } else {
        Some(host.to_string())
    }
}

/// Whether a normalised key (a glob) matches an image repository (normalised name, no tag).
pub fn key_matches(key: &str, image: &str) -> bool {
    match (parse_schemeless(key), parse_schemeless(image)) {
        (Some(glob), Some(target)) => urls_match(&glob, &target),
        _ => false,
    }
}

/// One key of a [`Keyring`] and what is stored under it.
#[derive(Debug, Clone)]
struct Entry<T> {
    /// The normalised key.
    key: String,
    /// The key parsed again as a schemeless URL, as `URLsMatchStr` does on
    /// every lookup (`None`: it does not parse, so it never matches).
    glob: Option<GoUrl>,
    values: Vec<T>,
}

/// An ordered multimap from keys to T, looked up the kubelet's way.
#[derive(Debug, Clone)]
pub struct Keyring<T> {
    /// Reverse-sorted by key, keys unique.
    entries: Vec<Entry<T>>,
    /// Number of values in all entries.
    len: usize,
}

impl<T> Default for Keyring<T> {
    fn default() -> Self {
        Keyring {
            entries: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Keyring<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one entry under `key` as written in a config (scheme, /v1/ etc. allowed).
    /// Returns false (and adds nothing) when the key cannot be parsed.
    pub fn add(&mut self, key: &str, value: T) -> bool {
        let Some(key) = normalise_key(key) else {
            return false;
        };
        // Reverse order: an entry sorts before `key` when its key is greater.
        match self
            .entries
            .binary_search_by(|e| key.as_str().cmp(e.key.as_str()))
        {
            Ok(i) => self.entries[i].values.push(value),
            Err(i) => {
                let glob = parse_schemeless(&key);
                self.entries.insert(
                    i,
                    Entry {
                        key,
                        glob,
                        values: vec![value],
                    },
                );
            }
        }
        self.len += 1;
        true
    }

    /// [`Keyring::add`] for many entries at once, in one sort: a Secret
    /// with tens of thousands of keys is read in O(n log n), where adding
    /// one by one shifts the whole list at each key. Values under one key
    /// keep their order (those already present first); keys that cannot
    /// be parsed are skipped, as `add` skips them.
    pub fn extend<K: AsRef<str>>(&mut self, items: impl IntoIterator<Item = (K, T)>) {
        let mut fresh: Vec<Entry<T>> = Vec::new();
        for (key, value) in items {
            let Some(key) = normalise_key(key.as_ref()) else {
                continue;
            };
            let glob = parse_schemeless(&key);
            fresh.push(Entry {
                key,
                glob,
                values: vec![value],
            });
            self.len += 1;
        }
        if fresh.is_empty() {
            return;
        }
        let mut all = std::mem::take(&mut self.entries);
        all.append(&mut fresh);
        // Stable: equal keys stay in the order they came (present first).
        all.sort_by(|a, b| b.key.cmp(&a.key));
        let mut merged: Vec<Entry<T>> = Vec::with_capacity(all.len());
        for e in all {
            match merged.last_mut() {
                Some(last) if last.key == e.key => last.values.extend(e.values),
                _ => merged.push(e),
            }
        }
        self.entries = merged;
    }

    /// Every value whose key matches `image`, most specific key first (reverse-sorted
    /// index), values under one key in insertion order; then the default-registry fallback.
    pub fn lookup(&self, image: &str) -> Vec<&T> {
        self.lookup_with_keys(image)
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    /// [`Keyring::lookup`], with the values cloned.
    pub fn lookup_cloned(&self, image: &str) -> Vec<T>
    where
        T: Clone,
    {
        self.lookup(image).into_iter().cloned().collect()
    }

    /// Like lookup, but returns (normalised key, value) pairs.
    pub fn lookup_with_keys(&self, image: &str) -> Vec<(&str, &T)> {
        let mut out = Vec::new();
        if let Some(target) = parse_schemeless(image) {
            for e in &self.entries {
                if e.glob.as_ref().is_some_and(|g| urls_match(g, &target)) {
                    out.extend(e.values.iter().map(|v| (e.key.as_str(), v)));
                }
            }
        }
        if out.is_empty() && is_default_registry_match(image) {
            if let Some(e) = self.entries.iter().find(|e| e.key == DOCKER_HUB) {
                out.extend(e.values.iter().map(|v| (e.key.as_str(), v)));
            }
        }
        out
    }

    /// No values at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of values (not keys): every successful [`Keyring::add`] counts one.
    pub fn len(&self) -> usize {
        self.len
    }
}

/// `isDefaultRegistryMatch`: whether the image is pulled from the default
/// registry (Docker Hub), judging by its name.
fn is_default_registry_match(image: &str) -> bool {
    let (first, rest) = match image.split_once('/') {
        Some((f, _)) => (f, true),
        None => (image, false),
    };
    if first.is_empty() {
        return false;
    }
    if !rest {
        return true;
    }
    if first == "docker.io" || first == "index.docker.io" {
        return true;
    }
    !first.contains(['.', ':'])
}

/// `ParseSchemelessURL`.
fn parse_schemeless(s: &str) -> Option<GoUrl> {
    parse_url(&format!("//{s}"))
}

/// `URLsMatch`.
fn urls_match(glob: &GoUrl, target: &GoUrl) -> bool {
    let (glob_host, glob_port) = split_host_port(&glob.host);
    let (target_host, target_port) = split_host_port(&target.host);
    if glob_port != target_port {
        return false;
    }
    if glob_host.split('.').count() != target_host.split('.').count() {
        return false;
    }
    if !target.path.starts_with(glob.path.as_str()) {
        return false;
    }
    glob_host
        .split('.')
        .zip(target_host.split('.'))
        .all(|(p, n)| glob_match(p, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keyring with one value (the key itself, for easy assertions) per key.
    fn keyring(keys: &[&str]) -> Keyring<String> {
        let mut k = Keyring::new();
        for key in keys {
            assert!(k.add(key, key.to_string()), "{key} did not parse");
        }
        k
    }

    fn hits<'a>(k: &'a Keyring<String>, image: &str) -> Vec<&'a str> {
        k.lookup(image).into_iter().map(String::as_str).collect()
    }

    #[test]
    fn extend_is_add_in_one_sort() {
        let keys = [
            "reg.io",
            "https://reg.io/v1/",
            "*.reg.io",
            "reg.io/team",
            "docker.io",
            "reg.io",
            "http://[bad",
        ];
        let mut one_by_one = Keyring::new();
        let mut bulk = Keyring::new();
        one_by_one.add("reg.io", "pre".to_string());
        bulk.add("reg.io", "pre".to_string());
        for (i, key) in keys.iter().enumerate() {
            one_by_one.add(key, format!("{key}#{i}"));
        }
        bulk.extend(
            keys.iter()
                .enumerate()
                .map(|(i, k)| (*k, format!("{k}#{i}"))),
        );
        assert_eq!(bulk.len(), one_by_one.len());
        for image in ["reg.io/team/app", "a.reg.io/x", "nginx", "reg.io/x"] {
            assert_eq!(hits(&bulk, image), hits(&one_by_one, image), "{image}");
        }
    }

    #[test]
    fn urls_match_table() {
        // TestURLsMatch, verbatim.
        let cases = [
            // match when there is no path component
            ("*.kubernetes.io", "prefix.kubernetes.io", true),
            ("prefix.*.io", "prefix.kubernetes.io", true),
            ("prefix.kubernetes.*", "prefix.kubernetes.io", true),
            ("*-good.kubernetes.io", "prefix-good.kubernetes.io", true),
            // match with path components
            ("*.kubernetes.io/blah", "prefix.kubernetes.io/blah", true),
            ("prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", true),
            // match with path components and ports
            (
                "*.kubernetes.io:1111/blah",
                "prefix.kubernetes.io:1111/blah",
                true,
            ),
            (
                "prefix.*.io:1111/foo",
                "prefix.kubernetes.io:1111/foo/bar",
                true,
            ),
            // no match when number of parts mismatch
            ("*.kubernetes.io", "kubernetes.io", false),
            ("*.*.kubernetes.io", "prefix.kubernetes.io", false),
            ("*.*.kubernetes.io", "kubernetes.io", false),
            ("*kubernetes.io", "a.kubernetes.io", false),
            // match when number of parts match
            ("*kubernetes.io", "kubernetes.io", true),
            ("*.*.*.kubernetes.io", "a.b.c.kubernetes.io", true),
            // no match when some parts mismatch
            ("kubernetes.io", "kubernetes.com", false),
            ("k*.io", "quay.io", false),
            // no match when ports mismatch
            (
                "*.kubernetes.io:1234/blah",
                "prefix.kubernetes.io:1111/blah",
                false,
            ),
            (
                "prefix.*.io/foo",
                "prefix.kubernetes.io:1111/foo/bar",
                false,
            ),
        ];
        for (glob, target, want) in cases {
            assert_eq!(key_matches(glob, target), want, "{glob} vs {target}");
        }
    }

    #[test]
    fn keyring_for_glob() {
        // TestDockerKeyringForGlob: (key as written, registry part of the
        // image); the test looks up `<target>/foo/bar`.
        let cases = [
            ("https://hello.kubernetes.io", "hello.kubernetes.io"),
            ("https://*.docker.io", "prefix.docker.io"),
            ("https://prefix.*.io", "prefix.docker.io"),
            ("https://prefix.docker.*", "prefix.docker.io"),
            ("https://*.docker.io/path", "prefix.docker.io/path"),
            ("https://prefix.*.io/path", "prefix.docker.io/path/subpath"),
            ("https://prefix.docker.*/path", "prefix.docker.io/path"),
            ("https://*.docker.io:8888", "prefix.docker.io:8888"),
            ("https://prefix.*.io:8888", "prefix.docker.io:8888"),
            ("https://prefix.docker.*:8888", "prefix.docker.io:8888"),
            (
                "https://*.docker.io/path:1111",
                "prefix.docker.io/path:1111",
            ),
            ("https://*.docker.io/v1/", "prefix.docker.io/path:1111"),
            ("https://*.docker.io/v2/", "prefix.docker.io/path:1111"),
            (
                "https://prefix.docker.*/path:1111",
                "prefix.docker.io/path:1111",
            ),
            ("prefix.docker.io:1111", "prefix.docker.io:1111/path"),
            ("*.docker.io:1111", "prefix.docker.io:1111/path"),
        ];
        for (key, target) in cases {
            let k = keyring(&[key]);
            let image = format!("{target}/foo/bar");
            assert_eq!(hits(&k, &image), [key], "{key} vs {image}");
        }
    }

    #[test]
    fn keyring_miss() {
        // TestKeyringMiss: the test looks up `<lookup>/foo/bar`.
        let cases = [
            ("https://hello.kubernetes.io", "world.mesos.org/foo/bar"),
            ("https://*.docker.com", "prefix.docker.io"),
            ("https://suffix.*.io", "prefix.docker.io"),
            ("https://prefix.docker.c*", "prefix.docker.io"),
            (
                "https://prefix.*.io/path:1111",
                "prefix.docker.io/path/subpath:1111",
            ),
            ("suffix.*.io", "prefix.docker.io"),
        ];
        for (key, lookup) in cases {
            let k = keyring(&[key]);
            let image = format!("{lookup}/foo/bar");
            assert!(k.lookup(&image).is_empty(), "{key} vs {image}");
        }
    }

    #[test]
    fn docker_hub_credentials_are_not_used_elsewhere() {
        // TestKeyringMissWithDockerHubCredentials
        let k = keyring(&["https://index.docker.io/v1/"]);
        assert!(k.lookup("world.mesos.org/foo/bar").is_empty());
    }

    #[test]
    fn docker_hub_fallback_for_unqualified_images() {
        let k = keyring(&["https://index.docker.io/v1/"]);
        // TestKeyringHitWithUnqualifiedDockerHub
        assert_eq!(
            k.lookup_with_keys("google/docker-registry"),
            [("docker.io", &"https://index.docker.io/v1/".to_string())]
        );
        // TestKeyringHitWithUnqualifiedLibraryDockerHub
        assert_eq!(hits(&k, "jenkins"), ["https://index.docker.io/v1/"]);
        // The same images normalised, as imagelock passes them: a direct hit.
        assert_eq!(
            k.lookup_with_keys("docker.io/google/docker-registry"),
            [("docker.io", &"https://index.docker.io/v1/".to_string())]
        );
        assert_eq!(
            hits(&k, "docker.io/library/jenkins"),
            ["https://index.docker.io/v1/"]
        );
    }

    #[test]
    fn docker_hub_qualified_image() {
        let k = keyring(&["https://index.docker.io/v1/"]);
        // TestKeyringHitWithQualifiedDockerHub looks up
        // `index.docker.io/v1//google/docker-registry`: the canonical key no
        // longer matches the host literally, but the fallback still applies.
        assert_eq!(
            hits(&k, "index.docker.io/v1//google/docker-registry"),
            ["https://index.docker.io/v1/"]
        );
        // Normalised.
        assert_eq!(
            hits(&k, "docker.io/google/docker-registry"),
            ["https://index.docker.io/v1/"]
        );
    }

    #[test]
    fn default_registry_match() {
        // TestIsDefaultRegistryMatch
        let cases = [
            ("foo/bar", true),
            ("docker.io/foo/bar", true),
            ("index.docker.io/foo/bar", true),
            ("foo", true),
            ("", false),
            ("registry.tld/foo/bar", false),
            ("registry:5000/foo/bar", false),
            ("myhostdocker.io/foo/bar", false),
        ];
        for (image, want) in cases {
            assert_eq!(is_default_registry_match(image), want, "{image:?}");
        }
        // The fallback only for such images.
        let k = keyring(&["docker.io"]);
        assert!(k.lookup("registry.tld/foo/bar").is_empty());
        assert!(k.lookup("registry:5000/foo/bar").is_empty());
        assert_eq!(hits(&k, "foo/bar"), ["docker.io"]);
    }

    #[test]
    fn lookup_order() {
        // TestDockerKeyringLookup
        let mut k = Keyring::new();
        assert!(k.add("bar.example.com/pong", "grace"));
        assert!(k.add("bar.example.com", "ada"));
        let cases: [(&str, &[&str]); 7] = [
            // direct match
            ("bar.example.com", &["ada"]),
            // direct match deeper than other possible matches
            ("bar.example.com/pong", &["grace", "ada"]),
            // no direct match, deeper path ignored
            ("bar.example.com/ping", &["ada"]),
            // match first part of path token
            ("bar.example.com/pongz", &["grace", "ada"]),
            // match regardless of sub-path
            ("bar.example.com/pong/pang", &["grace", "ada"]),
            // no host match
            ("example.com", &[]),
            ("foo.example.com", &[]),
        ];
        for (image, want) in cases {
            let got: Vec<&str> = k.lookup(image).into_iter().copied().collect();
            assert_eq!(got, want, "{image}");
        }

        // The comment in BasicDockerKeyring.Add: `quay.io/coreos` before
        // `quay.io`, whatever the order of adding.
        for keys in [["quay.io", "quay.io/coreos"], ["quay.io/coreos", "quay.io"]] {
            let k = keyring(&keys);
            assert_eq!(
                hits(&k, "quay.io/coreos/etcd"),
                ["quay.io/coreos", "quay.io"]
            );
            assert_eq!(hits(&k, "quay.io/other/etcd"), ["quay.io"]);
        }
    }

    #[test]
    fn scheme_and_v1_path_are_dropped() {
        // TestIssue3797
        let k = keyring(&["https://quay.io/v1/"]);
        for image in ["quay.io", "quay.io/foo", "quay.io/foo/bar"] {
            assert_eq!(hits(&k, image), ["https://quay.io/v1/"], "{image}");
        }
    }

    #[test]
    fn normalised_keys() {
        let cases = [
            ("https://index.docker.io/v1/", Some("docker.io")),
            ("index.docker.io", Some("docker.io")),
            ("registry-1.docker.io/v2/", Some("docker.io")),
            ("http://docker.io/myorg", Some("docker.io/myorg")),
            ("https://index.docker.io/v1/myorg", Some("docker.io/myorg")),
            // Not an alias: with a port, or another Hub host.
            ("docker.io:443", Some("docker.io:443")),
            ("registry.hub.docker.com", Some("registry.hub.docker.com")),
            (
                "https://registry.example.com:5000/v2/team",
                Some("registry.example.com:5000/team"),
            ),
            ("registry.example.com/v2/", Some("registry.example.com")),
            ("registry.example.com/v1", Some("registry.example.com/v1")),
            ("registry.example.com/", Some("registry.example.com")),
            (
                "registry.example.com/v3/x",
                Some("registry.example.com/v3/x"),
            ),
            ("ghcr.io/org/", Some("ghcr.io/org/")),
            // Userinfo, query and fragment are not part of the key.
            ("https://user:pw@ghcr.io/org?x=1#frag", Some("ghcr.io/org")),
            // The path is unescaped.
            ("ghcr.io/my%20org", Some("ghcr.io/my org")),
            (
                "*.dkr.ecr.*.amazonaws.com",
                Some("*.dkr.ecr.*.amazonaws.com"),
            ),
            // Only the lowercase scheme prefixes are recognised.
            ("HTTPS://ghcr.io", Some("HTTPS://ghcr.io")),
            // Unparsable: a bad port, a bad escape, a space or a control
            // character in the host.
            ("ghcr.io:abc", None),
            ("ghcr.io/%zz", None),
            ("gh cr.io", None),
            ("ghcr.io\n", None),
            ("[::1", None),
            // Brackets only around an IPv6 address, at the start.
            ("[::1]:5000/x", Some("[::1]:5000/x")),
            ("[fe80::1%25eth0]", Some("[fe80::1%eth0]")),
            ("[1.2.3.4]", None),
            ("[registry]", None),
            ("a[b].com", None),
            // Only one colon, before a numeric port.
            ("a:b:5000", None),
            ("registry.example.com:", Some("registry.example.com:")),
            ("ghcr.io/x#%", None),
        ];
        for (key, want) in cases {
            assert_eq!(normalise_key(key).as_deref(), want, "{key:?}");
        }
        let mut k: Keyring<()> = Keyring::new();
        assert!(!k.add("ghcr.io:abc", ()));
        assert!(k.is_empty());
        assert_eq!(k.len(), 0);
    }

    #[test]
    fn duplicate_keys_merge_in_insertion_order() {
        let mut k = Keyring::new();
        assert!(k.add("https://ghcr.io", 1));
        assert!(k.add("ghcr.io/v2/", 2));
        assert!(k.add("ghcr.io/org", 3));
        assert!(k.add("http://ghcr.io/", 4));
        assert_eq!(k.len(), 4);
        assert!(!k.is_empty());
        assert_eq!(
            k.lookup_with_keys("ghcr.io/org/app"),
            [
                ("ghcr.io/org", &3),
                ("ghcr.io", &1),
                ("ghcr.io", &2),
                ("ghcr.io", &4)
            ]
        );
        // Hub aliases are one key.
        let mut k = Keyring::new();
        for (i, key) in [
            "docker.io",
            "https://index.docker.io/v1/",
            "registry-1.docker.io",
        ]
        .into_iter()
        .enumerate()
        {
            assert!(k.add(key, i));
        }
        assert_eq!(k.lookup("docker.io/library/nginx"), [&0, &1, &2]);
    }

    #[test]
    fn ports_must_be_equal() {
        let k = keyring(&["registry.example.com"]);
        assert!(k.lookup("registry.example.com:443/x").is_empty());
        assert!(k.lookup("registry.example.com:5000/x").is_empty());
        assert_eq!(hits(&k, "registry.example.com/x"), ["registry.example.com"]);
        let k = keyring(&["registry.example.com:5000"]);
        assert!(k.lookup("registry.example.com/x").is_empty());
        assert!(k.lookup("registry.example.com:5001/x").is_empty());
        assert_eq!(
            hits(&k, "registry.example.com:5000/team-a/app"),
            ["registry.example.com:5000"]
        );
        // `https://` says nothing about the port.
        assert!(!key_matches(
            "registry.example.com:443",
            "registry.example.com/x"
        ));
        // SplitHostPort fails on an IPv6 literal without a port: the whole
        // host is one label, and `[::1]` is a glob (a class) that does not
        // match the text `[::1]`, in Go as here.
        assert!(!key_matches("[::1]", "[::1]/x"));
        assert!(key_matches("[::1]:5000", "[::1]:5000/x"));
        assert!(!key_matches("[::1]:5000", "[::1]/x"));
        // A trailing colon is an empty port, the same as none.
        assert!(key_matches(
            "registry.example.com:",
            "registry.example.com/x"
        ));
    }

    #[test]
    fn wildcard_labels() {
        let k = keyring(&["*.example.com"]);
        assert_eq!(hits(&k, "a.example.com/x"), ["*.example.com"]);
        assert!(k.lookup("example.com/x").is_empty());
        assert!(k.lookup("a.b.example.com/x").is_empty());

        let k = keyring(&["*.dkr.ecr.*.amazonaws.com"]);
        assert_eq!(
            hits(&k, "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"),
            ["*.dkr.ecr.*.amazonaws.com"]
        );
        assert!(k
            .lookup("123456789012.dkr.ecr.us-east-1.amazonaws.com.cn/app")
            .is_empty());
        assert!(k.lookup("dkr.ecr.us-east-1.amazonaws.com/app").is_empty());
    }

    #[test]
    fn path_is_a_plain_string_prefix() {
        let k = keyring(&["registry.example.com/team"]);
        assert_eq!(
            hits(&k, "registry.example.com/team/app"),
            ["registry.example.com/team"]
        );
        // As in the kubelet: not on a path-component boundary.
        assert_eq!(
            hits(&k, "registry.example.com/team-a/app"),
            ["registry.example.com/team"]
        );
        assert!(k.lookup("registry.example.com/other/app").is_empty());
        assert!(k.lookup("registry.example.com/tea").is_empty());
        // A trailing slash in the key is kept, so it is a component match.
        let k = keyring(&["registry.example.com/team/"]);
        assert!(k.lookup("registry.example.com/team-a/app").is_empty());
        assert_eq!(hits(&k, "registry.example.com/team/app").len(), 1);
    }

    #[test]
    fn docker_hub_aliases() {
        for key in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
            "https://registry-1.docker.io/v2/",
        ] {
            let k = keyring(&[key]);
            for image in ["docker.io/library/nginx", "docker.io/myorg/app"] {
                assert_eq!(hits(&k, image), [key], "{key} vs {image}");
            }
            assert!(k.lookup("ghcr.io/library/nginx").is_empty(), "{key}");
        }
        for key in [
            "docker.io/myorg",
            "index.docker.io/myorg",
            "https://index.docker.io/v1/myorg",
            "registry-1.docker.io/v2/myorg",
        ] {
            let k = keyring(&[key]);
            assert_eq!(hits(&k, "docker.io/myorg/app"), [key], "{key}");
            // The path prefix still applies, and a key with a path is no
            // fallback for other Hub images.
            assert!(k.lookup("docker.io/library/nginx").is_empty(), "{key}");
            assert!(k.lookup("nginx").is_empty(), "{key}");
        }
        // Not aliases.
        for key in [
            "registry.hub.docker.com",
            "docker.io:443",
            "index.docker.io:443",
        ] {
            let k = keyring(&[key]);
            assert!(k.lookup("docker.io/library/nginx").is_empty(), "{key}");
        }
        // Most specific first across aliases.
        let k = keyring(&["https://index.docker.io/v1/", "docker.io/myorg"]);
        assert_eq!(
            k.lookup_with_keys("docker.io/myorg/app")
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>(),
            ["docker.io/myorg", "docker.io"]
        );
    }

    #[test]
    fn unparsable_keys_never_match() {
        assert!(!key_matches("ghcr.io:abc", "ghcr.io/x"));
        assert!(!key_matches("ghcr.io", "gh cr.io/x"));
        // A bracket class in the host reads as a bad IPv6 literal in Go.
        assert!(!key_matches("[a-z].example.com", "a.example.com/x"));
        assert!(!key_matches("[", "a/x"));
    }
}
