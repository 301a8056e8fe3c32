//! Test certificates: a CA and a separate server certificate for
//! 127.0.0.1 (rustls rejects a self-signed certificate served as the
//! server's own), and an RSA signing certificate for the token server.

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Files written for a TLS registry.
pub(crate) struct TlsFiles {
    /// The CA certificate (PEM) clients trust.
    pub ca_file: PathBuf,
    /// A directory holding `ca.crt`, as skopeo's `--cert-dir` wants.
    pub cert_dir: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// The server certificate and its PKCS#8 key, DER, for an in-process
    /// rustls server.
    pub server_cert_der: Vec<u8>,
    pub server_key_der: Vec<u8>,
}

pub(crate) fn make_tls(dir: &Path) -> TlsFiles {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "imagelock test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();

    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    p.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = p.signed_by(&key, &ca_cert, &ca_key).unwrap();

    let cert_dir = dir.join("certs");
    fs_err::create_dir_all(&cert_dir).unwrap();
    let files = TlsFiles {
        ca_file: dir.join("ca.pem"),
        cert_dir: cert_dir.clone(),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        server_cert_der: cert.der().to_vec(),
        server_key_der: key.serialize_der(),
    };
    fs_err::write(&files.ca_file, ca_cert.pem()).unwrap();
    fs_err::write(cert_dir.join("ca.crt"), ca_cert.pem()).unwrap();
    fs_err::write(&files.server_cert, cert.pem()).unwrap();
    fs_err::write(&files.server_key, key.serialize_pem()).unwrap();
    files
}

/// An RSA key (PKCS#8 DER, for ring) and a self-signed certificate for it
/// (DER for the JWT `x5c`, PEM file for distribution's `rootcertbundle`).
pub(crate) struct SigningKey {
    pub pkcs8_der: Vec<u8>,
    pub cert_der: Vec<u8>,
    pub cert_pem_file: PathBuf,
}

pub(crate) fn make_signing_key(dir: &Path) -> SigningKey {
    // ring cannot generate RSA keys; openssl can.
    let key_pem = dir.join("token-key.pem");
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key_pem)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `openssl` ({e}): install the Debian package `openssl`")
        });
    assert!(
        out.status.success(),
        "openssl genpkey failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = fs_err::read_to_string(&key_pem).unwrap();
    let key = KeyPair::from_pem(&pem).unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "imagelock test token signer");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    let cert = p.self_signed(&key).unwrap();
    let cert_pem_file = dir.join("token-signer.pem");
    fs_err::write(&cert_pem_file, cert.pem()).unwrap();
    SigningKey {
        pkcs8_der: key.serialize_der(),
        cert_der: cert.der().to_vec(),
        cert_pem_file,
    }
}
