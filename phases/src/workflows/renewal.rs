//! The certificate lifecycle after init: renew certificates with the CAs on disk, then make the
//! running control plane use them (restart each static pod whose files changed, etcd first) and
//! check that the API server really serves its new certificate.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::api::{Log, Retry, client, cluster_config};
use crate::config::ClusterConfiguration;
use crate::fs::root::Root;
use crate::phases::certs::Cert;
use crate::phases::control_plane;
use crate::phases::renewal::{self, Outcome, Renewable};
use crate::pki;
use crate::runner::context::Context;

/// How long renewal waits for the API server before it goes on with kubeadm's defaults: a
/// renewal must work while the control plane is down (expired certificates are why it is).
const CLUSTER_CONFIG_WAIT: Duration = Duration::from_secs(5);

/// The ClusterConfiguration the cluster keeps (kube-system/kubeadm-config), read with
/// admin.conf under `root`, for `certs` commands run without `--config` (as kubeadm does).
pub fn cluster_configuration(root: &Root, out: &dyn Log) -> Result<ClusterConfiguration> {
    let retry = Retry {
        timeout: CLUSTER_CONFIG_WAIT,
        ..Retry::default()
    };
    let admin = client::admin(root, retry)?;
    Ok(cluster_config::cluster_configuration(&admin.with(out))?.0)
}

/// Every renewable certificate (`all`), or those named, in kubeadm's order; an unknown name is
/// refused with the list of valid ones before anything is renewed.
pub fn select(ctx: &Context, names: &[String]) -> Result<Vec<Renewable>> {
    let all = Renewable::all(ctx);
    if names.iter().any(|n| n == "all") {
        return Ok(all);
    }
    let mut picked = Vec::new();
    for name in names {
        match Renewable::find(ctx, name) {
            Some(item) if !picked.contains(&item) => picked.push(item),
            Some(_) => {}
            None => bail!(
                "{name:?} is not a valid certificate for this cluster; valid names are: all, {}",
                all.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    Ok(picked)
}

/// Renews each item; the outcome of each, in order. Keys are generated on every core at once.
pub fn renew(ctx: &Context, items: &[Renewable]) -> Result<Vec<(Renewable, Outcome)>> {
    let present = items
        .iter()
        .filter(|i| ctx.root.exists(i.path(ctx)))
        .count();
    if let Ok(alg) = crate::phases::certs::key_algorithm(ctx) {
        pki::prefetch_keys(alg, present);
    }
    items
        .iter()
        .map(|item| Ok((*item, renewal::renew_certificate(ctx, *item)?)))
        .collect()
}

/// The static pods that read the renewed certificates, in restart order.
pub fn components_to_restart(renewed: &[(Renewable, Outcome)]) -> Vec<&'static str> {
    control_plane::RESTART_ORDER
        .into_iter()
        .filter(|c| {
            renewed.iter().any(|(item, outcome)| {
                matches!(outcome, Outcome::Renewed { .. }) && item.component() == Some(*c)
            })
        })
        .collect()
}

/// What the API server presents after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub url: String,
    /// Serial (hex) of the certificate it serves, equal to `apiserver.crt`'s.
    pub serial: String,
}

/// Restarts `components` one at a time in [`control_plane::RESTART_ORDER`]; when the kube-apiserver is among
/// them, checks over TLS that it serves `apiserver.crt` as it is on disk now.
pub fn restart(ctx: &Context, components: &[&str]) -> Result<Option<Served>> {
    for component in control_plane::RESTART_ORDER {
        if components.contains(&component) {
            control_plane::restart_component(ctx, component)?;
        }
    }
    if !components.contains(&"kube-apiserver") {
        return Ok(None);
    }
    served_matches_disk(ctx).map(Some)
}

/// Connects to this node's API server (trusting only the cluster CA) and compares the
/// certificate it presents with `apiserver.crt`.
pub fn served_matches_disk(ctx: &Context) -> Result<Served> {
    let dir = ctx.cert_dir();
    let (crt, _) = pki::pair_paths(dir, Cert::Apiserver.base());
    let (ca_crt, _) = pki::pair_paths(dir, Cert::Ca.base());
    let on_disk = pki::read_cert(&ctx.root, &crt)?;
    let ca_pem = ctx.root.read(&ca_crt)?;
    let url = control_plane::apiserver_url(ctx)?;
    let served = pki::Certificate::from_der(&crate::api::http::served_certificate(
        &format!("{url}/livez"),
        &ca_pem,
    )?)?;
    if served.der != on_disk.der {
        bail!(
            "the API server at {url} still serves the certificate with serial {}, not `{crt}` (serial {})\n\nhint: run `kubestrap certs restart kube-apiserver` on this node",
            served.serial_hex(),
            on_disk.serial_hex()
        );
    }
    ctx.out.status(
        "restart",
        &format!(
            "The API server at {url} serves the renewed certificate (serial {})",
            served.serial_hex()
        ),
    );
    Ok(Served {
        url,
        serial: served.serial_hex(),
    })
}
