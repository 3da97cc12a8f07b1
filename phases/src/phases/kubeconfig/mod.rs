//! The `kubeconfig` phases: admin, super-admin (1.29+), kubelet, controller-manager, scheduler.
//! The file format is [`crate::api::kubeconfig`].

pub mod sudo_user;

pub use sudo_user::{SudoUser, UserKubeconfig, install_user_kubeconfig, set_aside_user_kubeconfig};

use anyhow::{Context as _, Result, bail};

use crate::api::kubeconfig::{Kubeconfig, decode_data};
use crate::config::net;
use crate::fs::paths;
use crate::phases::certs::{self, Cert};
use crate::pki::{self, AltNames, CertRequest, Certificate, KeyAlgorithm, Usage};
use crate::runner::Phase;
use crate::runner::context::Context;
use crate::runner::versions::Versioned;

/// `https://host:port`, with IPv6 hosts bracketed.
fn url(host: &str, port: u16) -> String {
    format!("https://{}", net::join_host_port(host, port))
}

/// This node's API server: `https://<advertiseAddress>:<bindPort>`.
pub fn local_endpoint(ctx: &Context) -> String {
    url(&ctx.cfg.advertise_address.to_string(), ctx.cfg.bind_port)
}

/// The cluster's API server: `controlPlaneEndpoint` (its port, else bindPort) or the local one.
pub fn control_plane_endpoint(ctx: &Context) -> Result<String> {
    match ctx
        .cfg
        .cluster
        .control_plane_endpoint
        .as_deref()
        .filter(|e| !e.is_empty())
    {
        None => Ok(local_endpoint(ctx)),
        Some(endpoint) => {
            let (host, port) = net::parse_control_plane_endpoint(endpoint)?;
            if port.is_some_and(|p| p != ctx.cfg.bind_port) {
                ctx.out.warn(
                    "endpoint",
                    "port specified in controlPlaneEndpoint overrides bindPort in the controlplane address",
                );
            }
            Ok(url(&host, port.unwrap_or(ctx.cfg.bind_port)))
        }
    }
}

/// The kubeconfig files of init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum File {
    Admin,
    SuperAdmin,
    Kubelet,
    ControllerManager,
    Scheduler,
}

impl File {
    /// The file name under `/etc/kubernetes`.
    pub fn name(self) -> &'static str {
        match self {
            File::Admin => "admin.conf",
            File::SuperAdmin => "super-admin.conf",
            File::Kubelet => "kubelet.conf",
            File::ControllerManager => "controller-manager.conf",
            File::Scheduler => "scheduler.conf",
        }
    }

    /// The user (client certificate CN) and its group.
    pub fn identity(self, ctx: &Context) -> (String, Option<&'static str>) {
        match self {
            File::Admin => ("kubernetes-admin".into(), Some(ctx.profile().admin_group)),
            File::SuperAdmin => ("kubernetes-super-admin".into(), Some("system:masters")),
            File::Kubelet => (
                format!("system:node:{}", ctx.cfg.node_name),
                Some("system:nodes"),
            ),
            File::ControllerManager => ("system:kube-controller-manager".into(), None),
            File::Scheduler => ("system:kube-scheduler".into(), None),
        }
    }

    /// controller-manager and scheduler talk to this node's API server; the others to the cluster's.
    fn server(self, ctx: &Context) -> Result<String> {
        match self {
            File::ControllerManager | File::Scheduler => Ok(local_endpoint(ctx)),
            _ => control_plane_endpoint(ctx),
        }
    }

    pub fn files(ctx: &Context) -> &'static [File] {
        if ctx.profile().super_admin {
            &[
                File::Admin,
                File::SuperAdmin,
                File::Kubelet,
                File::ControllerManager,
                File::Scheduler,
            ]
        } else {
            &[
                File::Admin,
                File::Kubelet,
                File::ControllerManager,
                File::Scheduler,
            ]
        }
    }
}

/// Checks an existing kubeconfig against the CA (and the client certificate against it too).
fn check_existing(ctx: &Context, path: &str, ca: &Certificate, server: &str) -> Result<()> {
    let hint = format!(
        "\n\nhint: remove `{path}` so kubestrap writes a new one, or run `kubestrap reset` to start over"
    );
    let text = ctx.root.read_to_string(path)?;
    let config =
        Kubeconfig::parse(&text).with_context(|| format!("failed to parse `{path}`{hint}"))?;
    let cluster = config.current_cluster().with_context(|| {
        format!("a kubeconfig file {path:?} exists already but its current context names no cluster{hint}")
    })?;
    let ca_matches = cluster
        .certificate_authority_data
        .as_deref()
        .and_then(|d| decode_data(d).ok())
        .and_then(|pem| Certificate::from_pem(&String::from_utf8_lossy(&pem)).ok())
        .is_some_and(|c| c.der == ca.der);
    if !ca_matches {
        bail!("a kubeconfig file {path:?} exists already but has got the wrong CA cert{hint}");
    }
    if let Some(cert) = config
        .current_user()
        .and_then(|u| u.client_certificate_data.as_deref())
        .and_then(|d| decode_data(d).ok())
        .and_then(|pem| Certificate::from_pem(&String::from_utf8_lossy(&pem)).ok())
        && !cert.is_signed_by(ca)
    {
        bail!(
            "a kubeconfig file {path:?} exists already but its client certificate is not signed by the cluster CA{hint}"
        );
    }
    if cluster.server != server {
        ctx.out.warn(
            "kubeconfig",
            &format!(
                "a kubeconfig file {path:?} exists already but has an unexpected API Server URL: expected: {server}, got: {}",
                cluster.server
            ),
        );
    }
    Ok(())
}

/// External CA: a kubeconfig from `certs generate-csr` holds a key but no certificate; the
/// certificate the CA signed from its `<file>.csr` is expected as `<file>.crt` and is embedded
/// once it checks out (signed by the cluster CA, for the key in the file).
fn embed_signed_cert(ctx: &Context, path: &str, ca: &Certificate) -> Result<()> {
    let text = ctx.root.read_to_string(path)?;
    let Ok(mut config) = Kubeconfig::parse(&text) else {
        return Ok(()); // check_existing reports it
    };
    let Some(user_name) = config
        .contexts
        .iter()
        .find(|c| c.name == config.current_context)
        .map(|c| c.context.user.clone())
    else {
        return Ok(());
    };
    let Some(user) = config.users.iter_mut().find(|u| u.name == user_name) else {
        return Ok(());
    };
    let u = &mut user.user;
    let has_credentials =
        u.client_certificate_data.is_some() || u.client_certificate.is_some() || u.token.is_some();
    let Some(key_data) = u.client_key_data.clone().filter(|_| !has_credentials) else {
        return Ok(());
    };
    let crt = format!("{path}.crt");
    let hint = format!(
        "\n\nhint: sign `{path}.csr` with the cluster CA and save the certificate as `{crt}` (see `kubestrap certs generate-csr --help`)"
    );
    if !ctx.root.exists(&crt) {
        bail!("`{path}` has a key but no client certificate, and `{crt}` does not exist{hint}");
    }
    let cert = pki::read_cert(&ctx.root, &crt)?;
    let key_pem = String::from_utf8(decode_data(&key_data)?)
        .with_context(|| format!("the key in `{path}` is not text"))?;
    let key = pki::PrivateKey::from_pem(&key_pem)
        .with_context(|| format!("failed to parse the key in `{path}`"))?;
    if !cert.is_signed_by(ca) {
        bail!("`{crt}` is not signed by the cluster CA{hint}");
    }
    if !cert.matches_key(&key) {
        bail!("`{crt}` is not the certificate of the key in `{path}`{hint}");
    }
    u.client_certificate_data =
        Kubeconfig::client_cert_user(&cert.pem(), "").client_certificate_data;
    ctx.root.write_secret(path, config.to_yaml()?.as_bytes())?;
    ctx.out.status(
        "kubeconfig",
        &format!("Embedded the externally signed `{crt}` in {path:?}"),
    );
    Ok(())
}

/// The key the kubeconfig phase `name` will generate: one when its file is not there yet.
fn new_key(ctx: &Context, name: &str) -> Option<KeyAlgorithm> {
    let file = File::files(ctx)
        .iter()
        .find(|f| f.name().strip_suffix(".conf") == Some(name))?;
    if ctx.root.exists(paths::kubeconfig(file.name())) {
        return None;
    }
    certs::key_algorithm(ctx).ok()
}

pub fn ensure(ctx: &Context, file: File) -> Result<()> {
    let path = paths::kubeconfig(file.name());
    let ca = pki::load_ca(&ctx.root, ctx.cert_dir(), Cert::Ca.base())
        .context("failure loading ca certificate authority")?;
    let server = file.server(ctx)?;
    if ctx.root.exists(&path) {
        embed_signed_cert(ctx, &path, &ca.cert)?;
        check_existing(ctx, &path, &ca.cert, &server)?;
        ctx.out.status(
            "kubeconfig",
            &format!("Using existing kubeconfig file: {path:?}"),
        );
        return Ok(());
    }
    let Some(ca_key) = &ca.key else {
        let (_, key) = pki::pair_paths(ctx.cert_dir(), Cert::Ca.base());
        bail!(
            "`{path}` does not exist and `{key}` is not there to sign its client certificate (external CA mode: every kubeconfig must be provided)\n\nhint: create `{path}` with a client certificate from your CA, or place `{key}` next to `ca.crt`"
        );
    };
    ctx.out.status(
        "kubeconfig",
        &format!("Writing {:?} kubeconfig file", file.name()),
    );
    certs::check_signing_period(&ca.cert, Cert::Ca.base())?;
    let (user, group) = file.identity(ctx);
    let (not_before, not_after) = certs::leaf_validity(ctx, &ca.cert)?;
    let req = CertRequest {
        common_name: user.clone(),
        organizations: group.map(str::to_string).into_iter().collect(),
        alt_names: AltNames::default(),
        usages: vec![Usage::ClientAuth],
        is_ca: false,
        leaf_basic_constraints: ctx.profile().leaf_basic_constraints,
        not_before,
        not_after,
    };
    let key = pki::new_key(certs::key_algorithm(ctx)?)?;
    let cert = pki::sign(&req, &key, Some((&ca.cert, ca_key))).with_context(|| {
        format!(
            "failure while creating the client certificate for {}",
            file.name()
        )
    })?;
    let config = Kubeconfig::with_client_cert(
        &ctx.cfg.cluster.cluster_name,
        &server,
        &ca.cert.pem(),
        &user,
        &cert.pem(),
        key.pem(),
    );
    ctx.root.write_secret(&path, config.to_yaml()?.as_bytes())
}

/// `kubeconfig user`: a kubeconfig for `client_name` (in groups `orgs`) at the cluster's
/// endpoint, authenticated by a client certificate the cluster CA signs for `validity`, or by
/// `token` when one is given.
pub fn user_kubeconfig(
    ctx: &Context,
    client_name: &str,
    orgs: &[String],
    validity: std::time::Duration,
    token: Option<&str>,
) -> Result<String> {
    let ca = pki::load_ca(&ctx.root, ctx.cert_dir(), Cert::Ca.base())
        .context("failure loading ca certificate authority")?;
    let server = control_plane_endpoint(ctx)?;
    let cluster = &ctx.cfg.cluster.cluster_name;
    let config = match token {
        Some(token) => Kubeconfig::with_token(cluster, &server, &ca.cert.pem(), client_name, token),
        None => {
            let Some(ca_key) = &ca.key else {
                let (_, key) = pki::pair_paths(ctx.cert_dir(), Cert::Ca.base());
                bail!(
                    "`{key}` is not there to sign a client certificate (external CA)\n\nhint: pass --token, or run this where the CA key is"
                );
            };
            certs::check_signing_period(&ca.cert, Cert::Ca.base())?;
            let (not_before, _) = certs::leaf_validity(ctx, &ca.cert)?;
            let req = CertRequest {
                common_name: client_name.to_string(),
                organizations: orgs.to_vec(),
                alt_names: AltNames::default(),
                usages: vec![Usage::ClientAuth],
                is_ca: false,
                leaf_basic_constraints: ctx.profile().leaf_basic_constraints,
                not_before,
                not_after: crate::config::duration::later(ctx.started, validity)?,
            };
            certs::warn_if_outlives(ctx, &ca.cert, req.not_after);
            let key = pki::new_key(certs::key_algorithm(ctx)?)?;
            let cert = pki::sign(&req, &key, Some((&ca.cert, ca_key))).with_context(|| {
                format!("failure while creating the client certificate for {client_name}")
            })?;
            Kubeconfig::with_client_cert(
                cluster,
                &server,
                &ca.cert.pem(),
                client_name,
                &cert.pem(),
                key.pem(),
            )
        }
    };
    config.to_yaml()
}

fn admin(ctx: &mut Context) -> Result<()> {
    ctx.out.status(
        "kubeconfig",
        &format!("Using kubeconfig folder {:?}", paths::KUBERNETES_DIR),
    );
    ensure(ctx, File::Admin)
}

fn super_admin(ctx: &mut Context) -> Result<()> {
    ensure(ctx, File::SuperAdmin)
}

fn kubelet(ctx: &mut Context) -> Result<()> {
    ensure(ctx, File::Kubelet)
}

fn controller_manager(ctx: &mut Context) -> Result<()> {
    ensure(ctx, File::ControllerManager)
}

fn scheduler(ctx: &mut Context) -> Result<()> {
    ensure(ctx, File::Scheduler)
}

const NEEDS_CA: &[(&str, &str)] = &[("pki/ca.crt", "certs/ca")];

const ADMIN: Phase = Phase::leaf(
    "admin",
    "Generate a kubeconfig file for the admin to use and for kubeadm itself",
    admin,
)
.requires(NEEDS_CA)
.new_key(new_key);
const KUBELET: Phase = Phase::leaf(
    "kubelet",
    "Generate a kubeconfig file for the kubelet to use *only* for cluster bootstrapping purposes",
    kubelet,
)
.requires(NEEDS_CA)
.new_key(new_key);
const CONTROLLER_MANAGER: Phase = Phase::leaf(
    "controller-manager",
    "Generate a kubeconfig file for the controller manager to use",
    controller_manager,
)
.requires(NEEDS_CA)
.new_key(new_key);
const SCHEDULER: Phase = Phase::leaf(
    "scheduler",
    "Generate a kubeconfig file for the scheduler to use",
    scheduler,
)
.requires(NEEDS_CA)
.new_key(new_key);

/// The sub-phases of `kubeconfig`: super-admin from v1.29.
pub static PHASES: &[Versioned] = &[
    Versioned::all(ADMIN),
    Versioned::since(
        29,
        Phase::leaf(
            "super-admin",
            "Generate a kubeconfig file for the super-admin",
            super_admin,
        )
        .requires(NEEDS_CA)
        .new_key(new_key),
    ),
    Versioned::all(KUBELET),
    Versioned::all(CONTROLLER_MANAGER),
    Versioned::all(SCHEDULER),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_bracket_ipv6() {
        assert_eq!(url("10.0.0.1", 6443), "https://10.0.0.1:6443");
        assert_eq!(url("fd00::1", 6443), "https://[fd00::1]:6443");
        assert_eq!(url("lb.example.com", 443), "https://lb.example.com:443");
    }
}
