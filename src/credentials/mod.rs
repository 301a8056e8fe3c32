//! Pull credentials (stub until the registry branch lands).
#![allow(unused)]
pub struct Credential;
pub trait CredentialStore: Send + Sync {
    fn lookup(&self, registry: &str) -> Vec<Credential>;
}
pub struct DockerConfig;
impl DockerConfig {
    pub fn load_default() -> Result<DockerConfig, std::io::Error> {
        todo!()
    }
}
impl CredentialStore for DockerConfig {
    fn lookup(&self, registry: &str) -> Vec<Credential> {
        todo!()
    }
}
