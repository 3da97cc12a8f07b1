//! The join command printed at the end of init and by `token create --print-join-command`, and
//! the CA public-key hashes it pins.

use anyhow::{Context as _, Result};

use crate::pki::{Certificate, discovery_hash};

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
