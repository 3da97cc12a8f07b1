//! The `upload-certs` phase (spec §10.3): the CAs and service-account keys every control-plane
//! node shares, sealed under the certificate key into Secret `kube-system/kubeadm-certs`, owned by
//! a 2-hour bootstrap token so the garbage collector deletes it when the token expires, and the
//! RBAC that lets joining nodes read it. The list of shared files is also the join side's
//! (`download-certs`).

use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::api::objects::Secret;
use crate::api::{Api, ObjectRef, manifests};
use crate::config::ClusterConfiguration;
use crate::config::token_format::Token;
use crate::phases::bootstrap::{self, Spec};
use crate::phases::certs::{Cert, externally_managed};
use crate::pki::CertificateKey;
use crate::runner::context::Context;

/// The Secret's name (namespace `kube-system`).
pub const SECRET: &str = "kubeadm-certs";
/// The description of the token that owns the Secret, as kubeadm writes it.
pub const TOKEN_DESCRIPTION: &str = "Proxy for managing TTL for the kubeadm-certs secret";
/// How long the Secret lives (kubeadm's `DefaultCertTokenDuration`).
pub const LIFETIME: Duration = Duration::from_secs(2 * 3600);
/// The command that uploads the certificates again, for messages.
pub const REUPLOAD: &str = "kubestrap init phase upload-certs --upload-certs";

/// The files control-plane nodes share: `(entry name in the Secret, logical path)`. With an
/// external etcd, its client certificate and CA (wherever the configuration puts them).
pub fn shared_files(cluster: &ClusterConfiguration) -> Vec<(String, String)> {
    let dir = &cluster.certificates_dir;
    let mut names = vec![
        "ca.crt",
        "ca.key",
        "front-proxy-ca.crt",
        "front-proxy-ca.key",
        "sa.pub",
        "sa.key",
    ];
    if cluster.etcd.external.is_none() {
        names.extend(["etcd/ca.crt", "etcd/ca.key"]);
    }
    let mut files: Vec<(String, String)> = names
        .into_iter()
        .map(|n| (n.replace('/', "-"), format!("{dir}/{n}")))
        .collect();
    if let Some(ext) = &cluster.etcd.external {
        for (name, path) in [
            ("external-etcd-ca.crt", &ext.ca_file),
            ("external-etcd.crt", &ext.cert_file),
            ("external-etcd.key", &ext.key_file),
        ] {
            files.push((name.into(), path.clone()));
        }
    }
    files
}

/// Refuses `--upload-certs` where another party holds a CA key: joining nodes could not get it.
/// Runs before anything is written.
pub fn refuse_external_ca(ctx: &Context) -> Result<()> {
    if !ctx.opts.upload_certs {
        return Ok(());
    }
    let external: Vec<&str> = [(Cert::Ca, "ca"), (Cert::FrontProxyCa, "front-proxy-ca")]
        .into_iter()
        .filter(|(ca, _)| externally_managed(ctx, *ca))
        .map(|(_, name)| name)
        .collect();
    if !external.is_empty() {
        return Err(crate::config::InvalidConfig(vec![format!(
            "can't use upload-certs with an external CA or an external front-proxy CA: `{dir}` holds the certificate of {list} without its key, so there is nothing to share with joining control-plane nodes\n\nhint: drop --upload-certs and copy the certificates to each new control-plane node yourself, or place the CA key next to its certificate",
            dir = ctx.cert_dir(),
            list = external.join(" and "),
        )])
        .into());
    }
    Ok(())
}

/// The certificate key of this run: `--certificate-key` / `certificateKey`, or a new one, kept in
/// the config so show-join-command prints the same.
pub fn certificate_key(ctx: &mut Context) -> Result<String> {
    if let Some(key) = &ctx.cfg.init.certificate_key {
        return Ok(key.clone());
    }
    let key = crate::pki::certificate_key()?;
    ctx.cfg.init.certificate_key = Some(key.clone());
    Ok(key)
}

/// The `upload-certs` phase.
pub fn run(ctx: &mut Context) -> Result<()> {
    if !ctx.opts.upload_certs {
        ctx.out
            .status("upload-certs", "Skipping phase. Please see --upload-certs");
        return Ok(());
    }
    refuse_external_ca(ctx)?;
    let text = certificate_key(ctx)?;
    let key = CertificateKey::parse(&text).context("--certificate-key")?;
    ctx.out.status(
        "upload-certs",
        &format!(
            "Storing the certificates in Secret \"{SECRET}\" in the \"kube-system\" Namespace"
        ),
    );
    let data = sealed_files(ctx, &key)?;
    upload(&ctx.api()?, data, ctx.opts.dry_run)?;
    if !ctx.opts.skip_certificate_key_print {
        ctx.out
            .status("upload-certs", &format!("Using certificate key:\n{text}"));
        ctx.outputs.certificate_key = Some(text);
    }
    Ok(())
}

/// Every shared file sealed (base64, as Secret data); a missing file is an empty value, as
/// kubeadm leaves it (an external etcd may have no client certificate).
fn sealed_files(ctx: &Context, key: &CertificateKey) -> Result<Vec<(String, String)>> {
    let mut data = Vec::new();
    for (name, path) in shared_files(&ctx.cfg.cluster) {
        let value = if path.is_empty() {
            Vec::new()
        } else {
            match ctx.root.read_optional(&path)? {
                Some(plain) => key.seal(&plain)?,
                None => Vec::new(),
            }
        };
        data.push((name, STANDARD.encode(value)));
    }
    Ok(data)
}

/// Creates the owner token, then the Secret (replacing an earlier upload) owned by it, then the
/// RBAC. `data` is the Secret's (base64) data.
pub fn upload(api: &Api<'_>, data: Vec<(String, String)>, dry_run: bool) -> Result<()> {
    let spec = Spec {
        token: Token::generate()?,
        description: Some(TOKEN_DESCRIPTION.into()),
        expires: bootstrap::expiry(SystemTime::now(), LIFETIME)?,
        usages: Vec::new(),
        groups: Vec::new(),
    };
    bootstrap::create_token(api, &spec)
        .context("failed to create the token that owns the kubeadm-certs Secret")?;
    let owner = spec.token.secret_name();
    let owner_ref = ObjectRef::new("v1", "Secret", Some("kube-system"), &owner)?;
    let uid = match api.get::<Secret>(&owner_ref)?.and_then(|s| s.metadata.uid) {
        Some(uid) => uid,
        // A dry run creates nothing to read back.
        None if dry_run => format!("<uid of {owner}>"),
        None => bail!(
            "the bootstrap token Secret kube-system/{owner} has no uid right after it was created, so the kubeadm-certs Secret cannot be tied to its lifetime"
        ),
    };
    api.create_or_update(&secret(data, &owner, &uid))?;
    manifests::apply(
        api,
        "rbac/kubeadm-certs.yaml",
        manifests::RBAC_KUBEADM_CERTS,
        &[],
    )
}

/// Secret `kube-system/kubeadm-certs`, with a controller reference to the token Secret `owner`.
fn secret(data: Vec<(String, String)>, owner: &str, uid: &str) -> Value {
    let data: serde_json::Map<String, Value> =
        data.into_iter().map(|(k, v)| (k, json!(v))).collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SECRET,
            "namespace": "kube-system",
            "ownerReferences": [{
                "apiVersion": "v1",
                "kind": "Secret",
                "name": owner,
                "uid": uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "type": "Opaque",
        "data": data,
    })
}
