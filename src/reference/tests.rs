use super::*;

const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// (input, normalised name, tag, has digest)
const VALID: &[(&str, &str, Option<&str>, bool)] = &[
    ("nginx", "docker.io/library/nginx", None, false),
    ("nginx:1.25", "docker.io/library/nginx", Some("1.25"), false),
    ("nginx:latest", "docker.io/library/nginx", Some("latest"), false),
    ("library/nginx:1.25", "docker.io/library/nginx", Some("1.25"), false),
    ("docker.io/nginx", "docker.io/library/nginx", None, false),
    ("docker.io/library/nginx:1", "docker.io/library/nginx", Some("1"), false),
    ("index.docker.io/nginx", "docker.io/library/nginx", None, false),
    ("index.docker.io/library/nginx:1", "docker.io/library/nginx", Some("1"), false),
    // Only `index.docker.io` is an alias of Docker Hub in the grammar;
    // `registry-1.docker.io` is a registry name like any other.
    ("registry-1.docker.io/bitnami/redis:7", "registry-1.docker.io/bitnami/redis", Some("7"), false),
    ("exa_mple.com/a", "exa_mple.com/a", None, false),
    ("docker.io/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef:11", "docker.io/library/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Some("11"), false),
    ("sysdig/agent", "docker.io/sysdig/agent", None, false),
    ("bitnami/redis:7.2.4-debian-12-r9", "docker.io/bitnami/redis", Some("7.2.4-debian-12-r9"), false),
    ("quay.io/prometheus/node-exporter:v1.7.0", "quay.io/prometheus/node-exporter", Some("v1.7.0"), false),
    ("ghcr.io/a/b/c/d:x", "ghcr.io/a/b/c/d", Some("x"), false),
    ("localhost/foo", "localhost/foo", None, false),
    ("localhost:5000/foo:bar", "localhost:5000/foo", Some("bar"), false),
    ("127.0.0.1:5000/team/app:1.0", "127.0.0.1:5000/team/app", Some("1.0"), false),
    ("[::1]:5000/app:1", "[::1]:5000/app", Some("1"), false),
    ("[2001:db8::1]/app", "[2001:db8::1]/app", None, false),
    ("Registry.Example.com/app", "Registry.Example.com/app", None, false),
    ("MyHost/app:1", "MyHost/app", Some("1"), false),
    ("registry.k8s.io/ingress-nginx/controller:v1.10.0", "registry.k8s.io/ingress-nginx/controller", Some("v1.10.0"), false),
    ("a/b__c/d-e---f/g.h:T_a-g.1", "docker.io/a/b__c/d-e---f/g.h", Some("T_a-g.1"), false),
    ("nginx:_tag", "docker.io/library/nginx", Some("_tag"), false),
    ("foo:5000", "docker.io/library/foo", Some("5000"), false),
    ("nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io/library/nginx", None, true),
    ("nginx:1.25@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io/library/nginx", Some("1.25"), true),
    ("nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io/library/nginx", Some("latest"), true),
    ("gcr.io/p/app@sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "gcr.io/p/app", None, true),
    ("my-registry.local:443/x/y:1-2", "my-registry.local:443/x/y", Some("1-2"), false),
];

/// (input, a fragment the reason must contain)
const INVALID: &[(&str, &str)] = &[
    ("", "empty"),
    ("Nginx", "lowercase"),
    ("docker.io/Library/nginx", "lowercase"),
    ("nginx:", "tag after ':' is empty"),
    ("nginx:.bad", "must start with"),
    ("nginx:-bad", "must start with"),
    ("nginx:a/b", "port must be a number"),
    ("nginx:1.25 ", "no spaces"),
    (" nginx", "no spaces"),
    ("{{ .Values.image }}", "no spaces"),
    ("${IMAGE}", "contains"),
    ("$IMAGE", "contains"),
    ("nginx@sha256:abc", "64 hex"),
    (
        "nginx@sha256:0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
        "lower-case hex",
    ),
    ("nginx@md5", "algorithm:hex"),
    ("nginx@1sha:0123456789abcdef0123456789abcdef", "algorithm"),
    ("nginx@sha512:0123", "128 hex digits, found 4"),
    (
        "nginx@sha256+b64u:0123456789abcdef0123456789abcdef",
        "unsupported digest algorithm",
    ),
    (
        "nginx@SHA256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "lowercase",
    ),
    (
        "nginx:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef@x",
        "at most one '@'",
    ),
    ("a//b", "empty component"),
    ("a/b/", "empty component"),
    ("/a", "empty"),
    ("a..b", "separator"),
    ("a___b", "separator"),
    ("a-", "start and end"),
    ("-a", "start and end"),
    ("a.-b", "separator"),
    ("ex ample.com/a", "no spaces"),
    ("-example.com/a", "registry host"),
    ("example.com:port/a", "port must be a number"),
    ("[::1/a", "closing"),
    ("[zz::1]/a", "IPv6"),
    ("example.com/", "empty"),
    (":tag", "empty"),
    ("nginx:\u{e9}t\u{e9}", "must start with"),
    ("nginx:t\u{e9}", "contains"),
    ("ngïnx", "contains"),
    (
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "64 hex",
    ),
];

#[test]
fn valid_references_parse_and_normalise() {
    for &(input, name, tag, has_digest) in VALID {
        let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.name(), name, "{input}");
        assert_eq!(r.tag(), tag, "{input}");
        assert_eq!(r.digest().is_some(), has_digest, "{input}");
        assert_eq!(r.original(), input);
    }
}

#[test]
fn invalid_references_say_what_is_wrong() {
    for &(input, fragment) in INVALID {
        let e = Reference::parse(input).expect_err(input);
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("{input:?}")),
            "{msg} should quote {input:?}"
        );
        assert!(
            msg.contains(fragment),
            "{input:?}: {msg:?} should contain {fragment:?}"
        );
    }
}

#[test]
fn table_has_enough_cases() {
    assert!(VALID.len() + INVALID.len() >= 40);
}

#[test]
fn name_length_limit() {
    // The limit counts the repository path (after the domain), not the domain.
    let ok = format!("example.com/{}", "a".repeat(255));
    assert!(Reference::parse(&ok).is_ok());
    let long = format!("example.com/{}", "a".repeat(256));
    let e = Reference::parse(&long).unwrap_err();
    assert!(e.reason.contains("255"), "{e}");
    // The limit counts the name, not the tag.
    assert!(Reference::parse(&format!("{ok}:tag")).is_ok());
    // A Docker Hub name counts with its `library/` prefix.
    assert!(Reference::parse(&"a".repeat(247)).is_ok());
    assert!(Reference::parse(&"a".repeat(248)).is_err());
}

#[test]
fn tag_length_limit() {
    assert!(Reference::parse(&format!("a:{}", "t".repeat(128))).is_ok());
    assert!(Reference::parse(&format!("a:{}", "t".repeat(129))).is_err());
}

#[test]
fn pinned_keeps_reference_as_written() {
    let d = Digest::parse(D).unwrap();
    let pin = |s: &str| Reference::parse(s).unwrap().pinned(&d);
    assert_eq!(pin("nginx:1.25"), format!("nginx:1.25@{D}"));
    assert_eq!(pin("sysdig/agent"), format!("sysdig/agent:latest@{D}"));
    assert_eq!(
        pin("localhost:5000/a"),
        format!("localhost:5000/a:latest@{D}")
    );
    let old = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    assert_eq!(pin(&format!("nginx:1.25@{old}")), format!("nginx:1.25@{D}"));
    assert_eq!(
        pin(&format!("index.docker.io/nginx:1@{old}")),
        format!("index.docker.io/nginx:1@{D}")
    );
}

#[test]
fn effective_tag() {
    assert_eq!(
        Reference::parse("nginx").unwrap().effective_tag(),
        Some("latest")
    );
    assert_eq!(
        Reference::parse("nginx:1").unwrap().effective_tag(),
        Some("1")
    );
    assert_eq!(
        Reference::parse(&format!("nginx@{D}"))
            .unwrap()
            .effective_tag(),
        None
    );
}

#[test]
fn sha256_of_known_value() {
    assert_eq!(
        Digest::sha256_of(b"").to_string(),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

/// The test tables of `github.com/distribution/reference`, case by
/// case. `Parse` cases run against [`parse_anchored`] (the same
/// function); `ParseNormalizedNamed` cases against [`Reference::parse`].
mod distribution {
    use super::super::*;

    /// (input, expected (domain, path, tag, digest) or `None` for an error).
    type AnchoredCase = (String, Option<(&'static str, String, &'static str, String)>);

    const F64: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    /// reference_test.go TestReferenceParse (domain "" = none; tag ""
    /// = none; digest "" = none).
    #[test]
    fn reference_parse() {
        let d = format!("sha256:{F64}");
        let cases: Vec<AnchoredCase> = vec![
            // TestReferenceParse: "test_com"
            (
                "test_com".into(),
                Some(("", "test_com".into(), "", "".into())),
            ),
            // TestReferenceParse: "test.com:tag"
            (
                "test.com:tag".into(),
                Some(("", "test.com".into(), "tag", "".into())),
            ),
            // TestReferenceParse: "test.com:5000"
            (
                "test.com:5000".into(),
                Some(("", "test.com".into(), "5000", "".into())),
            ),
            // TestReferenceParse: "test.com/repo:tag"
            (
                "test.com/repo:tag".into(),
                Some(("test.com", "repo".into(), "tag", "".into())),
            ),
            // TestReferenceParse: "test:5000/repo"
            (
                "test:5000/repo".into(),
                Some(("test:5000", "repo".into(), "", "".into())),
            ),
            // TestReferenceParse: "test:5000/repo:tag"
            (
                "test:5000/repo:tag".into(),
                Some(("test:5000", "repo".into(), "tag", "".into())),
            ),
            // TestReferenceParse: "test:5000/repo@sha256:ff…"
            (
                format!("test:5000/repo@{d}"),
                Some(("test:5000", "repo".into(), "", d.clone())),
            ),
            // TestReferenceParse: "test:5000/repo:tag@sha256:ff…"
            (
                format!("test:5000/repo:tag@{d}"),
                Some(("test:5000", "repo".into(), "tag", d.clone())),
            ),
            // TestReferenceParse: "" (ErrNameEmpty)
            ("".into(), None),
            // TestReferenceParse: ":justtag"
            (":justtag".into(), None),
            // TestReferenceParse: "@sha256:ff…"
            (format!("@{d}"), None),
            // TestReferenceParse: short digest (ErrDigestInvalidLength)
            (
                "repo@sha256:ffffffffffffffffffffffffffffffffff".into(),
                None,
            ),
            // TestReferenceParse: unknown algorithm (ErrDigestUnsupported)
            (format!("validname@invaliddigest:{F64}"), None),
            // TestReferenceParse: "Uppercase:tag" (ErrNameContainsUppercase)
            ("Uppercase:tag".into(), None),
            // TestReferenceParse: "test:5000/Uppercase/lowercase:tag"
            ("test:5000/Uppercase/lowercase:tag".into(), None),
            // TestReferenceParse: "lowercase:Uppercase"
            (
                "lowercase:Uppercase".into(),
                Some(("", "lowercase".into(), "Uppercase", "".into())),
            ),
            // TestReferenceParse: "domain/" + 256 × a + ":tag" (ErrNameTooLong)
            (format!("domain/{}:tag", "a".repeat(256)), None),
            // TestReferenceParse: 127 × "a/" + "a:tag-puts-this-over-max"
            (
                format!("{}a:tag-puts-this-over-max", "a/".repeat(127)),
                Some((
                    "a",
                    format!("{}a", "a/".repeat(126)),
                    "tag-puts-this-over-max",
                    "".into(),
                )),
            ),
            // TestReferenceParse: "aa/asdf$$^/aa"
            ("aa/asdf$$^/aa".into(), None),
            // TestReferenceParse: "sub-dom1.foo.com/bar/baz/quux"
            (
                "sub-dom1.foo.com/bar/baz/quux".into(),
                Some(("sub-dom1.foo.com", "bar/baz/quux".into(), "", "".into())),
            ),
            // TestReferenceParse: "sub-dom1.foo.com/bar/baz/quux:some-long-tag"
            (
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag".into(),
                Some((
                    "sub-dom1.foo.com",
                    "bar/baz/quux".into(),
                    "some-long-tag",
                    "".into(),
                )),
            ),
            // TestReferenceParse: "b.gcr.io/test.example.com/my-app:test.example.com"
            (
                "b.gcr.io/test.example.com/my-app:test.example.com".into(),
                Some((
                    "b.gcr.io",
                    "test.example.com/my-app".into(),
                    "test.example.com",
                    "".into(),
                )),
            ),
            // TestReferenceParse: "xn--n3h.com/myimage:xn--n3h.com"
            (
                "xn--n3h.com/myimage:xn--n3h.com".into(),
                Some(("xn--n3h.com", "myimage".into(), "xn--n3h.com", "".into())),
            ),
            // TestReferenceParse: "xn--7o8h.com/myimage:xn--7o8h.com@sha256:ff…"
            (
                format!("xn--7o8h.com/myimage:xn--7o8h.com@{d}"),
                Some(("xn--7o8h.com", "myimage".into(), "xn--7o8h.com", d.clone())),
            ),
            // TestReferenceParse: "foo_bar.com:8080"
            (
                "foo_bar.com:8080".into(),
                Some(("", "foo_bar.com".into(), "8080", "".into())),
            ),
            // TestReferenceParse: "foo/foo_bar.com:8080"
            (
                "foo/foo_bar.com:8080".into(),
                Some(("foo", "foo_bar.com".into(), "8080", "".into())),
            ),
            // TestReferenceParse: "192.168.1.1"
            (
                "192.168.1.1".into(),
                Some(("", "192.168.1.1".into(), "", "".into())),
            ),
            // TestReferenceParse: "192.168.1.1:tag"
            (
                "192.168.1.1:tag".into(),
                Some(("", "192.168.1.1".into(), "tag", "".into())),
            ),
            // TestReferenceParse: "192.168.1.1:5000"
            (
                "192.168.1.1:5000".into(),
                Some(("", "192.168.1.1".into(), "5000", "".into())),
            ),
            // TestReferenceParse: "192.168.1.1/repo"
            (
                "192.168.1.1/repo".into(),
                Some(("192.168.1.1", "repo".into(), "", "".into())),
            ),
            // TestReferenceParse: "192.168.1.1:5000/repo"
            (
                "192.168.1.1:5000/repo".into(),
                Some(("192.168.1.1:5000", "repo".into(), "", "".into())),
            ),
            // TestReferenceParse: "192.168.1.1:5000/repo:5050"
            (
                "192.168.1.1:5000/repo:5050".into(),
                Some(("192.168.1.1:5000", "repo".into(), "5050", "".into())),
            ),
            // TestReferenceParse: "[2001:db8::1]"
            ("[2001:db8::1]".into(), None),
            // TestReferenceParse: "[2001:db8::1]:5000"
            ("[2001:db8::1]:5000".into(), None),
            // TestReferenceParse: "[2001:db8::1]:tag"
            ("[2001:db8::1]:tag".into(), None),
            // TestReferenceParse: "[2001:db8::1]/repo"
            (
                "[2001:db8::1]/repo".into(),
                Some(("[2001:db8::1]", "repo".into(), "", "".into())),
            ),
            // TestReferenceParse: "[2001:db8:1:2:3:4:5:6]/repo:tag"
            (
                "[2001:db8:1:2:3:4:5:6]/repo:tag".into(),
                Some(("[2001:db8:1:2:3:4:5:6]", "repo".into(), "tag", "".into())),
            ),
            // TestReferenceParse: "[2001:db8::1]:5000/repo"
            (
                "[2001:db8::1]:5000/repo".into(),
                Some(("[2001:db8::1]:5000", "repo".into(), "", "".into())),
            ),
            // TestReferenceParse: "[2001:db8::1]:5000/repo:tag"
            (
                "[2001:db8::1]:5000/repo:tag".into(),
                Some(("[2001:db8::1]:5000", "repo".into(), "tag", "".into())),
            ),
            // TestReferenceParse: "[2001:db8::1]:5000/repo@sha256:ff…"
            (
                format!("[2001:db8::1]:5000/repo@{d}"),
                Some(("[2001:db8::1]:5000", "repo".into(), "", d.clone())),
            ),
            // TestReferenceParse: "[2001:db8::1]:5000/repo:tag@sha256:ff…"
            (
                format!("[2001:db8::1]:5000/repo:tag@{d}"),
                Some(("[2001:db8::1]:5000", "repo".into(), "tag", d.clone())),
            ),
            // TestReferenceParse: "[2001:db8::]:5000/repo"
            (
                "[2001:db8::]:5000/repo".into(),
                Some(("[2001:db8::]:5000", "repo".into(), "", "".into())),
            ),
            // TestReferenceParse: "[::1]:5000/repo"
            (
                "[::1]:5000/repo".into(),
                Some(("[::1]:5000", "repo".into(), "", "".into())),
            ),
            // TestReferenceParse: "[fe80::1%eth0]:5000/repo"
            ("[fe80::1%eth0]:5000/repo".into(), None),
            // TestReferenceParse: "[fe80::1%@invalidzone]:5000/repo"
            ("[fe80::1%@invalidzone]:5000/repo".into(), None),
            // TestReferenceParse: "example.com/" + 255 × a + ":tag"
            (
                format!("example.com/{}:tag", "a".repeat(255)),
                Some(("example.com", "a".repeat(255), "tag", "".into())),
            ),
            // TestWithNameFailure: "example.com/" + 256 × a (ErrNameTooLong)
            (format!("example.com/{}", "a".repeat(256)), None),
        ];
        for (input, want) in cases {
            let got = parse_anchored(&input);
            match (want, got) {
                (None, Err(_)) => {}
                (None, Ok(p)) => panic!("{input:?} must fail, parsed as {p:?}"),
                (Some(_), Err(e)) => panic!("{input:?}: {e}"),
                (Some((domain, path, tag, digest)), Ok(p)) => {
                    assert_eq!(p.domain.unwrap_or(""), domain, "{input}");
                    assert_eq!(p.path, path, "{input}");
                    assert_eq!(p.tag.unwrap_or(""), tag, "{input}");
                    assert_eq!(
                        p.digest.map(|d| d.to_string()).unwrap_or_default(),
                        digest,
                        "{input}"
                    );
                }
            }
        }
        // TestReferenceParse: sha512 is "not registered by default" in the
        // Go test; the kubelet links sha384 and sha512, and so does imagelock.
        let sha512 = format!("validname@sha512:{}", "f".repeat(128));
        assert!(parse_anchored(&sha512).is_ok());
    }

    /// (input, normalised domain, normalised path) for valid names.
    fn normalized(input: &str) -> (String, String) {
        let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        (r.domain().to_string(), r.path().to_string())
    }

    #[test]
    fn validate_reference_name() {
        // normalize_test.go TestValidateReferenceName: validRepoNames
        for name in [
            "docker/docker",
            "library/debian",
            "debian",
            "localhost/library/debian",
            "localhost/debian",
            "LOCALDOMAIN/library/debian",
            "LOCALDOMAIN/debian",
            "docker.io/docker/docker",
            "docker.io/library/debian",
            "docker.io/debian",
            "index.docker.io/docker/docker",
            "index.docker.io/library/debian",
            "index.docker.io/debian",
            "127.0.0.1:5000/docker/docker",
            "127.0.0.1:5000/library/debian",
            "127.0.0.1:5000/debian",
            "192.168.0.1",
            "192.168.0.1:80",
            "192.168.0.1:8/debian",
            "192.168.0.2:25000/debian",
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            "[fc00::1]:5000/docker",
            "[fc00::1]:5000/docker/docker",
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
            "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "Docker/docker",
            "DOCKER/docker",
        ] {
            assert!(
                Reference::parse(name).is_ok(),
                "{name}: {:?}",
                Reference::parse(name)
            );
        }
        // normalize_test.go TestValidateReferenceName: invalidRepoNames
        for name in [
            "https://github.com/docker/docker",
            "docker/Docker",
            "-docker",
            "-docker/docker",
            "-docker.io/docker/docker",
            "docker///docker",
            "docker.io/docker/Docker",
            "docker.io/docker///docker",
            "[fc00::1]",
            "[fc00::1]:5000",
            "fc00::1:5000/debian",
            "[fe80::1%eth0]:5000/debian",
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        ] {
            assert!(Reference::parse(name).is_err(), "{name} must be invalid");
        }
    }

    #[test]
    fn validate_remote_name() {
        // normalize_test.go TestValidateRemoteName: validRepositoryNames
        for name in [
            "docker/docker",
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            "docker-rules/docker",
            "docker---rules/docker",
            "doc/docker",
            "d/docker",
            "jess/t",
            "dock__er/docker",
        ] {
            assert!(Reference::parse(name).is_ok(), "{name}");
        }
        // normalize_test.go TestValidateRemoteName: invalidRepositoryNames
        let long_namespace = "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker";
        for name in [
            "docker/Docker",
            "docker///docker",
            "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "-docker/docker",
            "docker-/docker",
            "-docker-/docker",
            "____/____",
            "_docker/_docker",
            "dock..er/docker",
            "dock_.er/docker",
            "dock-.er/docker",
            "docker/",
            long_namespace,
        ] {
            assert!(Reference::parse(name).is_err(), "{name} must be invalid");
        }
    }

    #[test]
    fn parse_repository_info() {
        // normalize_test.go TestParseRepositoryInfo: (remote name, domain,
        // the names that must all normalise to them)
        let cases: &[(&str, &str, &[&str])] = &[
            ("fooo", "localhost", &["localhost/fooo"]),
            ("fooo/bar", "localhost", &["localhost/fooo/bar"]),
            ("fooo", "LOCALDOMAIN", &["LOCALDOMAIN/fooo"]),
            ("fooo/bar", "LOCALDOMAIN", &["LOCALDOMAIN/fooo/bar"]),
            (
                "fooo/bar",
                "docker.io",
                &["fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar"],
            ),
            (
                "library/ubuntu",
                "docker.io",
                &["ubuntu", "docker.io/library/ubuntu", "library/ubuntu"],
            ),
            (
                "nonlibrary/ubuntu",
                "docker.io",
                &["nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu"],
            ),
            (
                "other/library",
                "docker.io",
                &["other/library", "docker.io/other/library"],
            ),
            (
                "private/moonbase",
                "127.0.0.1:8000",
                &["127.0.0.1:8000/private/moonbase"],
            ),
            (
                "privatebase",
                "127.0.0.1:8000",
                &["127.0.0.1:8000/privatebase"],
            ),
            (
                "private/moonbase",
                "example.com",
                &["example.com/private/moonbase"],
            ),
            ("privatebase", "example.com", &["example.com/privatebase"]),
            (
                "private/moonbase",
                "example.com:8000",
                &["example.com:8000/private/moonbase"],
            ),
            (
                "privatebasee",
                "example.com:8000",
                &["example.com:8000/privatebasee"],
            ),
            (
                "library/ubuntu-12.04-base",
                "docker.io",
                &[
                    "ubuntu-12.04-base",
                    "docker.io/library/ubuntu-12.04-base",
                    "index.docker.io/library/ubuntu-12.04-base",
                ],
            ),
            (
                "library/foo",
                "docker.io",
                &["foo", "docker.io/library/foo", "docker.io/foo"],
            ),
            (
                "library/foo/bar",
                "docker.io",
                &["library/foo/bar", "docker.io/library/foo/bar"],
            ),
            (
                "store/foo/bar",
                "docker.io",
                &["store/foo/bar", "docker.io/store/foo/bar"],
            ),
            ("bar", "Foo", &["Foo/bar"]),
            ("bar", "FOO", &["FOO/bar"]),
        ];
        for &(remote, domain, names) in cases {
            for name in names {
                assert_eq!(
                    normalized(name),
                    (domain.to_string(), remote.to_string()),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn parse_reference_with_tag_and_digest() {
        // normalize_test.go TestParseReferenceWithTagAndDigest
        let short = "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";
        let r = Reference::parse(short).unwrap();
        assert_eq!(r.normalized(), format!("docker.io/library/{short}"));
        assert_eq!(r.tag(), Some("latest"));
        assert!(r.digest().is_some());
        assert_eq!(r.original(), short);
    }

    #[test]
    fn invalid_reference_components() {
        // normalize_test.go TestInvalidReferenceComponents
        assert!(Reference::parse("-foo").is_err());
        assert!(Reference::parse("busybox:-foo").is_err());
        assert!(Reference::parse("busybox@foo").is_err());
    }

    #[test]
    fn parse_any_reference_names() {
        // normalize_test.go TestParseAnyReference (the named cases; a bare
        // 64-hex string is an image ID, which names no image to pin)
        let d = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";
        for (input, equivalent) in [
            ("redis".to_string(), "docker.io/library/redis".to_string()),
            (
                "redis:latest".into(),
                "docker.io/library/redis:latest".into(),
            ),
            (
                "docker.io/library/redis:latest".into(),
                "docker.io/library/redis:latest".into(),
            ),
            (format!("redis@{d}"), format!("docker.io/library/redis@{d}")),
            (
                format!("docker.io/library/redis@{d}"),
                format!("docker.io/library/redis@{d}"),
            ),
            ("dmcgowan/myapp".into(), "docker.io/dmcgowan/myapp".into()),
            (
                "dmcgowan/myapp:latest".into(),
                "docker.io/dmcgowan/myapp:latest".into(),
            ),
            (
                "docker.io/mcgowan/myapp:latest".into(),
                "docker.io/mcgowan/myapp:latest".into(),
            ),
            (
                format!("dmcgowan/myapp@{d}"),
                format!("docker.io/dmcgowan/myapp@{d}"),
            ),
            (
                format!("docker.io/dmcgowan/myapp@{d}"),
                format!("docker.io/dmcgowan/myapp@{d}"),
            ),
            (
                "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9".into(),
                "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9"
                    .into(),
            ),
            ("dbcc1".into(), "docker.io/library/dbcc1".into()),
        ] {
            let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.normalized(), equivalent, "{input}");
        }
        // TestParseAnyReference: the image-ID cases are not names.
        assert!(Reference::parse(&d["sha256:".len()..]).is_err());
        // `sha256:<hex>` is, to ParseNormalizedNamed, the name `sha256`
        // with a 64-character tag.
        assert_eq!(
            Reference::parse(d).unwrap().name(),
            "docker.io/library/sha256"
        );
    }

    #[test]
    fn normalized_split_hostname() {
        // normalize_test.go TestNormalizedSplitHostname
        for (input, domain, path) in [
            ("test.com/foo", "test.com", "foo"),
            ("test_com/foo", "docker.io", "test_com/foo"),
            ("docker/migrator", "docker.io", "docker/migrator"),
            ("test.com:8080/foo", "test.com:8080", "foo"),
            ("test-com:8080/foo", "test-com:8080", "foo"),
            ("foo", "docker.io", "library/foo"),
            ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
            ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
            ("docker.io/foo", "docker.io", "library/foo"),
            ("docker.io/library/foo", "docker.io", "library/foo"),
            ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
        ] {
            assert_eq!(normalized(input), (domain.into(), path.into()), "{input}");
        }
    }

    #[test]
    fn parse_docker_ref() {
        // normalize_test.go TestParseDockerRef: the normalised name and
        // the tag a pull resolves (imagelock keeps a written tag beside a
        // digest; ParseDockerRef drops it, the kubelet pulls by digest).
        let d = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";
        for (input, name, tag) in [
            (
                "busybox".to_string(),
                "docker.io/library/busybox",
                Some("latest"),
            ),
            (
                "busybox:latest".into(),
                "docker.io/library/busybox",
                Some("latest"),
            ),
            (format!("busybox@{d}"), "docker.io/library/busybox", None),
            (
                "library/busybox".into(),
                "docker.io/library/busybox",
                Some("latest"),
            ),
            (
                "docker.io/busybox".into(),
                "docker.io/library/busybox",
                Some("latest"),
            ),
            (
                "docker.io/library/busybox".into(),
                "docker.io/library/busybox",
                Some("latest"),
            ),
            (
                "docker.io/busybox:latest".into(),
                "docker.io/library/busybox",
                Some("latest"),
            ),
            (
                "library/busybox:latest".into(),
                "docker.io/library/busybox",
                Some("latest"),
            ),
            (
                "docker.io/library/busybox:latest".into(),
                "docker.io/library/busybox",
                Some("latest"),
            ),
            (
                "gcr.io/library/busybox".into(),
                "gcr.io/library/busybox",
                Some("latest"),
            ),
            (
                format!("gcr.io/library/busybox:latest@{d}"),
                "gcr.io/library/busybox",
                Some("latest"),
            ),
        ] {
            let r = Reference::parse(&input).unwrap();
            assert_eq!(r.name(), name, "{input}");
            assert_eq!(r.effective_tag(), tag, "{input}");
        }
    }

    #[test]
    fn domain_regexp() {
        // regexp_test.go TestDomainRegexp
        for (input, matches) in [
            ("test.com", true),
            ("test.com:10304", true),
            ("test.com:http", false),
            ("localhost", true),
            ("localhost:8080", true),
            ("a", true),
            ("a.b", true),
            ("ab.cd.com", true),
            ("a-b.com", true),
            ("-ab.com", false),
            ("ab-.com", false),
            ("ab.c-om", true),
            ("ab.-com", false),
            ("ab.com-", false),
            ("0101.com", true),
            ("001a.com", true),
            ("b.gbc.io:443", true),
            ("b.gbc.io", true),
            ("xn--n3h.com", true),
            ("Asdf.com", true),
            ("192.168.1.1:75050", true),
            ("192.168.1.1:750050", true),
            ("[fd00:1:2::3]:75050", true),
            ("[fd00:1:2::3]75050", false),
            ("[fd00:1:2::3]::75050", false),
            ("[fd00:1:2::3%eth0]:75050", false),
            ("[fd00123123123]:75050", true),
            ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050", true),
            ("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:750505", true),
            ("fd00:1:2::3:75050", false),
        ] {
            assert_eq!(valid_domain(input), matches, "{input}");
        }
    }

    /// Whether `s` is a name alone (`anchoredNameRegexp`): the
    /// anchored grammar with no tag and no digest.
    fn is_name(s: &str) -> bool {
        !s.contains('@') && parse_anchored(s).is_ok_and(|p| p.tag.is_none())
    }

    #[test]
    fn full_name_regexp() {
        // regexp_test.go TestFullNameRegexp
        let long = format!("{}a", "a/".repeat(128));
        let cases: &[(&str, bool)] = &[
            ("", false),
            ("short", true),
            ("simple/name", true),
            ("library/ubuntu", true),
            ("docker/stevvooe/app", true),
            ("aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb", true),
            ("aa/aa/bb/bb/bb", true),
            ("a/a/a/a", true),
            ("a/a/a/a/", false),
            ("a//a/a", false),
            ("a", true),
            ("a/aa", true),
            ("a/aa/a", true),
            ("foo.com", true),
            ("foo.com/", false),
            ("foo.com:8080/bar", true),
            ("foo.com:http/bar", false),
            ("foo.com/bar", true),
            ("foo.com/bar/baz", true),
            ("localhost:8080/bar", true),
            ("sub-dom1.foo.com/bar/baz/quux", true),
            ("blog.foo.com/bar/baz", true),
            ("a^a", false),
            ("aa/asdf$$^/aa", false),
            ("asdf$$^/aa", false),
            ("aa-a/a", true),
            (&long, true),
            ("a-/a/a/a", false),
            ("foo.com/a-/a/a", false),
            ("-foo/bar", false),
            ("foo/bar-", false),
            ("foo-/bar", false),
            ("foo/-bar", false),
            ("_foo/bar", false),
            ("foo_bar", true),
            ("foo_bar.com", true),
            ("foo_bar.com:8080", false),
            ("foo_bar.com:8080/app", false),
            ("foo.com/foo_bar", true),
            ("____/____", false),
            ("_docker/_docker", false),
            ("docker_/docker_", false),
            ("b.gcr.io/test.example.com/my-app", true),
            ("xn--n3h.com/myimage", true),
            ("xn--7o8h.com/myimage", true),
            ("example.com/xn--7o8h.com/myimage", true),
            ("example.com/some_separator__underscore/myimage", true),
            ("example.com/__underscore/myimage", false),
            ("example.com/..dots/myimage", false),
            ("example.com/.dots/myimage", false),
            ("example.com/nodouble..dots/myimage", false),
            ("docker./docker", false),
            (".docker/docker", false),
            ("docker-/docker", false),
            ("-docker/docker", false),
            ("do..cker/docker", false),
            ("do__cker:8080/docker", false),
            ("do__cker/docker", true),
            (
                "registry.io/foo/project--id.module--name.ver---sion--name",
                true,
            ),
            ("Asdf.com/foo/bar", true),
            ("Foo/FarB", false),
        ];
        for &(input, matches) in cases {
            assert_eq!(is_name(input), matches, "{input}");
        }
    }

    #[test]
    fn domain_and_path() {
        // reference_test.go TestDomainAndPath (WithName: no normalising)
        for (input, domain, path) in [
            ("test.com/foo", "test.com", "foo"),
            ("test_com/foo", "", "test_com/foo"),
            ("test:8080/foo", "test:8080", "foo"),
            ("test.com:8080/foo", "test.com:8080", "foo"),
            ("test-com:8080/foo", "test-com:8080", "foo"),
            ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
        ] {
            let p = parse_anchored(input).unwrap();
            assert_eq!((p.domain.unwrap_or(""), p.path), (domain, path), "{input}");
        }
    }

    #[test]
    fn reference_regexp() {
        // regexp_test.go TestReferenceRegexp: (input, name, tag, digest)
        let d = "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912";
        let ok = |input: String, name: &str, tag: &str, digest: &str| {
            let p = parse_anchored(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            let full = match p.domain {
                Some(dom) => format!("{dom}/{}", p.path),
                None => p.path.to_string(),
            };
            assert_eq!(full, name, "{input}");
            assert_eq!(p.tag.unwrap_or(""), tag, "{input}");
            assert_eq!(
                p.digest.map(|d| d.to_string()).unwrap_or_default(),
                digest,
                "{input}"
            );
        };
        ok(
            "registry.com:8080/myapp:tag".into(),
            "registry.com:8080/myapp",
            "tag",
            "",
        );
        ok(
            format!("registry.com:8080/myapp@{d}"),
            "registry.com:8080/myapp",
            "",
            d,
        );
        ok(
            format!("registry.com:8080/myapp:tag2@{d}"),
            "registry.com:8080/myapp",
            "tag2",
            d,
        );
        // "localhost treated as name, missing tag with 8080 as tag"
        ok(format!("localhost:8080@{d}"), "localhost", "8080", d);
        ok(
            format!("localhost:8080/name@{d}"),
            "localhost:8080/name",
            "",
            d,
        );
        ok(format!("localhost@{d}"), "localhost", "", d);
        for bad in [
            "registry.com:8080/myapp@sha256:badbadbadbad".to_string(),
            "registry.com:8080/myapp:invalid~tag".into(),
            "bad_hostname.com:8080/myapp:tag".into(),
            format!("localhost:http/name@{d}"),
            "registry.com:8080/myapp@bad".into(),
            "registry.com:8080/myapp@2bad".into(),
        ] {
            assert!(parse_anchored(&bad).is_err(), "{bad} must not match");
            assert!(Reference::parse(&bad).is_err(), "{bad} must be invalid");
        }
    }

    #[test]
    fn identifier_regexp() {
        // regexp_test.go TestIdentifierRegexp: a whole 64-hex string is an
        // image ID (refused as a reference); anything else is a name.
        for (input, is_id) in [
            (
                "da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821",
                true,
            ),
            (
                "7EC43B381E5AEFE6E04EFB0B3F0693FF2A4A50652D64AEC573905F2DB5889A1C",
                false,
            ),
            (
                "da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf",
                false,
            ),
            (
                "sha256:da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821",
                false,
            ),
            (
                "da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf98218482",
                false,
            ),
        ] {
            let e = Reference::parse(input).err().map(|e| e.reason);
            assert_eq!(
                e.as_deref().is_some_and(|r| r.contains("image ID")),
                is_id,
                "{input}: {e:?}"
            );
        }
    }

    #[test]
    fn strict_digests() {
        // go-digest: registered algorithms, lower-case hex, exact length.
        let hex = |n: usize| "a".repeat(n);
        assert!(Digest::parse(&format!("sha256:{}", hex(64))).is_ok());
        assert!(Digest::parse(&format!("sha384:{}", hex(96))).is_ok());
        assert!(Digest::parse(&format!("sha512:{}", hex(128))).is_ok());
        let reason = |s: String| Digest::parse(&s).unwrap_err().reason;
        assert_eq!(
            reason(format!("sha256:{}", hex(63))),
            "sha256 digest must have 64 hex digits, found 63"
        );
        assert_eq!(
            reason(format!("sha384:{}", hex(64))),
            "sha384 digest must have 96 hex digits, found 64"
        );
        assert!(reason(format!("sha256:{}A", hex(63))).contains("lower-case hex"));
        assert!(reason(format!("Sha256:{}", hex(64))).contains("lower case"));
        assert!(reason(format!("md5:{}", hex(32))).contains("unsupported"));
        assert!(reason(format!("sha256:{}g", hex(63))).contains("'g'"));
    }
}
