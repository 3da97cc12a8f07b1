//! The `control-plane` phases: kube-apiserver, kube-controller-manager and kube-scheduler static pods.
//!
//! Each manifest is built by a pure function of the configuration and a few facts about the host
//! ([`HostFacts`]), then written once through the root.

pub mod join;
pub mod restart;
pub mod wait;

pub use join::{
    check_can_join, mark as join_mark, prepare_certs as join_certs,
    prepare_control_plane as join_manifests, prepare_kubeconfig as join_kubeconfig,
    update_status as join_update_status, wait_control_plane as join_wait,
};
pub use restart::{
    ORDER as RESTART_ORDER, answers as probe_answers, apiserver_url, restart as restart_component,
};
pub use wait::{ContainerLogs, container_logs, run as wait_control_plane, runtime_state};

use anyhow::Result;

use crate::config::flags;
use crate::config::{Arg, Config, ExtraArgs};
use crate::fs::paths;
use crate::phases::apply_patches;
use crate::render::patches as patch;
use crate::render::staticpod::{self, Probes, Volume, Volumes};
use crate::render::templates::{self, list};
use crate::runner::Phase;
use crate::runner::context::Context;
use crate::version::images;

const DIR_OR_CREATE: &str = "DirectoryOrCreate";
const FILE_OR_CREATE: &str = "FileOrCreate";
const CA_CERTS: &str = "/etc/ssl/certs";
const FLEXVOLUME_DIR: &str = "/usr/libexec/kubernetes/kubelet-plugins/volume/exec";
const AUTHZ_MODES: &[&str] = &[
    "Node",
    "RBAC",
    "Webhook",
    "ABAC",
    "AlwaysAllow",
    "AlwaysDeny",
];

/// What kubeadm looks up on the host while building the control-plane manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// The optional CA certificate folders (see [`ca_cert_dir_candidates`]) that exist.
    pub ca_dirs: Vec<String>,
    /// `ca.crt` exists without `ca.key`: the controller-manager must not sign certificates.
    pub external_ca: bool,
}

impl HostFacts {
    /// Looks the facts up under the root.
    pub fn gather(ctx: &Context) -> Self {
        let cert_dir = ctx.cert_dir();
        HostFacts {
            ca_dirs: ca_cert_dir_candidates(ctx.cfg.version.profile().split_etc_pki_volume)
                .iter()
                .filter(|d| ctx.root.exists(d))
                .map(|d| d.to_string())
                .collect(),
            external_ca: ctx.root.exists(format!("{cert_dir}/ca.crt"))
                && !ctx.root.exists(format!("{cert_dir}/ca.key")),
        }
    }
}

/// CA certificate folders mounted into the API server and controller-manager when the host has them.
pub fn ca_cert_dir_candidates(split_etc_pki: bool) -> &'static [&'static str] {
    if split_etc_pki {
        &[
            "/etc/pki/ca-trust",
            "/etc/pki/tls/certs",
            "/usr/share/ca-certificates",
            "/usr/local/share/ca-certificates",
            "/etc/ca-certificates",
        ]
    } else {
        &[
            "/etc/pki",
            "/usr/share/ca-certificates",
            "/usr/local/share/ca-certificates",
            "/etc/ca-certificates",
        ]
    }
}

fn ca_volumes(cfg: &Config, facts: &HostFacts, volumes: &mut Volumes) {
    let cert_dir = &cfg.cluster.certificates_dir;
    volumes.add(Volume::same("ca-certs", CA_CERTS, true, DIR_OR_CREATE));
    volumes.add(Volume::same("k8s-certs", cert_dir, true, DIR_OR_CREATE));
    for dir in &facts.ca_dirs {
        let name = dir.trim_start_matches('/').replace('/', "-");
        volumes.add(Volume::same(&name, dir, true, DIR_OR_CREATE));
    }
}

/// Node,RBAC unless the user chose modes (unknown ones dropped), as kubeadm does.
fn authorization_mode(user: Option<&str>) -> String {
    let chosen: Vec<&str> = user
        .unwrap_or("")
        .split(',')
        .filter(|m| AUTHZ_MODES.contains(m))
        .collect();
    if chosen.is_empty() {
        "Node,RBAC".to_string()
    } else {
        chosen.join(",")
    }
}

/// The kube-apiserver command line.
pub fn apiserver_command(cfg: &Config) -> Vec<String> {
    let p = cfg.version.profile();
    let c = &cfg.cluster;
    let pki = |f: &str| format!("{}/{f}", c.certificates_dir);
    let mut d: Vec<(&str, String)> = vec![
        ("advertise-address", cfg.advertise_address.to_string()),
        ("enable-admission-plugins", "NodeRestriction".into()),
        (
            "service-cluster-ip-range",
            c.networking.service_subnet.clone(),
        ),
        ("service-account-key-file", pki("sa.pub")),
        ("service-account-signing-key-file", pki("sa.key")),
        (
            "service-account-issuer",
            format!("https://kubernetes.default.svc.{}", c.networking.dns_domain),
        ),
        ("client-ca-file", pki("ca.crt")),
        ("tls-cert-file", pki("apiserver.crt")),
        ("tls-private-key-file", pki("apiserver.key")),
        (
            "kubelet-client-certificate",
            pki("apiserver-kubelet-client.crt"),
        ),
        ("kubelet-client-key", pki("apiserver-kubelet-client.key")),
        ("enable-bootstrap-token-auth", "true".into()),
        ("secure-port", cfg.bind_port.to_string()),
        ("allow-privileged", "true".into()),
        (
            "kubelet-preferred-address-types",
            "InternalIP,ExternalIP,Hostname".into(),
        ),
        ("requestheader-username-headers", "X-Remote-User".into()),
        ("requestheader-group-headers", "X-Remote-Group".into()),
        (
            "requestheader-extra-headers-prefix",
            "X-Remote-Extra-".into(),
        ),
        ("requestheader-client-ca-file", pki("front-proxy-ca.crt")),
        ("requestheader-allowed-names", "front-proxy-client".into()),
        ("proxy-client-cert-file", pki("front-proxy-client.crt")),
        ("proxy-client-key-file", pki("front-proxy-client.key")),
    ];
    if p.apiserver_insecure_port_zero {
        d.push(("insecure-port", "0".into()));
    }
    match (&c.etcd.external, &c.etcd.local) {
        (Some(ext), _) => {
            d.push(("etcd-servers", ext.endpoints.join(",")));
            if !ext.ca_file.is_empty() {
                d.push(("etcd-cafile", ext.ca_file.clone()));
            }
            if !ext.cert_file.is_empty() && !ext.key_file.is_empty() {
                d.push(("etcd-certfile", ext.cert_file.clone()));
                d.push(("etcd-keyfile", ext.key_file.clone()));
            }
        }
        (None, local) => {
            let localhost = if cfg.advertise_address.is_ipv6() {
                "[::1]"
            } else {
                "127.0.0.1"
            };
            let servers = local
                .as_ref()
                .and_then(|l| flags::user_value(&l.extra_args, "advertise-client-urls"))
                .map(str::to_string)
                .unwrap_or_else(|| format!("https://{localhost}:2379"));
            d.push(("etcd-servers", servers));
            d.push(("etcd-cafile", pki("etcd/ca.crt")));
            d.push(("etcd-certfile", pki("apiserver-etcd-client.crt")));
            d.push(("etcd-keyfile", pki("apiserver-etcd-client.key")));
        }
    }
    // The authorization mode is set unless an authorization config file replaces it (1.30+).
    // Up to 1.30 kubeadm rewrote the user's value to its filtered form; from 1.31 the filtered
    // value is only a default, which the user's own argument replaces.
    let user = &c.api_server.extra_args;
    let mut user_args = user.clone();
    let authz_config =
        p.version.at_least(30) && flags::user_value(user, "authorization-config").is_some();
    if !authz_config {
        let mode = authorization_mode(flags::user_value(user, "authorization-mode"));
        if p.config_api_v1beta4 {
            d.push(("authorization-mode", mode));
        } else {
            user_args.args.retain(|a| a.name != "authorization-mode");
            user_args.args.push(Arg {
                name: "authorization-mode".into(),
                value: mode,
            });
        }
    }
    let mut command = vec!["kube-apiserver".to_string()];
    command.extend(flags::merge(&d, &user_args));
    command
}

/// The kube-apiserver static pod.
pub fn apiserver_manifest(cfg: &Config, facts: &HostFacts) -> Result<String> {
    let p = cfg.version.profile();
    let api = &cfg.cluster.api_server;
    let mut volumes = Volumes::default();
    ca_volumes(cfg, facts, &mut volumes);
    if let Some(ext) = &cfg.cluster.etcd.external {
        for v in external_etcd_volumes(cfg, ext) {
            volumes.add(v);
        }
    }
    for v in &api.extra_volumes {
        volumes.add(Volume::extra(v));
    }
    let probes = Probes {
        host: staticpod::probe_host(&cfg.advertise_address.to_string()),
        port: cfg.bind_port,
        scheme: "HTTPS",
        named: p.named_probe_port,
        liveness: "/livez",
        readiness: Some("/readyz"),
        startup: "/livez",
    };
    let vars = vec![
        (
            "endpoint",
            crate::config::net::join_host_port(&cfg.advertise_address.to_string(), cfg.bind_port),
        ),
        ("command", list(&apiserver_command(cfg))),
        ("env", staticpod::env(&api.extra_envs)),
    ];
    component_manifest(
        cfg,
        "kube-apiserver",
        templates::KUBE_APISERVER,
        &volumes,
        &probes,
        vars,
    )
}

/// Folders of the external etcd certificates that no other volume covers, as `etcd-certs-<n>`.
fn external_etcd_volumes(cfg: &Config, ext: &crate::config::ExternalEtcd) -> Vec<Volume> {
    let p = cfg.version.profile();
    let covered = |dir: &str| {
        dir == "."
            || dir.starts_with(CA_CERTS)
            || dir.starts_with(&cfg.cluster.certificates_dir)
            || ca_cert_dir_candidates(p.split_etc_pki_volume)
                .iter()
                .any(|c| dir.starts_with(c))
    };
    let mut dirs: Vec<String> = Vec::new();
    for file in [&ext.ca_file, &ext.cert_file, &ext.key_file] {
        if file.is_empty() {
            continue;
        }
        let dir = match file.rfind('/') {
            Some(0) => "/".to_string(),
            Some(i) => file[..i].to_string(),
            None => ".".to_string(),
        };
        if covered(&dir) {
            continue;
        }
        if dirs.iter().any(|d| dir.starts_with(d.as_str())) {
            continue;
        }
        dirs.retain(|d| !d.starts_with(&dir));
        dirs.push(dir);
    }
    dirs.sort();
    dirs.iter()
        .enumerate()
        .map(|(i, d)| Volume::same(&format!("etcd-certs-{i}"), d, true, DIR_OR_CREATE))
        .collect()
}

/// The kube-controller-manager command line.
pub fn controller_manager_command(cfg: &Config, facts: &HostFacts) -> Vec<String> {
    let p = cfg.version.profile();
    let c = &cfg.cluster;
    let pki = |f: &str| format!("{}/{f}", c.certificates_dir);
    let kubeconfig = paths::kubeconfig("controller-manager.conf");
    let (signing_cert, signing_key) = if facts.external_ca {
        (String::new(), String::new())
    } else {
        (pki("ca.crt"), pki("ca.key"))
    };
    let mut d: Vec<(&str, String)> = vec![
        ("bind-address", "127.0.0.1".into()),
        ("leader-elect", "true".into()),
        ("kubeconfig", kubeconfig.clone()),
        ("authentication-kubeconfig", kubeconfig.clone()),
        ("authorization-kubeconfig", kubeconfig),
        ("client-ca-file", pki("ca.crt")),
        ("requestheader-client-ca-file", pki("front-proxy-ca.crt")),
        ("root-ca-file", pki("ca.crt")),
        ("service-account-private-key-file", pki("sa.key")),
        ("cluster-signing-cert-file", signing_cert),
        ("cluster-signing-key-file", signing_key),
        ("use-service-account-credentials", "true".into()),
        ("controllers", "*,bootstrapsigner,tokencleaner".into()),
    ];
    if p.component_port_zero {
        d.push(("port", "0".into()));
    }
    if let Some(pods) = c.networking.pod_subnet.as_deref().filter(|s| !s.is_empty()) {
        d.push(("allocate-node-cidrs", "true".into()));
        d.push(("cluster-cidr", pods.to_string()));
        if !c.networking.service_subnet.is_empty() {
            d.push((
                "service-cluster-ip-range",
                c.networking.service_subnet.clone(),
            ));
        }
    }
    if !c.cluster_name.is_empty() {
        d.push(("cluster-name", c.cluster_name.clone()));
    }
    let mut command = vec!["kube-controller-manager".to_string()];
    command.extend(flags::merge(&d, &c.controller_manager.extra_args));
    command
}

/// The kube-controller-manager static pod.
pub fn controller_manager_manifest(cfg: &Config, facts: &HostFacts) -> Result<String> {
    let p = cfg.version.profile();
    let kcm = &cfg.cluster.controller_manager;
    let mut volumes = Volumes::default();
    ca_volumes(cfg, facts, &mut volumes);
    let kubeconfig = paths::kubeconfig("controller-manager.conf");
    volumes.add(Volume::same(
        "kubeconfig",
        &kubeconfig,
        true,
        FILE_OR_CREATE,
    ));
    let flex =
        flags::user_value(&kcm.extra_args, "flex-volume-plugin-dir").unwrap_or(FLEXVOLUME_DIR);
    volumes.add(Volume::same("flexvolume-dir", flex, false, DIR_OR_CREATE));
    for v in &kcm.extra_volumes {
        volumes.add(Volume::extra(v));
    }
    let probes = Probes {
        host: bind_probe_host(&kcm.extra_args),
        port: 10257,
        scheme: "HTTPS",
        named: p.named_probe_port,
        liveness: "/healthz",
        readiness: None,
        startup: "/healthz",
    };
    let vars = vec![
        ("command", list(&controller_manager_command(cfg, facts))),
        ("env", staticpod::env(&kcm.extra_envs)),
    ];
    component_manifest(
        cfg,
        "kube-controller-manager",
        templates::KUBE_CONTROLLER_MANAGER,
        &volumes,
        &probes,
        vars,
    )
}

fn bind_probe_host(args: &ExtraArgs) -> String {
    flags::user_value(args, "bind-address")
        .map(staticpod::probe_host)
        .unwrap_or_else(|| "127.0.0.1".to_string())
}

/// The kube-scheduler command line.
pub fn scheduler_command(cfg: &Config) -> Vec<String> {
    let p = cfg.version.profile();
    let kubeconfig = paths::kubeconfig("scheduler.conf");
    let mut d: Vec<(&str, String)> = vec![
        ("bind-address", "127.0.0.1".into()),
        ("leader-elect", "true".into()),
        ("kubeconfig", kubeconfig.clone()),
        ("authentication-kubeconfig", kubeconfig.clone()),
        ("authorization-kubeconfig", kubeconfig),
    ];
    if p.component_port_zero {
        d.push(("port", "0".into()));
    }
    let mut command = vec!["kube-scheduler".to_string()];
    command.extend(flags::merge(&d, &cfg.cluster.scheduler.extra_args));
    command
}

/// The kube-scheduler static pod.
pub fn scheduler_manifest(cfg: &Config) -> Result<String> {
    let p = cfg.version.profile();
    let sched = &cfg.cluster.scheduler;
    let mut volumes = Volumes::default();
    let kubeconfig = paths::kubeconfig("scheduler.conf");
    volumes.add(Volume::same(
        "kubeconfig",
        &kubeconfig,
        true,
        FILE_OR_CREATE,
    ));
    for v in &sched.extra_volumes {
        volumes.add(Volume::extra(v));
    }
    let (liveness, readiness) = if p.scheduler_livez_readyz {
        ("/livez", Some("/readyz"))
    } else {
        ("/healthz", None)
    };
    let probes = Probes {
        host: bind_probe_host(&sched.extra_args),
        port: 10259,
        scheme: "HTTPS",
        named: p.named_probe_port,
        liveness,
        readiness,
        startup: liveness,
    };
    let vars = vec![
        ("command", list(&scheduler_command(cfg))),
        ("env", staticpod::env(&sched.extra_envs)),
    ];
    component_manifest(
        cfg,
        "kube-scheduler",
        templates::KUBE_SCHEDULER,
        &volumes,
        &probes,
        vars,
    )
}

/// A control-plane component's static pod: `vars` (its command and environment) with its image
/// and volumes.
fn component_manifest(
    cfg: &Config,
    component: &str,
    template: &str,
    volumes: &Volumes,
    probes: &Probes,
    mut vars: Vec<(&str, String)>,
) -> Result<String> {
    vars.push(("image", images::control_plane(cfg, component)));
    vars.push(("volumeMounts", volumes.mounts()));
    vars.push(("volumes", volumes.volumes()));
    let name = format!("static-pods/{component}.yaml");
    staticpod::render(&name, template, cfg, probes, vars)
}

fn creating(ctx: &Context, component: &str) {
    ctx.out.status(
        "control-plane",
        &format!("Creating static Pod manifest for \"{component}\""),
    );
}

fn run_apiserver(ctx: &mut Context) -> Result<()> {
    ctx.out.status(
        "control-plane",
        &format!("Using manifest folder \"{}\"", paths::MANIFESTS_DIR),
    );
    creating(ctx, "kube-apiserver");
    let manifest = apiserver_manifest(&ctx.cfg, &HostFacts::gather(ctx))?;
    let manifest = apply_patches::yaml(ctx, patch::Target::KubeApiserver, &manifest)?;
    staticpod::write(&ctx.root, "kube-apiserver", &manifest)
}

fn run_controller_manager(ctx: &mut Context) -> Result<()> {
    creating(ctx, "kube-controller-manager");
    let manifest = controller_manager_manifest(&ctx.cfg, &HostFacts::gather(ctx))?;
    let manifest = apply_patches::yaml(ctx, patch::Target::KubeControllerManager, &manifest)?;
    staticpod::write(&ctx.root, "kube-controller-manager", &manifest)
}

fn run_scheduler(ctx: &mut Context) -> Result<()> {
    creating(ctx, "kube-scheduler");
    let manifest = scheduler_manifest(&ctx.cfg)?;
    let manifest = apply_patches::yaml(ctx, patch::Target::KubeScheduler, &manifest)?;
    staticpod::write(&ctx.root, "kube-scheduler", &manifest)
}

/// The sub-phases of `control-plane`.
pub static PHASES: &[Phase] = &[
    Phase::leaf(
        "apiserver",
        "Generates the kube-apiserver static Pod manifest",
        run_apiserver,
    ),
    Phase::leaf(
        "controller-manager",
        "Generates the kube-controller-manager static Pod manifest",
        run_controller_manager,
    ),
    Phase::leaf(
        "scheduler",
        "Generates the kube-scheduler static Pod manifest",
        run_scheduler,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_mode_is_filtered() {
        assert_eq!(authorization_mode(None), "Node,RBAC");
        assert_eq!(authorization_mode(Some("RBAC,Bogus")), "RBAC");
        assert_eq!(authorization_mode(Some("Bogus")), "Node,RBAC");
    }
}
