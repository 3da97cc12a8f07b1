//! Turning loaded documents plus command-line flags into a [`Config`]: flags win over the file,
//! and what kubeadm detects at run time (node name, advertise address, version, CRI socket) is
//! resolved here, once.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};

use super::{ApiVersion, BootstrapToken, ClusterConfiguration, Config, InitConfiguration};
use crate::fs::root::Root;
use crate::host::Host;
use crate::render::patches::PatchSet;
use crate::version::{self, KubeVersion};

/// The documents of a config file (or the defaults when there is none).
#[derive(Debug, Clone, Default)]
pub struct Documents {
    pub api_version: Option<ApiVersion>,
    pub init: InitConfiguration,
    pub cluster: ClusterConfiguration,
    pub kubelet: Option<serde_yaml::Mapping>,
    pub kube_proxy: Option<serde_yaml::Mapping>,
    /// The JoinConfiguration, for `kubestrap join`.
    pub join: Option<super::join::JoinConfiguration>,
    /// A ResetConfiguration (v1beta4), checked by `config validate`.
    pub reset: Option<super::reset::ResetConfiguration>,
    /// Whether the file has an InitConfiguration or a ClusterConfiguration.
    pub has_init_kinds: bool,
    /// An UpgradeConfiguration (v1beta4), for `kubestrap upgrade --config`.
    pub upgrade: Option<super::upgrade::UpgradeConfiguration>,
    /// The file the documents came from.
    pub source: Option<std::sync::Arc<super::Source>>,
}

/// `kubestrap init` flags that override the config file (kubeadm's init flags).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub advertise_address: Option<String>,
    pub bind_port: Option<u16>,
    pub cert_sans: Vec<String>,
    pub cert_dir: Option<String>,
    pub control_plane_endpoint: Option<String>,
    pub cri_socket: Option<String>,
    pub image_repository: Option<String>,
    pub kubernetes_version: Option<String>,
    pub node_name: Option<String>,
    pub pod_network_cidr: Option<String>,
    pub service_cidr: Option<String>,
    pub service_dns_domain: Option<String>,
    /// `--feature-gates`: set over `featureGates` of the ClusterConfiguration.
    pub feature_gates: BTreeMap<String, bool>,
    pub token: Option<String>,
    pub token_ttl: Option<String>,
    pub skip_phases: Vec<String>,
    pub ignore_preflight_errors: Vec<String>,
    /// `--patches DIR`: replaces `patches.directory`.
    pub patches: Option<String>,
    /// `--certificate-key`: replaces `certificateKey`.
    pub certificate_key: Option<String>,
}

/// Known CRI endpoints, in kubeadm's detection order.
pub const CRI_SOCKETS: &[(&str, &str)] = &[
    (
        "/var/run/containerd/containerd.sock",
        "unix:///var/run/containerd/containerd.sock",
    ),
    ("/var/run/crio/crio.sock", "unix:///var/run/crio/crio.sock"),
    (
        "/var/run/cri-dockerd.sock",
        "unix:///var/run/cri-dockerd.sock",
    ),
];

/// Folders searched for binaries such as the kubelet when `PATH` names none of them.
const STANDARD_PATH_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Applies the flags over the documents, validates the result (every problem at once, as
/// [`super::InvalidConfig`]) and resolves what the host decides.
pub fn resolve(
    mut docs: Documents,
    flags: &Overrides,
    root: &Root,
    host: &dyn Host,
) -> Result<Config> {
    // Before 1.28 kubeadm refused `all` in the file's list (the flag may still say it).
    let all_in_file = docs
        .init
        .node_registration
        .ignore_preflight_errors
        .iter()
        .any(|c| c.eq_ignore_ascii_case("all"));
    if let Some(source) = docs.source.as_deref().filter(|_| !docs.has_init_kinds) {
        return Err(super::InvalidConfig(vec![format!(
            "{}: no InitConfiguration or ClusterConfiguration kind was found in the YAML file",
            source.position("", "")
        )])
        .into());
    }
    apply(&mut docs, flags);
    super::check(&docs)?;
    let init = &docs.init;
    let version = match &docs.cluster.kubernetes_version {
        Some(v) => KubeVersion::parse(v).context("invalid `kubernetesVersion`")?,
        None => kubelet_version(root, host).unwrap_or(version::NEWEST),
    };
    docs.cluster.kubernetes_version = Some(version.to_string());
    let mut removed =
        crate::config::flags::removed_flag_problems(&docs.init, &docs.cluster, version);
    let unknown = super::known_flags::unknown_flags(
        &docs.init,
        &docs.cluster,
        version,
        &super::known_flags::Allowed::from_env(),
    );
    removed.extend(unknown.problems);
    if all_in_file && !version.at_least(28) {
        removed.push(super::Problem::new(
            "InitConfiguration",
            "nodeRegistration.ignorePreflightErrors",
            format!("'all' cannot be used in configuration file (allowed from Kubernetes 1.28; this is {version}); pass --ignore-preflight-errors=all instead"),
        ));
    }
    if !removed.is_empty() {
        let source = docs.source.as_deref();
        return Err(
            super::InvalidConfig(removed.iter().map(|p| p.render(source)).collect()).into(),
        );
    }
    let node_name = match &init.node_registration.name {
        Some(name) => name.clone(),
        None => host.hostname()?.to_lowercase(),
    };
    let advertise_address = match init.local_api_endpoint.advertise_address.as_deref() {
        Some(text) => {
            let ip: IpAddr = text.parse().with_context(|| {
                format!("`localAPIEndpoint.advertiseAddress`: {text:?} is not a valid IP address")
            })?;
            if ip.is_unspecified() {
                host.default_address()?
            } else {
                ip
            }
        }
        None => host.default_address()?,
    };
    let bind_port = u16::try_from(init.local_api_endpoint.bind_port)
        .ok()
        .filter(|p| *p > 0)
        .with_context(|| {
            format!(
                "`localAPIEndpoint.bindPort`: {} is not a valid port number (1-65535)",
                init.local_api_endpoint.bind_port
            )
        })?;
    let cri_socket = match &init.node_registration.cri_socket {
        Some(socket) => socket.clone(),
        None => detect_cri_socket(root)?,
    };
    let patches = load_patches(init.patches.as_ref(), version)?;
    let mut warnings = super::fields::init_warnings(&docs.init, &docs.cluster);
    warnings.extend(
        unknown
            .warnings
            .iter()
            .map(|p| p.render(docs.source.as_deref())),
    );
    warnings.extend(super::fields::unused_documents(&docs, false));
    for (kind, doc) in [
        ("KubeletConfiguration", &docs.kubelet),
        ("KubeProxyConfiguration", &docs.kube_proxy),
    ] {
        if let Some(doc) = doc {
            warnings.extend(super::component::version_warnings(kind, doc, version));
        }
    }
    Ok(Config {
        api_version: docs.api_version.unwrap_or(ApiVersion::V1Beta4),
        init: docs.init,
        cluster: docs.cluster,
        kubelet: docs.kubelet,
        kube_proxy: docs.kube_proxy,
        version,
        node_name,
        advertise_address,
        bind_port,
        cri_socket,
        source: docs.source,
        join: None,
        warnings,
        patches,
    })
}

/// Reads `patches.directory` (or `--patches`) now, so that a file kubestrap cannot apply is
/// refused before anything is written.
pub(super) fn load_patches(
    patches: Option<&super::Patches>,
    version: KubeVersion,
) -> Result<Option<Arc<PatchSet>>> {
    let Some(dir) = patches
        .map(|p| p.directory.as_str())
        .filter(|d| !d.is_empty())
    else {
        return Ok(None);
    };
    match PatchSet::load(Path::new(dir), version) {
        Ok(set) => Ok(Some(Arc::new(set))),
        Err(e) => Err(super::InvalidConfig(vec![format!("{e:#}")]).into()),
    }
}

fn apply(docs: &mut Documents, flags: &Overrides) {
    let init = &mut docs.init;
    let cluster = &mut docs.cluster;
    let set = |field: &mut Option<String>, flag: &Option<String>| {
        if flag.is_some() {
            field.clone_from(flag);
        }
    };
    set(
        &mut init.local_api_endpoint.advertise_address,
        &flags.advertise_address,
    );
    if let Some(port) = flags.bind_port {
        init.local_api_endpoint.bind_port = port.into();
    }
    cluster
        .api_server
        .cert_sans
        .extend(flags.cert_sans.iter().cloned());
    if let Some(dir) = &flags.cert_dir {
        cluster.certificates_dir.clone_from(dir);
    }
    set(
        &mut cluster.control_plane_endpoint,
        &flags.control_plane_endpoint,
    );
    set(&mut init.node_registration.cri_socket, &flags.cri_socket);
    if let Some(repo) = &flags.image_repository {
        cluster.image_repository.clone_from(repo);
    }
    set(&mut cluster.kubernetes_version, &flags.kubernetes_version);
    if let Some(dir) = &flags.patches {
        init.patches = Some(super::Patches {
            directory: dir.clone(),
        });
    }
    set(&mut init.node_registration.name, &flags.node_name);
    set(&mut init.certificate_key, &flags.certificate_key);
    set(&mut cluster.networking.pod_subnet, &flags.pod_network_cidr);
    if let Some(cidr) = &flags.service_cidr {
        cluster.networking.service_subnet.clone_from(cidr);
    }
    if let Some(domain) = &flags.service_dns_domain {
        cluster.networking.dns_domain.clone_from(domain);
    }
    cluster.feature_gates.extend(flags.feature_gates.clone());
    if flags.token.is_some() || flags.token_ttl.is_some() {
        if init.bootstrap_tokens.is_empty() {
            init.bootstrap_tokens.push(BootstrapToken::default());
        }
        let first = &mut init.bootstrap_tokens[0];
        set(&mut first.token, &flags.token);
        set(&mut first.ttl, &flags.token_ttl);
    }
    // kubeadm: a non-empty --skip-phases replaces skipPhases; --ignore-preflight-errors is a union.
    if !flags.skip_phases.is_empty() {
        init.skip_phases.clone_from(&flags.skip_phases);
    }
    for name in &flags.ignore_preflight_errors {
        if !init
            .node_registration
            .ignore_preflight_errors
            .contains(name)
        {
            init.node_registration
                .ignore_preflight_errors
                .push(name.clone());
        }
    }
}

/// What `config images list|pull` works from: the ClusterConfiguration with the flags applied,
/// the version it deploys and this node's pull settings.
#[derive(Debug, Clone)]
pub struct ImagesConfig {
    pub cluster: ClusterConfiguration,
    pub version: KubeVersion,
    /// `nodeRegistration.imagePullPolicy`.
    pub pull_policy: String,
    /// `nodeRegistration.criSocket`, if set.
    pub cri_socket: Option<String>,
}

/// Applies `--kubernetes-version` and `--image-repository` over the documents and validates
/// them; without a version, the one init would deploy (the kubelet's, else the newest).
pub fn resolve_images(
    mut docs: Documents,
    kubernetes_version: Option<String>,
    image_repository: Option<String>,
    root: &Root,
    host: &dyn Host,
) -> Result<ImagesConfig> {
    if kubernetes_version.is_some() {
        docs.cluster.kubernetes_version = kubernetes_version;
    }
    if let Some(repo) = image_repository {
        docs.cluster.image_repository = repo;
    }
    super::check(&docs)?;
    let version = match &docs.cluster.kubernetes_version {
        Some(v) => KubeVersion::parse(v).context("invalid `kubernetesVersion`")?,
        None => kubelet_version(root, host).unwrap_or(version::NEWEST),
    };
    Ok(ImagesConfig {
        cluster: docs.cluster,
        version,
        pull_policy: docs.init.node_registration.image_pull_policy,
        cri_socket: docs.init.node_registration.cri_socket,
    })
}

/// Folders searched for binaries, as `exec.LookPath` does: the absolute entries of `PATH`, then
/// the standard folders it lacks. Under `--root` they are looked up below the root.
pub fn path_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(str::to_string)
        .collect();
    for d in STANDARD_PATH_DIRS {
        if !dirs.iter().any(|x| x == d) {
            dirs.push((*d).to_string());
        }
    }
    dirs
}

/// The version printed by `kubelet --version` of the first kubelet on the PATH under the root:
/// the version init and `config images` deploy when none is configured.
pub fn kubelet_version(root: &Root, host: &dyn Host) -> Option<KubeVersion> {
    let logical = path_dirs()
        .iter()
        .map(|dir| format!("{dir}/kubelet"))
        .find(|p| root.exists(p))?;
    let physical = root.physical(&logical).ok()?;
    let out = host.output(Path::new(&physical), &["--version"]).ok()?;
    // "Kubernetes v1.20.2"
    let text = out.split_whitespace().last()?;
    KubeVersion::parse(text).ok()
}

/// The CRI socket of the one runtime found under the root; containerd's when none is.
pub fn detect_cri_socket(root: &Root) -> Result<String> {
    let found: Vec<&str> = CRI_SOCKETS
        .iter()
        .filter(|(path, _)| root.exists(path))
        .map(|(_, url)| *url)
        .collect();
    match found.as_slice() {
        [] => Ok(CRI_SOCKETS[0].1.to_string()),
        [one] => Ok((*one).to_string()),
        many => bail!(
            "found multiple CRI endpoints on the host: {}; choose one with --cri-socket or `nodeRegistration.criSocket`",
            many.join(", ")
        ),
    }
}
