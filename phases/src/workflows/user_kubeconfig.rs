//! `kubestrap kubeconfig user`: a kubeconfig for another user, signed by the cluster CA (or
//! with a token).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::config::{InvalidConfig, duration};
use crate::phases::kubeconfig;
use crate::runner::report::Reporter;

use super::renewal::{CertsOptions, Without};

/// What `kubeconfig user` is asked to make.
#[derive(Debug, Clone, Default)]
pub struct UserKubeconfigOptions {
    /// The folder that stands for `/`.
    pub base: PathBuf,
    /// `--config`: the cluster's endpoint, name and CA folder.
    pub config: Option<PathBuf>,
    /// The user's name (the certificate's CN).
    pub client_name: String,
    /// Its groups (the certificate's O).
    pub orgs: Vec<String>,
    /// How long its certificate is valid (a Go duration).
    pub validity_period: String,
    /// A token to authenticate with instead of a certificate.
    pub token: Option<String>,
}

/// The kubeconfig's text.
pub fn run(opts: UserKubeconfigOptions, out: Box<dyn Reporter>) -> Result<String> {
    let validity = duration::parse(&opts.validity_period)
        .map_err(|e| InvalidConfig(vec![format!("--validity-period: {e:#}")]))?;
    if validity < Duration::from_secs(60) && opts.token.is_none() {
        return Err(InvalidConfig(vec![format!(
            "--validity-period {}: a client certificate valid for less than a minute has expired before anyone can use it; give e.g. 24h or 8760h (a year)",
            opts.validity_period
        )])
        .into());
    }
    let certs = CertsOptions {
        base: opts.base,
        config: opts.config,
        cert_dir: None,
        kubeconfig: None,
        timeout: super::renewal::CLUSTER_CONFIG_WAIT,
    };
    let ctx = super::renewal::context(&certs, Without::Defaults, true, out)?;
    kubeconfig::user_kubeconfig(
        &ctx,
        &opts.client_name,
        &opts.orgs,
        validity,
        opts.token.as_deref(),
    )
}
