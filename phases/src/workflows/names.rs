//! The names commands take, for shell completion: the checks of `--ignore-preflight-errors`
//! and the certificates of `certs renew` (the phases' come from [`super::phase_names`]).

use anyhow::Result;

use crate::config::{self, Documents, Overrides};
use crate::fs::root::Root;
use crate::host::LinuxHost;
use crate::phases::renewal::Renewable;
use crate::preflight::{self, Role};
use crate::runner::context::{Context, Options};
use crate::runner::report::Reporter;

/// The names `--ignore-preflight-errors` takes: every check of init and of a control-plane
/// join for the newest Kubernetes version, sorted, with `all`.
pub fn check_names(out: Box<dyn Reporter>) -> Result<Vec<String>> {
    let ctx = context(out)?;
    let mut names = vec!["all".to_string()];
    for role in [Role::Init, Role::JoinControlPlane] {
        names.extend(preflight::check_names(&ctx, role));
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// The names `certs renew` takes for the newest Kubernetes version, with `all`.
pub fn certificate_names(out: Box<dyn Reporter>) -> Result<Vec<String>> {
    let ctx = context(out)?;
    let mut names: Vec<String> = Renewable::all(&ctx)
        .into_iter()
        .map(Renewable::name)
        .collect();
    names.push("all".into());
    Ok(names)
}

/// A context of kubeadm's defaults for the newest version, with the values resolution would
/// otherwise look up on the host given, so that listing names asks nothing of this machine.
fn context(out: Box<dyn Reporter>) -> Result<Context> {
    let overrides = Overrides {
        advertise_address: Some("192.0.2.1".into()),
        node_name: Some("node".into()),
        cri_socket: Some(config::CRI_SOCKETS[0].1.into()),
        kubernetes_version: Some(crate::version::NEWEST.to_string()),
        ..Overrides::default()
    };
    let root = Root::new("/");
    let host = LinuxHost;
    let cfg = config::resolve(Documents::default(), &overrides, &root, &host)?;
    Ok(Context::new(
        cfg,
        root,
        Box::new(host),
        out,
        Options::default(),
    ))
}
