//! The join command printed at the end of init and by `token create --print-join-command`, and
//! the CA public-key hashes it pins.

use anyhow::{Context as _, Result};

/// `sha256:<hex>` of the DER SubjectPublicKeyInfo of each certificate in a PEM bundle.
pub fn ca_cert_hashes(ca_pem: &[u8]) -> Result<Vec<String>> {
    let mut hashes = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(ca_pem) {
        let pem = pem.context("the cluster CA is not valid PEM")?;
        let cert = pem
            .parse_x509()
            .context("the cluster CA is not a valid certificate")?;
        let digest = ring::digest::digest(&ring::digest::SHA256, cert.public_key().raw);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        hashes.push(format!("sha256:{hex}"));
    }
    anyhow::ensure!(
        !hashes.is_empty(),
        "the cluster CA bundle holds no certificate"
    );
    Ok(hashes)
}

/// `host:port` of a server URL (`https://10.0.0.1:6443` → `10.0.0.1:6443`).
pub fn host_port(server: &str) -> String {
    let s = server.strip_prefix("https://").unwrap_or(server);
    s.trim_end_matches('/').to_string()
}

/// The join command in kubeadm's layout: continuation lines start with a TAB, and each hash is
/// followed by a space. `control_plane` is `Some(certificate key)` for a control-plane join.
pub fn command(
    endpoint: &str,
    token: &str,
    hashes: &[String],
    control_plane: Option<Option<&str>>,
) -> String {
    let mut out = format!("kubestrap join {endpoint} --token {token} \\\n\t");
    for h in hashes {
        out.push_str(&format!("--discovery-token-ca-cert-hash {h} "));
    }
    if let Some(key) = control_plane {
        out.push_str("\\\n\t--control-plane ");
        if let Some(key) = key {
            out.push_str(&format!("--certificate-key {key}"));
        }
    }
    out
}

/// The same command on one line (for `token create --print-join-command`).
pub fn one_line(cmd: &str) -> String {
    cmd.replace(" \\\n\t", " ")
}
