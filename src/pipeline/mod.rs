//! The steps the commands share, in the order a run takes them: scan the
//! paths and gather every use of every reference with its pod's pull
//! credentials ([`scanning`]); check the registry options before anything
//! runs ([`options`]); build the run's one registry context ([`remote`]);
//! ask the registries about lock keys and merge the answers into lockfile
//! entries ([`lock_entries`]); ask the mirrors nodes pull from
//! ([`mirror_checks`]). Commands (`crate::commands`) put these steps
//! together and report; nothing here prints data.

pub mod krm;
pub mod lock_entries;
pub mod mirror_checks;
pub mod options;
pub mod pin_plan;
pub mod remote;
pub mod scanning;
pub mod signature_checks;
pub mod stream;
