//! Registry access (stub until the registry branch lands).
#![allow(unused)]
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::credentials::CredentialStore;
use crate::reference::{Digest, Reference};

pub struct RegistryConfig {
    pub ca_files: Vec<PathBuf>,
    pub plain_http: Vec<String>,
    pub concurrency: usize,
    pub timeout: Duration,
    pub certs_dir: PathBuf,
}
impl Default for RegistryConfig {
    fn default() -> Self {
        todo!()
    }
}
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}
impl std::str::FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        todo!()
    }
}
impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!()
    }
}
#[derive(Debug, Clone)]
pub struct Resolved {
    pub digest: Digest,
    pub media_type: Option<String>,
    pub platforms: BTreeMap<String, Digest>,
}
#[derive(Debug, thiserror::Error)]
#[error("x")]
pub struct RegistryError;
impl RegistryError {
    pub fn hint(&self) -> Option<String> {
        todo!()
    }
}
pub struct Client;
impl Client {
    pub fn new(
        config: RegistryConfig,
        credentials: Arc<dyn CredentialStore>,
    ) -> Result<Client, RegistryError> {
        todo!()
    }
    pub async fn resolve(
        &self,
        reference: &Reference,
        platforms: &[Platform],
    ) -> Result<Resolved, RegistryError> {
        todo!()
    }
    pub async fn resolve_all(
        &self,
        refs: &[Reference],
        platforms: &[Platform],
        on_done: &(dyn Fn() + Sync),
    ) -> Vec<Result<Resolved, RegistryError>> {
        todo!()
    }
}
