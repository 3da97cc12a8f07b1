//! SHA-256 digests: the public-key pins (`sha256:<hex>` of a SubjectPublicKeyInfo) joining nodes
//! check the cluster CA with, and hex digests of content.

use anyhow::{Context as _, Result};

use super::cert::Certificate;

/// kubeadm's discovery hash of a CA: `sha256:` + hex of SHA-256 over its SubjectPublicKeyInfo.
pub fn discovery_hash(ca: &Certificate) -> String {
    format!("sha256:{}", sha256_hex(&ca.spki))
}

/// `sha256:<hex>` of the public key of each certificate in a PEM bundle (kubeadm pins every CA
/// of the cluster entry).
pub fn ca_cert_hashes(ca_pem: &[u8]) -> Result<Vec<String>> {
    let text = std::str::from_utf8(ca_pem).context("the cluster CA is not PEM text")?;
    let blocks = pem::parse_many(text).context("the cluster CA is not valid PEM")?;
    let hashes: Vec<String> = blocks
        .iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| Certificate::from_der(b.contents()).map(|c| discovery_hash(&c)))
        .collect::<Result<_>>()?;
    anyhow::ensure!(
        !hashes.is_empty(),
        "the cluster CA bundle holds no certificate"
    );
    Ok(hashes)
}

/// Lower-case hex of the SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
