//! `control-plane-prepare/download-certs` (spec §10.3, join side): the shared CAs and
//! service-account keys from Secret `kube-system/kubeadm-certs`, opened with the certificate key
//! and written to this node. Every entry is opened before the first file is written, so a wrong
//! key or an expired Secret leaves the node as it was.

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::api::objects::Secret;
use crate::api::{Api, ObjectRef};
use crate::config::ClusterConfiguration;
use crate::fs::root::Root;
use crate::phases::certs::upload::{REUPLOAD, SECRET, shared_files};
use crate::pki::{CertificateKey, OpenError};
use crate::runner::context::Context;

/// A shared file, opened: where it goes and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub path: String,
    pub contents: Vec<u8>,
    /// A private key (0600); otherwise a certificate or public key (0644).
    pub private: bool,
}

/// The phase: runs on a control-plane join given a certificate key; a worker has nothing to do.
pub fn run(ctx: &mut Context) -> Result<()> {
    let Some(key) = ctx
        .cfg
        .join
        .as_ref()
        .and_then(|j| j.certificate_key.clone())
    else {
        return Ok(());
    };
    let key = CertificateKey::parse(&key).context("--certificate-key")?;
    ctx.out.status(
        "download-certs",
        &format!(
            "Downloading the certificates in Secret \"{SECRET}\" in the \"kube-system\" Namespace"
        ),
    );
    let files = download(&ctx.api()?, &ctx.cfg.cluster, &key)?;
    write(&ctx.root, &files)
}

/// Reads the Secret and opens every shared file in it; writes nothing.
pub fn download(
    api: &Api<'_>,
    cluster: &ClusterConfiguration,
    key: &CertificateKey,
) -> Result<Vec<Downloaded>> {
    let target = ObjectRef::new("v1", "Secret", Some("kube-system"), SECRET)?;
    let Some(secret) = api.get::<Secret>(&target)? else {
        bail!(
            "Secret \"{SECRET}\" was not found in the \"kube-system\" Namespace. This Secret might have expired: it lives two hours after it is uploaded\n\nhint: run `{REUPLOAD}` on a control-plane node, then join with the certificate key it prints"
        );
    };
    open_all(&secret, cluster, key)
}

/// Whether `key` opens every entry of the cluster's `kubeadm-certs` Secret; `None` when there is
/// no such Secret (never uploaded, or expired).
pub fn key_opens(api: &Api<'_>, key: &CertificateKey) -> Result<Option<bool>> {
    let target = ObjectRef::new("v1", "Secret", Some("kube-system"), SECRET)?;
    let Some(secret) = api.get::<Secret>(&target)? else {
        return Ok(None);
    };
    Ok(Some(secret.data.values().all(|v| {
        STANDARD
            .decode(v)
            .is_ok_and(|sealed| sealed.is_empty() || key.open(&sealed).is_ok())
    })))
}

/// Opens the shared files of a `kubeadm-certs` Secret; empty entries (files the uploading node
/// did not have) are left out.
pub fn open_all(
    secret: &Secret,
    cluster: &ClusterConfiguration,
    key: &CertificateKey,
) -> Result<Vec<Downloaded>> {
    let mut files = Vec::new();
    for (name, path) in shared_files(cluster) {
        let Some(value) = secret.data.get(&name) else {
            bail!(
                "the Secret \"{SECRET}\" does not include the required certificate or key - name: {name}, path: {path}\n\nhint: run `{REUPLOAD}` on a control-plane node of this cluster to upload every shared file again"
            );
        };
        let sealed = STANDARD
            .decode(value)
            .with_context(|| format!("entry {name:?} of Secret \"{SECRET}\" is not base64"))?;
        if sealed.is_empty() {
            continue;
        }
        let contents = key.open(&sealed).map_err(|e| match e {
            OpenError::WrongKey => anyhow::anyhow!(
                "error decoding secret data with provided key: the certificate key does not open entry {name:?} of Secret \"{SECRET}\" ({e})\n\nhint: pass the key printed by `kubestrap init --upload-certs` or `{REUPLOAD}`; if it is lost, run `{REUPLOAD}` on a control-plane node for a new Secret and key"
            ),
            OpenError::Truncated => anyhow::anyhow!(
                "error decoding secret data with provided key: entry {name:?} of Secret \"{SECRET}\" is damaged ({e})\n\nhint: run `{REUPLOAD}` on a control-plane node to upload the certificates again"
            ),
        })?;
        let private = pem_kind(&contents).with_context(|| {
            format!("unknown data found in entry {name:?} of Secret \"{SECRET}\"")
        })?;
        files.push(Downloaded {
            path,
            contents,
            private,
        });
    }
    Ok(files)
}

/// Whether PEM text holds a private key in any of its blocks (`Some(true)`: a bundle whose key
/// comes after a certificate is still a secret), only certificates and public keys
/// (`Some(false)`), or no PEM block it knows (`None`).
fn pem_kind(contents: &[u8]) -> Option<bool> {
    let text = std::str::from_utf8(contents).ok()?;
    let labels: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("-----BEGIN "))
        .filter_map(|l| l.strip_suffix("-----"))
        .collect();
    if labels.iter().any(|l| l.ends_with("PRIVATE KEY")) {
        Some(true)
    } else if !labels.is_empty()
        && labels
            .iter()
            .all(|l| *l == "CERTIFICATE" || l.ends_with("PUBLIC KEY"))
    {
        Some(false)
    } else {
        None
    }
}

/// Writes the files: keys 0600, certificates and public keys 0644.
pub fn write(root: &Root, files: &[Downloaded]) -> Result<()> {
    for f in files {
        if f.private {
            root.write_secret(&f.path, &f.contents)?;
        } else {
            root.write(&f.path, &f.contents, 0o644)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_bundle_with_a_key_after_its_certificate_is_written_private() {
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let key = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n";
        let bundle = format!("{cert}{key}");
        assert_eq!(pem_kind(bundle.as_bytes()), Some(true));
        assert_eq!(pem_kind(cert.as_bytes()), Some(false));
        assert_eq!(pem_kind(b"not pem"), None);
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let files = [Downloaded {
            path: "/etc/kubernetes/pki/bundle.pem".into(),
            private: pem_kind(bundle.as_bytes()).unwrap(),
            contents: bundle.into_bytes(),
        }];
        write(&root, &files).unwrap();
        let mode = std::fs::metadata(dir.path().join("etc/kubernetes/pki/bundle.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
