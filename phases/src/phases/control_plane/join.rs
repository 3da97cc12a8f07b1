//! The control-plane steps of a join (`kubestrap join --control-plane`): kubeadm's refusals,
//! this node's certificates and kubeconfig files from the shared CAs, its static pods, its entry
//! in the ClusterStatus (≤ 1.21), its wait for its components and its marks. Its etcd member is
//! [`crate::phases::etcd`]'s.

use anyhow::{Result, bail};

use crate::api::cluster_config;
use crate::phases::certs::{self, Cert};
use crate::phases::control_plane;
use crate::phases::kubeconfig::{self, File};
use crate::phases::node;
use crate::runner::context::Context;

/// The refusals kubeadm makes before a control-plane join writes anything, said kubestrap's way.
pub fn check_can_join(ctx: &Context) -> Result<()> {
    let Some(join) = ctx.cfg.join.as_ref().filter(|j| j.control_plane) else {
        return Ok(());
    };
    if ctx
        .cfg
        .cluster
        .control_plane_endpoint
        .as_deref()
        .is_none_or(str::is_empty)
    {
        bail!(
            "unable to add a new control plane instance to a cluster that doesn't have a stable controlPlaneEndpoint address: the cluster's kubeadm-config names none, so every node and kubeconfig points at the first control-plane node alone, and this node's API server could not stand in for it\n\nhint: give the cluster an address that reaches every control-plane node (a load balancer or DNS name): set `controlPlaneEndpoint` in its ClusterConfiguration, re-issue the API server certificates with it in their SANs (`kubestrap certs renew apiserver`), and upload the configuration (`kubestrap init phase upload-config kubeadm --config …`); a new cluster gets it with `kubestrap init --control-plane-endpoint <address>`"
        );
    }
    if join.certificate_key.is_some() {
        return Ok(());
    }
    let missing: Vec<String> = certs::shared_files(&ctx.cfg.cluster)
        .into_iter()
        .map(|(_, path)| path)
        .filter(|p| !p.is_empty() && !ctx.root.exists(p))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the certificates shared among control-plane nodes are missing: {}; without --certificate-key they must be copied here by hand\n\nhint: on the first control-plane node, run `kubestrap init phase upload-certs --upload-certs` and join with the printed --certificate-key, or copy those files from it",
            missing.join(", ")
        );
    }
    Ok(())
}

/// `control-plane-prepare/certs`: this node's leaf certificates, signed by the shared CAs.
pub fn prepare_certs(ctx: &mut Context) -> Result<()> {
    if !ctx.cfg.joins_control_plane() {
        return Ok(());
    }
    ctx.out.status(
        "certs",
        &format!("Using certificateDir folder {:?}", ctx.cert_dir()),
    );
    for cert in Cert::ALL.into_iter().filter(|c| c.signer().is_some()) {
        certs::ensure_leaf(ctx, cert)?;
    }
    ctx.out.status("certs", "Using the existing \"sa\" key");
    Ok(())
}

/// `control-plane-prepare/kubeconfig`: admin, controller-manager and scheduler.
pub fn prepare_kubeconfig(ctx: &mut Context) -> Result<()> {
    if !ctx.cfg.joins_control_plane() {
        return Ok(());
    }
    for file in [File::Admin, File::ControllerManager, File::Scheduler] {
        kubeconfig::ensure(ctx, file)?;
    }
    Ok(())
}

/// `control-plane-prepare/control-plane`: the static pods of init, with this node's address.
pub fn prepare_control_plane(ctx: &mut Context) -> Result<()> {
    if !ctx.cfg.joins_control_plane() {
        return Ok(());
    }
    for phase in control_plane::PHASES {
        if let Some(run) = phase.run {
            run(ctx)?;
        }
    }
    Ok(())
}

/// `control-plane-join/update-status` (≤1.21): this node's API endpoint in the ClusterStatus
/// of kubeadm-config.
pub fn update_status(ctx: &mut Context) -> Result<()> {
    if !ctx.cfg.joins_control_plane() {
        return Ok(());
    }
    cluster_config::add_to_cluster_status(
        &ctx.admin()?,
        &ctx.cfg.node_name,
        (ctx.cfg.advertise_address, ctx.cfg.bind_port),
    )
}

/// `wait-control-plane` (1.33+): on a control-plane join, this node's components are healthy.
pub fn wait_control_plane(ctx: &mut Context) -> Result<()> {
    if !ctx.cfg.joins_control_plane() {
        return Ok(());
    }
    crate::phases::control_plane::wait::local_components(ctx)
}

/// `control-plane-join/mark-control-plane`: init's step, with this node's admin.conf.
pub fn mark(ctx: &mut Context) -> Result<()> {
    if !ctx.cfg.joins_control_plane() {
        return Ok(());
    }
    node::mark_node(ctx, &ctx.admin()?)
}

#[cfg(test)]
pub(crate) mod tests;
