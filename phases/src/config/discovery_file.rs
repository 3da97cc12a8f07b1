//! The discovery file of a join (`--discovery-file`, `discovery.file.kubeConfigPath`): a
//! kubeconfig that names the cluster's server and embeds its CA. It is trusted as it is, so it is
//! checked before anything is sent: an `http://` server would receive the bootstrap token in
//! clear text, and a CA that is not a CA certificate (a leaf, a private key, not PEM) could never
//! verify the API server.

use anyhow::{Context as _, Result};

use crate::api::kubeconfig::{Kubeconfig, MAX_KUBECONFIG_BYTES, decode_data};
use crate::fs::bounded::{self, Unreadable};
use crate::pki::Certificate;

/// Reads a discovery file from a path: a regular file of at most 1 MiB, in UTF-8.
pub fn read(path: &str) -> Result<String> {
    let read = || format!("failed to read the discovery file `{path}`");
    let bytes = match bounded::read(std::path::Path::new(path), MAX_KUBECONFIG_BYTES) {
        Ok(bytes) => bytes,
        Err(Unreadable::Io(e)) => return Err(anyhow::Error::new(e).context(read())),
        Err(refused) => {
            return Err(super::InvalidConfig(vec![format!(
                "the discovery file `{path}`: {refused}; give a kubeconfig file"
            )])
            .into());
        }
    };
    String::from_utf8(bytes)
        .with_context(|| format!("the discovery file `{path}` is not UTF-8 text"))
}

/// What is wrong with a discovery kubeconfig's text, one sentence each.
pub fn problems(text: &str) -> Vec<String> {
    let kc = match Kubeconfig::parse(text) {
        Ok(kc) => kc,
        Err(e) => return vec![format!("it is not a kubeconfig: {e:#}")],
    };
    let Some(cluster) = kc
        .current_cluster()
        .or_else(|| kc.clusters.first().map(|c| &c.cluster))
    else {
        return vec!["it names no cluster".into()];
    };
    let mut out = Vec::new();
    if !cluster.server.starts_with("https://") {
        out.push(format!(
            "its server {:?} is not an https:// URL: the bootstrap token would travel in clear text; use the API server's https:// address",
            cluster.server
        ));
    }
    match cluster.certificate_authority_data.as_deref() {
        None => out.push(
            "it does not embed the cluster CA (certificate-authority-data); a file reference would point into the machine that wrote it".into(),
        ),
        Some(data) => {
            if let Some(problem) = decode_data(data).map_or_else(
                |e| Some(format!("its certificate-authority-data is not base64: {e:#}")),
                |pem| ca_problem(&pem),
            ) {
                out.push(problem);
            }
        }
    }
    out
}

/// Why the PEM of certificate-authority-data is not a set of CA certificates, if it is not.
fn ca_problem(pem_bytes: &[u8]) -> Option<String> {
    let blocks = std::str::from_utf8(pem_bytes)
        .ok()
        .and_then(|text| pem::parse_many(text).ok())
        .filter(|blocks| !blocks.is_empty());
    let Some(blocks) = blocks else {
        return Some("its certificate-authority-data is not a PEM certificate".into());
    };
    for block in &blocks {
        if block.tag() != "CERTIFICATE" {
            let what = if block.tag().contains("PRIVATE KEY") {
                "a private key (keep it secret: it must not be in a discovery file)".to_string()
            } else {
                format!("a {} block", block.tag())
            };
            return Some(format!(
                "its certificate-authority-data holds {what}, not the cluster's CA certificate"
            ));
        }
        match Certificate::from_der(block.contents()) {
            Ok(cert) if cert.is_ca => {}
            Ok(cert) => {
                return Some(format!(
                    "its certificate-authority-data holds the certificate of {:?}, which is not a CA: it cannot verify the API server; embed the cluster CA (/etc/kubernetes/pki/ca.crt)",
                    cert.common_name
                ));
            }
            Err(e) => {
                return Some(format!(
                    "its certificate-authority-data holds a certificate that does not parse: {e:#}"
                ));
            }
        }
    }
    None
}

/// Refuses a discovery kubeconfig (from `source`, a path or URL) with every problem at once.
pub fn check(text: &str, source: &str) -> Result<()> {
    let found = problems(text);
    if found.is_empty() {
        return Ok(());
    }
    Err(super::InvalidConfig(
        found
            .into_iter()
            .map(|p| format!("the discovery file `{source}`: {p}"))
            .collect(),
    )
    .into())
}
