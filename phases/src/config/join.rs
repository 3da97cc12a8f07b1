//! `JoinConfiguration` (v1beta3 and v1beta4) and the `kubestrap join` flags, resolved into the
//! settings of one join: how to discover the cluster and which token bootstraps the kubelet.
//! Every input is checked here, before anything is read from the network or written.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use super::token_format::Token;
use super::types::is_false;
use super::{ApiEndpoint, Config, Documents, InvalidConfig, NodeRegistration, Patches, Timeouts};
use crate::fs::root::Root;
use crate::host::Host;
use crate::version;

/// `discovery.bootstrapToken`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootstrapTokenDiscovery {
    #[serde(default)]
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_cert_hashes: Vec<String>,
    #[serde(default, rename = "unsafeSkipCAVerification")]
    pub unsafe_skip_ca_verification: bool,
}

/// `discovery.file`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileDiscovery {
    pub kube_config_path: String,
}

/// `discovery`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiscoverySection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_token: Option<BootstrapTokenDiscovery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileDiscovery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_bootstrap_token: Option<String>,
    /// v1beta3 only; v1beta4 has `timeouts.discovery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// `controlPlane` of a JoinConfiguration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinControlPlane {
    #[serde(default, rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_key: Option<String>,
}

/// `JoinConfiguration`: settings of this node's join.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinConfiguration {
    #[serde(default, skip_serializing)]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing)]
    pub kind: Option<String>,
    #[serde(default)]
    pub node_registration: NodeRegistration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_path: Option<String>,
    #[serde(default)]
    pub discovery: DiscoverySection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<JoinControlPlane>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_phases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Patches>,
    /// v1beta4 only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
    /// v1beta4 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
}

/// `kubestrap join` flags (kubeadm's join flags); they win over the file.
#[derive(Debug, Clone, Default)]
pub struct JoinFlags {
    pub endpoint: Option<String>,
    pub token: Option<String>,
    pub discovery_token: Option<String>,
    pub tls_bootstrap_token: Option<String>,
    pub ca_cert_hashes: Vec<String>,
    pub unsafe_skip_ca_verification: bool,
    pub discovery_file: Option<String>,
    pub node_name: Option<String>,
    pub cri_socket: Option<String>,
    pub ignore_preflight_errors: Vec<String>,
    pub skip_phases: Vec<String>,
    pub control_plane: bool,
    pub apiserver_advertise_address: Option<String>,
    pub apiserver_bind_port: Option<u16>,
    pub certificate_key: Option<String>,
    /// `--patches`: refused, as `patches` in the file is.
    pub patches: Option<String>,
}

/// How this node learns about the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// `kube-public/cluster-info` at `endpoint`, checked with the token and the pins.
    Token {
        endpoint: String,
        token: Token,
        /// `sha256:<hex>` each, validated.
        pins: Vec<String>,
        unsafe_skip_ca_verification: bool,
    },
    /// A kubeconfig at a path or an https URL.
    File { location: String },
}

/// The resolved settings of one join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    pub discovery: Discovery,
    /// The token the kubelet bootstraps with (`None` only when a discovery file has credentials).
    pub tls_bootstrap_token: Option<Token>,
    /// Where the cluster CA is written (`caCertPath`).
    pub ca_cert_path: String,
    pub discovery_timeout: Duration,
    pub tls_bootstrap_timeout: Duration,
    /// A control-plane join's key to the `kubeadm-certs` Secret (`--certificate-key`); `None` on
    /// a worker.
    pub certificate_key: Option<String>,
    /// Whether this node joins as a control-plane node.
    pub control_plane: bool,
}

/// A pinned CA public key as kubeadm spells it: `sha256:<64 hex digits>` (lower-cased here).
pub fn parse_pin(text: &str) -> Result<String> {
    let Some((format, value)) = text.split_once(':') else {
        bail!(
            "invalid public key hash {text:?}, expected \"format:value\" such as \"sha256:<64 hex digits>\"\n\nhint: on a control-plane node, `kubestrap token create --print-join-command` prints the right one"
        );
    };
    if !format.eq_ignore_ascii_case("sha256") {
        bail!("unknown hash format {format:?} in {text:?}; kubestrap pins with \"sha256\"");
    }
    let value = value.to_ascii_lowercase();
    if !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("the public key hash {text:?} is not hexadecimal");
    }
    if value.len() != 64 {
        bail!(
            "expected a 32 byte SHA-256 hash (64 hex digits), found {} hex digits in {text:?}",
            value.len()
        );
    }
    Ok(format!("sha256:{value}"))
}

/// Checks `host:port` (IPv6 in brackets) of the API server endpoint.
fn check_endpoint(endpoint: &str) -> Result<()> {
    let bad = || {
        anyhow::anyhow!(
            "the API server endpoint {endpoint:?} is not host:port (e.g. 10.0.0.1:6443 or [fd00::1]:6443)"
        )
    };
    let (host, port) = endpoint.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(bad)?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => {
            v6.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            return Ok(());
        }
        None => host,
    };
    // An IPv6 address must be in brackets, or the port cannot be told apart.
    if host.contains(':') {
        return Err(bad());
    }
    if host.parse::<IpAddr>().is_ok() || super::net::is_dns_subdomain(host) {
        Ok(())
    } else if super::net::is_dns_subdomain(&host.to_lowercase()) {
        bail!(
            "the host of the API server endpoint {endpoint:?} must be lower-case: write {:?}",
            endpoint.to_lowercase()
        )
    } else {
        Err(bad())
    }
}

fn duration(text: &str, field: &str) -> Result<Duration> {
    super::duration::parse(text)
        .with_context(|| format!("`{field}`: {text:?} is not a duration such as 5m0s"))
}

/// Applies the flags over the JoinConfiguration, checks everything, and resolves what the host
/// decides (node name, CRI socket). The Kubernetes version and the cluster settings are the
/// cluster's: discovery fills them in.
pub fn resolve_join(
    docs: Documents,
    flags: &JoinFlags,
    root: &Root,
    host: &dyn Host,
) -> Result<Config> {
    if let Some(source) = docs.source.as_deref().filter(|_| docs.join.is_none()) {
        return Err(super::InvalidConfig(vec![format!(
            "{}: no JoinConfiguration kind was found in the YAML file",
            source.position("", "")
        )])
        .into());
    }
    let mut jc = docs.join.clone().unwrap_or_default();
    let unused = super::fields::unused_documents(&docs, true);
    let mut problems = Vec::new();
    if flags.control_plane {
        let cp = jc.control_plane.get_or_insert_with(Default::default);
        if let Some(address) = &flags.apiserver_advertise_address {
            cp.local_api_endpoint.advertise_address = Some(address.clone());
        }
        if let Some(port) = flags.apiserver_bind_port {
            cp.local_api_endpoint.bind_port = i64::from(port);
        }
    } else {
        for (set, flag) in [
            (
                flags.apiserver_advertise_address.is_some(),
                "--apiserver-advertise-address",
            ),
            (flags.apiserver_bind_port.is_some(), "--apiserver-bind-port"),
        ] {
            if set {
                bail!(
                    "{flag} is only used with --control-plane: add --control-plane to join this node as a control-plane node, or drop {flag} to join it as a worker"
                );
            }
        }
    }
    let control_plane = jc.control_plane.is_some();
    let certificate_key = flags.certificate_key.clone().or_else(|| {
        jc.control_plane
            .as_ref()
            .and_then(|c| c.certificate_key.clone())
    });
    if let Some(key) = &certificate_key
        && let Some(problem) = super::validate::certificate_key_problem(key)
    {
        problems.push(format!("--certificate-key: {problem}"));
    }
    let mut key_warning = None;
    if certificate_key.is_some() && !control_plane {
        key_warning = Some(
            "--certificate-key has no effect without --control-plane: a worker does not download the control plane's certificates".to_string(),
        );
    }
    if let Some(dir) = &flags.patches {
        problems.push(format!(
            "--patches {dir}: patches on join are not supported by kubestrap yet (the node would join without them); join without it, then change the node's files by hand"
        ));
    } else if jc.patches.is_some() {
        problems.push(
            "`patches` in the JoinConfiguration is not supported by kubestrap yet; remove it (kubestrap would otherwise join without the patches)".into(),
        );
    }
    // kubeadm's flag rules: --token fills both tokens where the file leaves them empty.
    let token_flag = flags.discovery_token.clone().or(flags.token.clone());
    if let Some(loc) = &flags.discovery_file {
        jc.discovery.file = Some(FileDiscovery {
            kube_config_path: loc.clone(),
        });
        jc.discovery.bootstrap_token = None;
    }
    if let Some(endpoint) = &flags.endpoint {
        let bt = jc
            .discovery
            .bootstrap_token
            .get_or_insert_with(Default::default);
        bt.api_server_endpoint = Some(endpoint.clone());
    }
    if let Some(bt) = jc.discovery.bootstrap_token.as_mut() {
        if let Some(t) = &token_flag {
            bt.token = t.clone();
        }
        bt.ca_cert_hashes
            .extend(flags.ca_cert_hashes.iter().cloned());
        bt.unsafe_skip_ca_verification |= flags.unsafe_skip_ca_verification;
    } else if !flags.ca_cert_hashes.is_empty() || flags.unsafe_skip_ca_verification {
        problems.push(
            "--discovery-token-ca-cert-hash and --discovery-token-unsafe-skip-ca-verification go with token discovery, which needs the API server endpoint as the first argument".to_string(),
        );
    }
    if let Some(t) = flags.tls_bootstrap_token.clone().or(flags.token.clone()) {
        jc.discovery.tls_bootstrap_token = Some(t);
    }
    if let Some(n) = &flags.node_name {
        jc.node_registration.name = Some(n.clone());
    }
    if let Some(s) = &flags.cri_socket {
        jc.node_registration.cri_socket = Some(s.clone());
    }
    if !flags.skip_phases.is_empty() {
        jc.skip_phases.clone_from(&flags.skip_phases);
    }
    for name in &flags.ignore_preflight_errors {
        if !jc.node_registration.ignore_preflight_errors.contains(name) {
            jc.node_registration
                .ignore_preflight_errors
                .push(name.clone());
        }
    }

    let discovery = match (&jc.discovery.bootstrap_token, &jc.discovery.file) {
        (Some(_), Some(_)) => {
            return Err(InvalidConfig(vec![
                "discovery by token and by file are exclusive; give either an endpoint with --token or --discovery-file".into(),
            ])
            .into());
        }
        (None, None) => {
            return Err(InvalidConfig(vec![
                "nothing says how to find the cluster: give the API server endpoint and a token (`kubestrap join 192.0.2.10:6443 --token … --discovery-token-ca-cert-hash sha256:…`), or --discovery-file\n\nhint: on a control-plane node, `kubestrap token create --print-join-command` prints the whole command".into(),
            ])
            .into());
        }
        (Some(bt), None) => {
            let endpoint = bt.api_server_endpoint.clone().unwrap_or_default();
            if endpoint.is_empty() {
                problems.push("token discovery needs the API server endpoint (host:port) as the first argument".into());
            } else if let Err(e) = check_endpoint(&endpoint) {
                problems.push(e.to_string());
            }
            let token = if bt.token.is_empty() {
                problems
                    .push("token discovery needs a token: --token (or --discovery-token)".into());
                None
            } else {
                Token::parse(&bt.token)
                    .map_err(|e| problems.push(format!("{e:#}")))
                    .ok()
            };
            let mut pins = Vec::new();
            for h in &bt.ca_cert_hashes {
                match parse_pin(h) {
                    Ok(p) => pins.push(p),
                    Err(e) => problems.push(format!("{e:#}")),
                }
            }
            if pins.is_empty() && bt.ca_cert_hashes.is_empty() && !bt.unsafe_skip_ca_verification {
                problems.push(
                    "using token-based discovery without --discovery-token-ca-cert-hash can be unsafe: without it kubestrap cannot tell the cluster from an impostor; pass the hash printed by `kubestrap token create --print-join-command` on a control-plane node, or accept the risk with --discovery-token-unsafe-skip-ca-verification".into(),
                );
            }
            token.map(|token| Discovery::Token {
                endpoint,
                token,
                pins,
                unsafe_skip_ca_verification: bt.unsafe_skip_ca_verification,
            })
        }
        (None, Some(f)) => {
            if f.kube_config_path.is_empty() {
                problems.push("`discovery.file.kubeConfigPath` is empty".into());
            }
            Some(Discovery::File {
                location: f.kube_config_path.clone(),
            })
        }
    };
    let tls_bootstrap_token = match jc.discovery.tls_bootstrap_token.as_deref() {
        Some(t) => Token::parse(t)
            .map_err(|e| problems.push(format!("{e:#}")))
            .ok(),
        // Token discovery: the discovery token bootstraps too.
        None => match &discovery {
            Some(Discovery::Token { token, .. }) => Some(token.clone()),
            _ => None,
        },
    };
    let v4 = docs.api_version == Some(super::ApiVersion::V1Beta4);
    let timeouts = jc.timeouts.clone().unwrap_or_default();
    let discovery_text = if v4 {
        timeouts.discovery.clone()
    } else {
        jc.discovery
            .timeout
            .clone()
            .unwrap_or_else(|| "5m0s".into())
    };
    let discovery_timeout = duration(&discovery_text, "discovery timeout")
        .map_err(|e| problems.push(e.to_string()))
        .ok();
    let tls_bootstrap_timeout = duration(&timeouts.tls_bootstrap, "timeouts.tlsBootstrap")
        .map_err(|e| problems.push(e.to_string()))
        .ok();
    let source = docs.source.as_deref();
    problems.extend(join_node_problems(&jc).iter().map(|p| p.render(source)));
    if !problems.is_empty() {
        // --token fills both tokens: one bad token is one problem.
        let mut seen = std::collections::HashSet::new();
        problems.retain(|p| seen.insert(p.clone()));
        return Err(super::InvalidConfig(problems).into());
    }
    let (Some(discovery), Some(discovery_timeout), Some(tls_bootstrap_timeout)) =
        (discovery, discovery_timeout, tls_bootstrap_timeout)
    else {
        bail!("the join settings are incomplete");
    };
    let node_name = match &jc.node_registration.name {
        Some(name) => name.clone(),
        None => host.hostname()?.to_lowercase(),
    };
    if !super::net::is_dns_subdomain(&node_name) {
        return Err(super::InvalidConfig(vec![format!(
            "the node name {node_name:?} is not a valid DNS-1123 subdomain (lower-case letters, digits, '-' and '.'); set one with --node-name"
        )])
        .into());
    }
    let cri_socket = match &jc.node_registration.cri_socket {
        Some(socket) => socket.clone(),
        None => super::detect_cri_socket(root)?,
    };
    let ca_cert_path = jc
        .ca_cert_path
        .clone()
        .unwrap_or_else(|| format!("{}/ca.crt", crate::fs::paths::DEFAULT_CERT_DIR));
    let (advertise_address, bind_port) = match &jc.control_plane {
        Some(cp) => local_api_endpoint(&cp.local_api_endpoint, host)?,
        None => (
            host.default_address().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            6443,
        ),
    };
    let mut init = super::InitConfiguration::default();
    init.node_registration = jc.node_registration.clone();
    init.skip_phases = jc.skip_phases.clone();
    init.dry_run = jc.dry_run;
    init.timeouts = timeouts;
    init.bootstrap_tokens = Vec::new();
    Ok(Config {
        api_version: docs.api_version.unwrap_or(super::ApiVersion::V1Beta4),
        init,
        cluster: super::ClusterConfiguration::default(),
        kubelet: None,
        kube_proxy: None,
        // The cluster's version replaces it once discovery has read kubeadm-config.
        version: version::NEWEST,
        node_name,
        advertise_address,
        bind_port,
        cri_socket,
        source: docs.source,
        join: Some(Join {
            discovery,
            tls_bootstrap_token,
            ca_cert_path,
            discovery_timeout,
            tls_bootstrap_timeout,
            certificate_key: certificate_key.filter(|_| control_plane),
            control_plane,
        }),
        warnings: join_warnings(&jc)
            .into_iter()
            .chain(key_warning)
            .chain(unused)
            .collect(),
        patches: None,
    })
}

/// The address and port this control-plane node's API server and etcd member use.
fn local_api_endpoint(endpoint: &ApiEndpoint, host: &dyn Host) -> Result<(IpAddr, u16)> {
    let address = match endpoint.advertise_address.as_deref().filter(|a| !a.is_empty()) {
        Some(text) => {
            let ip: IpAddr = text.parse().map_err(|_| {
                super::InvalidConfig(vec![format!(
                    "the advertise address {text:?} is not an IP address (--apiserver-advertise-address, `controlPlane.localAPIEndpoint.advertiseAddress`)"
                )])
            })?;
            if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() {
                return Err(super::InvalidConfig(vec![format!(
                    "the advertise address {ip} cannot be reached by the other members of the control plane; give this node's own address with --apiserver-advertise-address"
                )])
                .into());
            }
            ip
        }
        None => host.default_address().context(
            "this host has no default route, so kubestrap cannot tell which address this control-plane node advertises\n\nhint: give it with --apiserver-advertise-address",
        )?,
    };
    let port = u16::try_from(endpoint.bind_port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            super::InvalidConfig(vec![format!(
                "the API server bind port {} is not between 1 and 65535",
                endpoint.bind_port
            )])
        })?;
    Ok((address, port))
}

/// Every problem of a JoinConfiguration that can be told without the cluster (`config validate`).
pub fn validate_join(jc: &JoinConfiguration, v4: bool) -> Vec<super::Problem> {
    let mut p = join_node_problems(jc);
    let mut add = |path: &str, message: String| p.push(super::Problem::new(KIND, path, message));
    if let Some(key) = jc
        .control_plane
        .as_ref()
        .and_then(|cp| cp.certificate_key.as_deref())
        .filter(|k| !k.is_empty())
        && let Some(problem) = super::validate::certificate_key_problem(key)
    {
        add("controlPlane.certificateKey", problem);
    }
    if jc.patches.is_some() {
        add(
            "patches",
            "patches on join are not supported by kubestrap yet".into(),
        );
    }
    let d = &jc.discovery;
    match (&d.bootstrap_token, &d.file) {
        (Some(_), Some(_)) => add(
            "discovery",
            "discovery.bootstrapToken and discovery.file are mutually exclusive".into(),
        ),
        (None, None) => add(
            "discovery",
            "either discovery.bootstrapToken or discovery.file must be set".into(),
        ),
        (Some(bt), None) => {
            if let Err(e) = Token::parse(&bt.token) {
                add("discovery.bootstrapToken.token", format!("{e:#}"));
            }
            match bt.api_server_endpoint.as_deref() {
                Some(endpoint) => {
                    if let Err(e) = check_endpoint(endpoint) {
                        add("discovery.bootstrapToken.apiServerEndpoint", e.to_string());
                    }
                }
                None => add(
                    "discovery.bootstrapToken.apiServerEndpoint",
                    "token discovery needs the API server endpoint (host:port)".into(),
                ),
            }
            for (i, hash) in bt.ca_cert_hashes.iter().enumerate() {
                if let Err(e) = parse_pin(hash) {
                    add(
                        &format!("discovery.bootstrapToken.caCertHashes[{i}]"),
                        format!("{e:#}"),
                    );
                }
            }
            if bt.ca_cert_hashes.is_empty() && !bt.unsafe_skip_ca_verification {
                add(
                    "discovery.bootstrapToken",
                    "using token-based discovery without caCertHashes can be unsafe; set unsafeSkipCAVerification to accept the risk".into(),
                );
            }
        }
        (None, Some(f)) => {
            if f.kube_config_path.is_empty() {
                add("discovery.file.kubeConfigPath", "must be set".into());
            }
        }
    }
    if let Some(t) = &d.tls_bootstrap_token
        && let Err(e) = Token::parse(t)
    {
        add("discovery.tlsBootstrapToken", format!("{e:#}"));
    }
    if let Some(t) = &d.timeout
        && let Err(e) = duration(t, "discovery.timeout")
    {
        add("discovery.timeout", e.to_string());
    }
    if v4 {
        let t = jc.timeouts.clone().unwrap_or_default();
        for (name, value) in [
            ("discovery", &t.discovery),
            ("tlsBootstrap", &t.tls_bootstrap),
            ("kubernetesAPICall", &t.kubernetes_api_call),
            ("kubeletHealthCheck", &t.kubelet_health_check),
        ] {
            if let Err(e) = duration(value, &format!("timeouts.{name}")) {
                add(&format!("timeouts.{name}"), e.to_string());
            }
        }
    }
    p
}

const KIND: &str = "JoinConfiguration";

/// The problems of a JoinConfiguration that `kubestrap join` and `config validate` find alike
/// (the join's own flags applied): this node's registration, its control-plane endpoint, the
/// CA's path and the discovery file's contents.
fn join_node_problems(jc: &JoinConfiguration) -> Vec<super::Problem> {
    use super::validate::{api_endpoint, local_path, node_registration};
    let mut p = Vec::new();
    node_registration(KIND, &jc.node_registration, &mut p);
    if let Some(cp) = &jc.control_plane {
        api_endpoint(
            KIND,
            "controlPlane.localAPIEndpoint",
            &cp.local_api_endpoint,
            &mut p,
        );
    }
    if let Some(path) = &jc.ca_cert_path {
        local_path(KIND, "caCertPath", path, &mut p);
    }
    if let Some(location) = jc
        .discovery
        .file
        .as_ref()
        .map(|f| f.kube_config_path.as_str())
        .filter(|l| !l.is_empty())
    {
        let at = "discovery.file.kubeConfigPath";
        if location.starts_with("http://") {
            p.push(super::Problem::new(KIND, at, format!("{location:?} must be a path or an https URL, not plain http: the bootstrap token would travel in clear text")));
        } else if !location.starts_with("https://") {
            match super::discovery_file::read(location) {
                Ok(text) => p.extend(super::discovery_file::problems(&text).into_iter().map(
                    |why| {
                        super::Problem::new(
                            KIND,
                            at,
                            format!("the discovery file `{location}`: {why}"),
                        )
                    },
                )),
                Err(e) => p.push(super::Problem::new(KIND, at, format!("{e:#}"))),
            }
        }
    }
    p
}

/// What a JoinConfiguration sets without effect, one warning each (see [`super::fields`]).
pub fn join_warnings(join: &JoinConfiguration) -> Vec<String> {
    let mut set = join.clone();
    // Timeouts left out take their defaults: compare each one as if the section were written.
    set.timeouts.get_or_insert_with(Timeouts::default);
    let default = JoinConfiguration {
        timeouts: Some(Timeouts::default()),
        ..JoinConfiguration::default()
    };
    super::fields::no_effect("JoinConfiguration", &set, &default)
}

#[cfg(test)]
mod tests;

/// The kubelet's extra flags against the flags of the cluster's version (known after discovery):
/// refused with their place in the file when that version's kubelet lacks them, else the warnings.
pub fn check_kubelet_flags(
    cfg: &Config,
    allowed: &super::known_flags::Allowed,
) -> Result<Vec<String>> {
    let found = super::known_flags::unknown_flags(
        &cfg.init,
        &super::ClusterConfiguration::default(),
        cfg.version,
        allowed,
    );
    // The joining node's flags are in its JoinConfiguration.
    let source = cfg.source.as_deref();
    let render = |list: &[super::Problem]| -> Vec<String> {
        list.iter()
            .map(|p| {
                super::Problem::new("JoinConfiguration", p.path.clone(), p.message.clone())
                    .render(source)
            })
            .collect()
    };
    if found.problems.is_empty() {
        return Ok(render(&found.warnings));
    }
    Err(super::InvalidConfig(render(&found.problems)).into())
}

#[cfg(test)]
mod kubelet_flag_tests {
    use super::*;
    use crate::config::known_flags::Allowed;
    use crate::version::KubeVersion;

    #[test]
    fn a_joining_kubelet_flag_is_checked_against_the_cluster_version() {
        let text = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: 10.0.0.1:6443\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\nnodeRegistration:\n  name: w1\n  criSocket: unix:///run/containerd/containerd.sock\n  kubeletExtraArgs:\n    node-labels: tier=edge\n    node-lables: tier=edge\n";
        let (docs, problems) = super::super::parse(text, "join.yaml");
        assert!(problems.is_empty(), "{problems:?}");
        let root = Root::new(std::path::Path::new("/nonexistent"));
        let host = crate::host::FakeHost::healthy();
        let mut cfg = resolve_join(docs, &JoinFlags::default(), &root, &host).unwrap();
        cfg.version = KubeVersion::parse("v1.20.2").unwrap();
        let err = check_kubelet_flags(&cfg, &Allowed::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("join.yaml:13:5: `nodeRegistration.kubeletExtraArgs.node-lables`: kubelet v1.20.2 has no flag `--node-lables`, so it would not start. Did you mean `node-labels`?"),
            "{err}"
        );
        let warnings = check_kubelet_flags(&cfg, &Allowed::parse(Some("node-lables"))).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        // A newer cluster has no kubelet table of its own: a warning.
        cfg.version = KubeVersion::parse("v1.33.0").unwrap();
        let warnings = check_kubelet_flags(&cfg, &Allowed::default()).unwrap();
        assert!(
            warnings[0].contains("Did you mean `node-labels`?"),
            "{warnings:?}"
        );
    }
}
