//! The bootstrap tokens of a running cluster (`kubestrap token`), through a kubeconfig under the
//! root: every input is checked before the cluster is asked (bad input: exit code 3, nothing
//! changed).

use std::path::Path;
use std::time::SystemTime;

use anyhow::Result;

use crate::api::http::Credentials;
use crate::config::token_format::{self, Token};
use crate::config::{InvalidConfig, duration, net};
use crate::phases::{bootstrap, certs};
use crate::pki;
use crate::runner::report::Reporter;

pub use crate::phases::bootstrap::Listed;

/// What `token create` is asked to make.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The token (else the file's, else generated).
    pub token: Option<String>,
    /// How long it lives (`24h0m0s`; `0` never expires); else the file's `ttl` or `expires`.
    pub ttl: Option<String>,
    pub description: Option<String>,
    /// Empty: the file's, else kubeadm's defaults (as for `groups`).
    pub usages: Vec<String>,
    pub groups: Vec<String>,
    /// The key of the uploaded certificates, for a control-plane join command.
    pub certificate_key: Option<String>,
    /// `--config`: an InitConfiguration whose first bootstrap token gives what the flags leave out.
    pub config: Option<std::path::PathBuf>,
    /// Check everything and say what would be created, without creating it.
    pub dry_run: bool,
}

/// The token kubeadm's `bootstrapTokens[0]` would be, under the flags given.
fn with_file(mut opts: CreateOptions) -> Result<(CreateOptions, Option<String>)> {
    let file = match &opts.config {
        Some(path) => crate::config::load_file(path)?
            .init
            .bootstrap_tokens
            .into_iter()
            .next(),
        None => None,
    };
    let file = file.unwrap_or_default();
    opts.token = opts.token.or(file.token);
    opts.description = opts.description.or(file.description);
    // `expires` is a date: it applies only when no ttl is given.
    let expires = match (&opts.ttl, &file.ttl) {
        (None, None) => file.expires,
        _ => None,
    };
    if expires.is_none() {
        opts.ttl = opts.ttl.or(file.ttl).or(Some("24h0m0s".into()));
    }
    let or_default = |flag: Vec<String>, file: Vec<String>, default: &[&str]| match (flag, file) {
        (f, _) if !f.is_empty() => f,
        (_, f) if !f.is_empty() => f,
        _ => default.iter().map(|s| s.to_string()).collect(),
    };
    opts.usages = or_default(opts.usages, file.usages, &["signing", "authentication"]);
    opts.groups = or_default(
        opts.groups,
        file.groups,
        &["system:bootstrappers:kubeadm:default-node-token"],
    );
    Ok((opts, expires))
}

/// A token made, with how to join with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub token: String,
    /// RFC 3339, or `None` for a token that never expires.
    pub expires: Option<String>,
    pub usages: Vec<String>,
    pub groups: Vec<String>,
    /// `host:port` of the cluster.
    pub join_endpoint: String,
    pub ca_cert_hashes: Vec<String>,
    /// The join command on one line (a control-plane one with the certificate key).
    pub join_command: String,
}

/// Bad input to a token command: the exit code of an invalid configuration.
fn invalid(e: anyhow::Error) -> anyhow::Error {
    InvalidConfig(vec![format!("{e:#}")]).into()
}

/// Creates a bootstrap token in the cluster of `kubeconfig` (under `base`).
pub fn create(
    base: &Path,
    cluster: &super::Cluster,
    opts: CreateOptions,
    out: Box<dyn Reporter>,
) -> Result<Created> {
    let (opts, file_expires) = with_file(opts)?;
    let token = match &opts.token {
        Some(t) => Token::parse(t).map_err(invalid)?,
        None => Token::generate()?,
    };
    let expires = match (&opts.ttl, file_expires) {
        (Some(ttl), _) => {
            let ttl = duration::parse(ttl).map_err(|e| invalid(e.context("--ttl")))?;
            bootstrap::expiry(SystemTime::now(), ttl).map_err(|e| invalid(e.context("--ttl")))?
        }
        (None, expires) => expires,
    };
    token_format::validate(&opts.usages, &opts.groups).map_err(invalid)?;
    let spec = bootstrap::Spec {
        token: token.clone(),
        description: opts.description,
        expires,
        usages: opts.usages,
        groups: opts.groups,
    };
    let key = opts
        .certificate_key
        .as_deref()
        .map(|k| pki::CertificateKey::parse(k).map_err(|e| invalid(e.context("--certificate-key"))))
        .transpose()?;
    let (root, client) = super::cluster_client(base, cluster)?;
    let api = client.with(&out);
    if let Some(key) = &key {
        check_certificate_key(&api, key, out.as_ref())?;
    }
    if opts.dry_run {
        out.status(
            "dryrun",
            &format!(
                "would create the Secret kube-system/bootstrap-token-{} (nothing was created)",
                token.id
            ),
        );
    } else {
        bootstrap::create_token(&api, &spec)?;
    }
    let creds = Credentials::load(&root, &cluster.kubeconfig)?;
    let hashes = pki::ca_cert_hashes(&creds.ca_pem)?;
    let endpoint = net::url_host_port(&creds.server);
    let join_command = bootstrap::one_line(&bootstrap::join_command(
        &endpoint,
        &token.to_string(),
        &hashes,
        opts.certificate_key.as_deref().map(Some),
    ));
    Ok(Created {
        token: token.to_string(),
        expires: spec.expires,
        usages: spec.usages,
        groups: spec.groups,
        join_endpoint: endpoint,
        ca_cert_hashes: hashes,
        join_command,
    })
}

/// A key that cannot open the uploaded certificates would only fail on the joining node: refuse
/// it here. Without the Secret (expired), warn: the key may be uploaded again with it.
fn check_certificate_key(
    api: &crate::api::Api<'_>,
    key: &pki::CertificateKey,
    out: &dyn Reporter,
) -> Result<()> {
    match certs::key_opens(api, key)? {
        Some(true) => Ok(()),
        Some(false) => Err(invalid(anyhow::anyhow!(
            "the certificate key does not open the kubeadm-certs Secret: a control-plane join with it would fail\n\nhint: pass the key `{0}` printed, or upload the certificates again under your key: `{0} --certificate-key <key>`",
            certs::REUPLOAD
        ))),
        None => {
            out.warn(
                "token",
                &format!(
                    "the kubeadm-certs Secret is not in the cluster (it is deleted two hours after an upload): run `{} --certificate-key <key>` on a control-plane node before joining with this command",
                    certs::REUPLOAD
                ),
            );
            Ok(())
        }
    }
}

/// The bootstrap tokens of the cluster of `kubeconfig`.
pub fn list(base: &Path, cluster: &super::Cluster, out: Box<dyn Reporter>) -> Result<Vec<Listed>> {
    let (_, client) = super::cluster_client(base, cluster)?;
    bootstrap::list_tokens(&client.with(&out), SystemTime::now())
}

/// Deletes each token (an ID or a whole token) of the cluster of `kubeconfig`, calling
/// `deleted` with the ID of each as it goes; every one is checked first.
pub fn delete(
    base: &Path,
    cluster: &super::Cluster,
    tokens: &[String],
    dry_run: bool,
    out: Box<dyn Reporter>,
    deleted: &mut dyn FnMut(&str),
) -> Result<()> {
    if let Some(bad) = tokens
        .iter()
        .find(|t| !token_format::is_id(t) && !token_format::is_token(t))
    {
        return Err(invalid(anyhow::anyhow!(
            "{bad:?} is neither a bootstrap token ID ([a-z0-9]{{6}}) nor a token ([a-z0-9]{{6}}.[a-z0-9]{{16}})\n\nhint: `kubestrap token list` shows the tokens"
        )));
    }
    let (_, client) = super::cluster_client(base, cluster)?;
    let api = client.with(&out);
    for t in tokens {
        if dry_run {
            let id = t.split('.').next().unwrap_or(t);
            out.status(
                "dryrun",
                &format!(
                    "would delete the Secret kube-system/bootstrap-token-{id} (nothing was deleted)"
                ),
            );
        } else {
            deleted(&bootstrap::delete_token(&api, t)?);
        }
    }
    Ok(())
}
