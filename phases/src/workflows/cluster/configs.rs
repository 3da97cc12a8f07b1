//! The kubeadm configuration each host gets from the cluster file: the init host's documents
//! (its node name, taints, advertise address, the certificate key), a joining host's
//! JoinConfiguration (discovery by token and CA pin, the InitConfiguration's nodeRegistration,
//! its own name and taints) and what preflight checks a host with.

use anyhow::Result;
use serde_yaml::{Mapping, Value};

use super::file::{ClusterFile, Host, Role};

/// The kubeadm documents for `host` as YAML, with `edit` applied to its InitConfiguration (made
/// when the file has none).
fn documents(file: &ClusterFile, mut edit: impl FnMut(&mut Mapping)) -> Result<String> {
    let mut docs = file.kubeadm.clone();
    let api = api_version(file);
    if !docs.iter().any(|d| kind(d) == "InitConfiguration") {
        let mut m = Mapping::new();
        m.insert("apiVersion".into(), api.clone().into());
        m.insert("kind".into(), "InitConfiguration".into());
        docs.insert(0, Value::Mapping(m));
    }
    let mut text = String::new();
    for mut d in docs {
        if kind(&d) == "InitConfiguration"
            && let Value::Mapping(m) = &mut d
        {
            edit(m);
        }
        text.push_str("---\n");
        text.push_str(&serde_yaml::to_string(&d)?);
    }
    Ok(text)
}

fn kind(d: &Value) -> &str {
    d.get("kind").and_then(Value::as_str).unwrap_or_default()
}

fn api_version(file: &ClusterFile) -> String {
    file.kubeadm
        .iter()
        .find(|d| {
            d.get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|v| v.starts_with("kubeadm.k8s.io/"))
        })
        .and_then(|d| d.get("apiVersion").and_then(Value::as_str))
        .unwrap_or("kubeadm.k8s.io/v1beta3")
        .to_string()
}

fn map<'a>(m: &'a mut Mapping, key: &str) -> &'a mut Mapping {
    let v = m
        .entry(key.into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if !v.is_mapping() {
        *v = Value::Mapping(Mapping::new());
    }
    match v {
        Value::Mapping(inner) => inner,
        _ => unreachable!("made a mapping above"),
    }
}

fn registration(host: &Host, nr: &mut Mapping) -> Result<()> {
    if let Some(n) = &host.node_name {
        nr.insert("name".into(), n.clone().into());
    }
    if let Some(t) = &host.taints {
        nr.insert("taints".into(), serde_yaml::to_value(t)?);
    }
    Ok(())
}

/// The init host's configuration: its node name, taints, advertise address and the
/// certificate key that shares the control-plane certificates.
pub(super) fn init_config(file: &ClusterFile, host: &Host, key: Option<&str>) -> Result<String> {
    let ip = host.address.parse::<std::net::IpAddr>().is_ok();
    let mut failed = None;
    let text = documents(file, |m| {
        if let Err(e) = registration(host, map(m, "nodeRegistration")) {
            failed = Some(e);
        }
        let ep = map(m, "localAPIEndpoint");
        if ip && !ep.contains_key("advertiseAddress") {
            ep.insert("advertiseAddress".into(), host.address.clone().into());
        }
        if let Some(k) = key {
            m.insert("certificateKey".into(), k.into());
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(text),
    }
}

/// `kubestrap preflight --config` for a host: init's documents, or for a joining host only the
/// InitConfiguration's nodeRegistration (its CRI socket and ignored checks).
pub(super) fn preflight_config(file: &ClusterFile, host: &Host, init: bool) -> Result<String> {
    if init {
        return init_config(file, host, None);
    }
    let mut m = Mapping::new();
    m.insert("apiVersion".into(), api_version(file).into());
    m.insert("kind".into(), "InitConfiguration".into());
    let mut nr = init_registration(file);
    nr.remove("taints");
    registration(host, &mut nr)?;
    m.insert("nodeRegistration".into(), Value::Mapping(nr));
    // The checks read an advertise address; a host without a default route has none to pick.
    if host.address.parse::<std::net::IpAddr>().is_ok() {
        let mut ep = Mapping::new();
        ep.insert("advertiseAddress".into(), host.address.clone().into());
        m.insert("localAPIEndpoint".into(), Value::Mapping(ep));
    }
    let mut text = format!("---\n{}", serde_yaml::to_string(&Value::Mapping(m))?);
    if let Some(cluster) = file
        .kubeadm
        .iter()
        .find(|d| kind(d) == "ClusterConfiguration")
    {
        text.push_str(&format!("---\n{}", serde_yaml::to_string(cluster)?));
    }
    Ok(text)
}

fn init_registration(file: &ClusterFile) -> Mapping {
    file.kubeadm
        .iter()
        .find(|d| kind(d) == "InitConfiguration")
        .and_then(|d| d.get("nodeRegistration"))
        .and_then(Value::as_mapping)
        .cloned()
        .unwrap_or_default()
}

/// Where joining hosts find the API server: the controlPlaneEndpoint, else the first control
/// plane's advertise address (or its address) and port.
pub(super) fn api_endpoint(file: &ClusterFile, first: &Host) -> String {
    if let Some(ep) = &file.docs.cluster.control_plane_endpoint {
        return if ep.contains(':') && !ep.ends_with(']') {
            ep.clone()
        } else {
            format!("{ep}:6443")
        };
    }
    let ep = &file.docs.init.local_api_endpoint;
    let host = ep
        .advertise_address
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| first.address.clone());
    let port = u16::try_from(ep.bind_port).unwrap_or(6443);
    crate::config::net::join_host_port(&host, port)
}

/// A joining host's JoinConfiguration: discovery by the token and the CA's pin, its node name
/// and taints, the InitConfiguration's other nodeRegistration settings, and for a control plane
/// its advertise address and the certificate key.
pub(super) fn join_config(
    file: &ClusterFile,
    host: &Host,
    endpoint: &str,
    token: &str,
    ca: &str,
    key: Option<&str>,
) -> Result<String> {
    let mut m = Mapping::new();
    m.insert("apiVersion".into(), api_version(file).into());
    m.insert("kind".into(), "JoinConfiguration".into());
    let mut bt = Mapping::new();
    bt.insert("apiServerEndpoint".into(), endpoint.into());
    bt.insert("token".into(), token.into());
    bt.insert("caCertHashes".into(), Value::Sequence(vec![ca.into()]));
    let mut discovery = Mapping::new();
    discovery.insert("bootstrapToken".into(), Value::Mapping(bt));
    m.insert("discovery".into(), Value::Mapping(discovery));
    let mut nr = init_registration(file);
    // The first control plane's taints are its own; a worker has none unless its entry says.
    nr.remove("taints");
    if host.role == Role::Worker {
        nr.insert("taints".into(), Value::Sequence(Vec::new()));
    }
    registration(host, &mut nr)?;
    m.insert("nodeRegistration".into(), Value::Mapping(nr));
    if host.role == Role::ControlPlane {
        let mut cp = Mapping::new();
        if host.address.parse::<std::net::IpAddr>().is_ok() {
            let mut ep = Mapping::new();
            ep.insert("advertiseAddress".into(), host.address.clone().into());
            cp.insert("localAPIEndpoint".into(), Value::Mapping(ep));
        }
        if let Some(k) = key {
            cp.insert("certificateKey".into(), k.into());
        }
        m.insert("controlPlane".into(), Value::Mapping(cp));
    }
    Ok(format!(
        "---\n{}",
        serde_yaml::to_string(&Value::Mapping(m))?
    ))
}

#[cfg(test)]
mod tests;
