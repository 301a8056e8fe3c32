//! What a check found: one type for every command and every format.

use std::fmt;

use crate::report::Location;

/// The closed set of things `check` (and the commands that share its
/// rules) report. Each has a stable name used in every output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A reference whose name and tag are not in the lockfile.
    Missing,
    /// A reference pinned to a digest other than the lockfile's.
    Mismatch,
    /// A reference not pinned to a digest (`--require-pinned`).
    Unpinned,
    /// A locked tag that now points at another digest in its registry.
    Drift,
    /// A value the kubelet would reject (`InvalidImageName`).
    Invalid,
    /// A workload whose own pull credentials cannot pull its image.
    Access,
    /// A mirror a node would pull a locked digest from does not serve it.
    MirrorMissing,
    /// A mirror resolves a locked tag to another digest than upstream.
    MirrorStale,
    /// The `registries.conf` given refuses pulls from the reference's
    /// registry (`blocked = true`).
    Blocked,
    /// A `[[verify]]` rule requires a signature of the locked digest and
    /// the registry holds none.
    Unsigned,
    /// Signatures of the locked digest were found and none satisfies its
    /// rule (another key, another digest or repository, a changed payload).
    SignatureInvalid,
    /// A signature the lockfile records for the digest is no longer at
    /// the registry.
    SignatureGone,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Missing => "missing",
            FindingKind::Mismatch => "mismatch",
            FindingKind::Unpinned => "unpinned",
            FindingKind::Drift => "drift",
            FindingKind::Invalid => "invalid",
            FindingKind::Access => "access",
            FindingKind::MirrorMissing => "mirror-missing",
            FindingKind::MirrorStale => "mirror-stale",
            FindingKind::Blocked => "blocked",
            FindingKind::Unsigned => "unsigned",
            FindingKind::SignatureInvalid => "signature-invalid",
            FindingKind::SignatureGone => "signature-gone",
        }
    }

    /// Every kind, in order.
    pub const ALL: [FindingKind; 12] = [
        FindingKind::Missing,
        FindingKind::Mismatch,
        FindingKind::Unpinned,
        FindingKind::Drift,
        FindingKind::Invalid,
        FindingKind::Access,
        FindingKind::MirrorMissing,
        FindingKind::MirrorStale,
        FindingKind::Blocked,
        FindingKind::Unsigned,
        FindingKind::SignatureInvalid,
        FindingKind::SignatureGone,
    ];

    /// One sentence on what the kind means.
    pub fn description(self) -> &'static str {
        match self {
            FindingKind::Missing => "A reference whose name and tag are not in the lockfile.",
            FindingKind::Mismatch => "A reference pinned to a digest other than the lockfile's.",
            FindingKind::Unpinned => "A reference not pinned to a digest.",
            FindingKind::Drift => "A locked tag that now points at another digest in its registry.",
            FindingKind::Invalid => "A value the kubelet would reject (InvalidImageName).",
            FindingKind::Access => "A workload whose own pull credentials cannot pull its image.",
            FindingKind::MirrorMissing => {
                "A mirror a node would pull a locked digest from does not serve it."
            }
            FindingKind::MirrorStale => {
                "A mirror resolves a locked tag to another digest than upstream."
            }
            FindingKind::Blocked => {
                "The registries.conf given refuses pulls from the reference's registry (blocked = true)."
            }
            FindingKind::Unsigned => {
                "A signature rule requires the locked digest to be signed, and the registry holds no signature of it."
            }
            FindingKind::SignatureInvalid => {
                "The locked digest has signatures, and none satisfies its signature rule."
            }
            FindingKind::SignatureGone => {
                "A signature the lockfile records for the locked digest is no longer at its registry."
            }
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding: what, where, about which reference, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// Where the reference is written; `None` for a lockfile entry no
    /// manifest uses.
    #[serde(flatten, serialize_with = "serialize_location")]
    pub location: Option<Location>,
    /// The reference as written.
    pub reference: String,
    pub message: String,
    pub hint: Option<String>,
    /// The digest the lockfile records (`mismatch`, `drift`, `unpinned`).
    pub locked: Option<String>,
    /// The digest written (`mismatch`) or the registry's (`drift`).
    pub actual: Option<String>,
}

impl Finding {
    pub fn new(
        kind: FindingKind,
        location: Option<Location>,
        reference: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            kind,
            location,
            reference: reference.into(),
            message: message.into(),
            hint: None,
            locked: None,
            actual: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Finding {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_digests(mut self, locked: impl ToString, actual: Option<String>) -> Finding {
        self.locked = Some(locked.to_string());
        self.actual = actual;
        self
    }
}

/// A location as `file`, `line`, `column` fields (all `null` when absent).
pub(crate) fn serialize_location<S: serde::Serializer>(
    location: &Option<Location>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(3))?;
    m.serialize_entry(
        "file",
        &location.as_ref().map(|l| l.file.display().to_string()),
    )?;
    m.serialize_entry("line", &location.as_ref().and_then(|l| l.line))?;
    m.serialize_entry("column", &location.as_ref().and_then(|l| l.column))?;
    m.end()
}
