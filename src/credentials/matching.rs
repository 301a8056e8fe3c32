//! The kubelet's keyring matching rules (`pkg/credentialprovider/keyring.go`).
