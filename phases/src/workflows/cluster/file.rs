//! `cluster.yaml`: the hosts of a cluster and its kubeadm configuration, read strictly (an
//! unknown or missing field, a wrong type or value is refused with its file:line:column, every
//! problem at once), as every other configuration kubestrap reads.
//!
//! The first document is the `Cluster`; the kubeadm documents (the same v1beta3/v1beta4
//! InitConfiguration, ClusterConfiguration, KubeletConfiguration and KubeProxyConfiguration
//! `kubestrap init` reads) follow it in the same file, or are in the file `kubeadmConfigPath`
//! names. They are checked by the same rules as `kubestrap config validate`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;
use serde_yaml::Value;

use crate::config::{self, Documents, InvalidConfig, locate::locate, net};

/// The `apiVersion` of the Cluster document.
pub const API_VERSION: &str = "kubestrap.io/v1alpha1";
/// Where the kubestrap binary goes on each host unless `binaryPath` says otherwise.
pub const DEFAULT_BINARY_PATH: &str = "/usr/local/bin/kubestrap";

/// What a host is in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ControlPlane,
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawCluster {
    #[allow(dead_code)] // checked before the strict read
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    binary_path: Option<String>,
    #[serde(default)]
    kubeadm_config_path: Option<String>,
    /// Read one by one, so that every host's problems are found at once.
    hosts: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawHost {
    address: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    key_path: Option<String>,
    #[serde(default)]
    sudo: bool,
    role: Role,
    #[serde(default)]
    node_name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    taints: Option<Vec<Taint>>,
}

/// A taint a host's Node carries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: String,
}

/// One host of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// How messages name it: its `nodeName`, else its address.
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    pub key: Option<PathBuf>,
    pub sudo: bool,
    pub role: Role,
    pub node_name: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `None`: kubeadm's default (the control-plane taint on a control plane, none on a worker).
    pub taints: Option<Vec<Taint>>,
}

/// A whole cluster file.
#[derive(Debug, Clone)]
pub struct ClusterFile {
    pub path: PathBuf,
    pub binary_path: String,
    pub hosts: Vec<Host>,
    /// The kubeadm documents as read (each one a YAML mapping), to be written per host.
    pub kubeadm: Vec<Value>,
    /// The same documents, parsed.
    pub docs: Documents,
    /// What the kubeadm validation warns about.
    pub warnings: Vec<String>,
}

/// Reads and checks a cluster file; every problem at once, as [`InvalidConfig`].
pub fn load(path: &Path) -> Result<ClusterFile> {
    let text = config::read_config(path)?;
    parse(&text, path)
}

/// The first document's lines (start, end exclusive) and the rest's text with those lines
/// blanked, so that positions in the rest are the file's own.
fn split_first(text: &str) -> (usize, usize, String) {
    let lines: Vec<&str> = text.lines().collect();
    let is_sep = |l: &str| l.trim_end() == "---" || l.starts_with("--- ");
    let mut start = 0;
    while start < lines.len()
        && (lines[start].trim().is_empty() || lines[start].trim_start().starts_with('#'))
    {
        start += 1;
    }
    if start < lines.len() && is_sep(lines[start]) {
        start += 1;
    }
    let end = (start..lines.len())
        .find(|&i| is_sep(lines[i]))
        .unwrap_or(lines.len());
    let rest: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| if i < end { "" } else { *l })
        .collect();
    (start, end, rest.join("\n"))
}

/// Parses the text of a cluster file read from `path`.
pub fn parse(text: &str, path: &Path) -> Result<ClusterFile> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let name = path.display().to_string();
    let (start, end, rest) = split_first(text);
    let first: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i >= start && i < end { l } else { "" })
        .collect::<Vec<_>>()
        .join("\n");
    let at = |field: &str| match locate(&first, field) {
        Some((line, col)) => format!("{name}:{line}:{col}"),
        None => format!("{name}:{}:1", start + 1),
    };
    let mut problems = Vec::new();
    let value: Value = match config::yaml::to_value(&first) {
        Ok(v) => v,
        Err(e) => return Err(InvalidConfig(vec![serde_problem(&name, &e)]).into()),
    };
    let field = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
    match (field("apiVersion"), field("kind")) {
        (Some(v), Some(k)) if v == API_VERSION && k == "Cluster" => {}
        (Some(v), Some(k)) if k == "Cluster" => {
            return Err(InvalidConfig(vec![format!(
                "{}: unknown apiVersion `{v}` of a Cluster: use `{API_VERSION}`",
                at("apiVersion")
            )])
            .into());
        }
        _ => {
            return Err(InvalidConfig(vec![format!(
                "{name}:{}:1: the first document must be the cluster's: `apiVersion: {API_VERSION}` and `kind: Cluster` (see `kubestrap cluster print-defaults`)",
                start + 1
            )])
            .into());
        }
    }
    let raw: RawCluster = match serde_yaml::from_str(&first) {
        Ok(raw) => raw,
        Err(e) => return Err(InvalidConfig(vec![serde_problem(&name, &e)]).into()),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let binary_path = raw
        .binary_path
        .clone()
        .unwrap_or_else(|| DEFAULT_BINARY_PATH.into());
    if !binary_path.starts_with('/') {
        problems.push(format!(
            "{}: binaryPath `{binary_path}` must be an absolute path on the hosts",
            at("binaryPath")
        ));
    }
    if raw.hosts.is_empty() {
        problems.push(format!("{}: `hosts` lists no host", at("hosts")));
    }
    let mut hosts = Vec::new();
    let mut seen: BTreeMap<(String, u16), usize> = BTreeMap::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (i, h) in raw.hosts.into_iter().enumerate() {
        let h: RawHost = match serde_path_to_error::deserialize(h) {
            Ok(h) => h,
            Err(e) => {
                problems.push(host_problem(&name, &first, i, &e));
                continue;
            }
        };
        let here = |f: &str| at(&format!("hosts[{i}].{f}"));
        let port = h.port.unwrap_or(22);
        if port == 0 {
            problems.push(format!("{}: port 0 is no port", here("port")));
        }
        if h.address.trim().is_empty() || h.address.contains(char::is_whitespace) {
            problems.push(format!(
                "{}: address {:?} is not a host name or IP address",
                here("address"),
                h.address
            ));
        }
        if let Some(first) = seen.insert((h.address.clone(), port), i) {
            problems.push(format!(
                "{}: {}:{port} is hosts[{first}] already; a host is listed once",
                here("address"),
                h.address
            ));
        }
        if let Some(n) = &h.node_name {
            if !net::is_dns_subdomain(n) {
                problems.push(format!(
                    "{}: nodeName {n:?} is not a node name: lower-case letters, digits, '-' and '.'",
                    here("nodeName")
                ));
            } else if !names.insert(n.clone()) {
                problems.push(format!(
                    "{}: nodeName `{n}` is another host's already",
                    here("nodeName")
                ));
            }
        }
        for (k, v) in &h.labels {
            if let Some(why) = net::label_key_problem(k) {
                problems.push(format!(
                    "{}: label key `{k}`: {why}",
                    here(&format!("labels.{k}"))
                ));
            } else if let Some(why) = net::label_value_problem(v) {
                problems.push(format!(
                    "{}: label `{k}` value `{v}`: {why}",
                    here(&format!("labels.{k}"))
                ));
            }
        }
        for (j, t) in h.taints.iter().flatten().enumerate() {
            let there = |f: &str| here(&format!("taints[{j}].{f}"));
            if let Some(why) = net::label_key_problem(&t.key) {
                problems.push(format!("{}: taint key `{}`: {why}", there("key"), t.key));
            }
            if let Some(why) = t.value.as_deref().and_then(net::label_value_problem) {
                problems.push(format!("{}: taint value: {why}", there("value")));
            }
            if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&t.effect.as_str()) {
                problems.push(format!(
                    "{}: taint effect `{}` is none of NoSchedule, PreferNoSchedule, NoExecute",
                    there("effect"),
                    t.effect
                ));
            }
        }
        let key = h.key_path.as_deref().map(|k| expand(k, dir));
        if let (Some(k), Some(shown)) = (&key, &h.key_path)
            && !k.is_file()
        {
            problems.push(format!(
                "{}: keyPath `{shown}` is no file here ({})",
                here("keyPath"),
                k.display()
            ));
        }
        hosts.push(Host {
            name: h.node_name.clone().unwrap_or_else(|| h.address.clone()),
            address: h.address,
            port,
            user: h.user.unwrap_or_else(|| "root".into()),
            key,
            sudo: h.sudo,
            role: h.role,
            node_name: h.node_name,
            labels: h.labels,
            taints: h.taints,
        });
    }
    if !hosts.is_empty() && !hosts.iter().any(|h| h.role == Role::ControlPlane) {
        problems.push(format!(
            "{}: no host has `role: control-plane`; the first one is where the cluster starts",
            at("hosts")
        ));
    }
    // The kubeadm documents: after the Cluster, or in the file kubeadmConfigPath names.
    let inline = !rest.trim().lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l == "---" || l.starts_with('#')
    });
    let (kubeadm_text, kubeadm_name) = match (&raw.kubeadm_config_path, inline) {
        (Some(_), true) => {
            problems.push(format!(
                "{}: kubeadmConfigPath and kubeadm documents in this file: give one of them",
                at("kubeadmConfigPath")
            ));
            (String::new(), name.clone())
        }
        (Some(p), false) => {
            let file = expand(p, dir);
            match config::read_config(&file) {
                Ok(t) => (t, file.display().to_string()),
                Err(e) => {
                    problems.push(format!(
                        "{}: kubeadmConfigPath: {e:#}",
                        at("kubeadmConfigPath")
                    ));
                    (String::new(), name.clone())
                }
            }
        }
        (None, _) => (rest, name.clone()),
    };
    // No kubeadm document at all: init's defaults.
    let blank = kubeadm_text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l == "---" || l.starts_with('#')
    });
    let (found, warnings) = if blank {
        (Vec::new(), Vec::new())
    } else {
        config::validate_text(&kubeadm_text, &kubeadm_name, &super::super::phase_names)
    };
    problems.extend(found);
    let (docs, _) = config::parse(&kubeadm_text, &kubeadm_name);
    let mut kubeadm = Vec::new();
    for doc in kubeadm_docs(&kubeadm_text) {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let line = |f: &str| match locate(&kubeadm_text, f) {
            Some((l, c)) => format!("{kubeadm_name}:{l}:{c}"),
            None => kubeadm_name.clone(),
        };
        match kind.as_str() {
            "JoinConfiguration" => problems.push(format!(
                "{}: a JoinConfiguration is written for each joining host from the InitConfiguration's nodeRegistration and the host's entry: remove it",
                line("kind")
            )),
            "InitConfiguration" if doc.get("nodeRegistration").and_then(|n| n.get("name")).is_some() => {
                problems.push(format!(
                    "{}: nodeRegistration.name would name every host alike: give each host its `nodeName` instead",
                    line("nodeRegistration.name")
                ))
            }
            _ => {}
        }
        kubeadm.push(doc);
    }
    let control_planes = hosts
        .iter()
        .filter(|h| h.role == Role::ControlPlane)
        .count();
    if control_planes > 1 && docs.cluster.control_plane_endpoint.is_none() {
        let second = hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| h.role == Role::ControlPlane)
            .nth(1)
            .map(|(i, _)| i)
            .unwrap_or(0);
        problems.push(format!(
            "{}: a second control-plane host needs the ClusterConfiguration's controlPlaneEndpoint (an address every control plane answers at, such as a load balancer's)",
            at(&format!("hosts[{second}].role"))
        ));
    }
    if !problems.is_empty() {
        return Err(InvalidConfig(problems).into());
    }
    Ok(ClusterFile {
        path: path.to_path_buf(),
        binary_path,
        hosts,
        kubeadm,
        docs,
        warnings,
    })
}

/// The mappings of a multi-document YAML text (what validation already accepted).
fn kubeadm_docs(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut current = String::new();
    let push = |doc: &str, out: &mut Vec<Value>| {
        if let Ok(v @ Value::Mapping(_)) = config::yaml::to_value(doc) {
            out.push(v);
        }
    };
    for line in text.lines() {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            push(&current, &mut out);
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    push(&current, &mut out);
    out
}

/// `~/x` under $HOME; a relative path from the cluster file's folder.
fn expand(path: &str, dir: &Path) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    let p = PathBuf::from(path);
    if p.is_absolute() { p } else { dir.join(p) }
}

/// A host entry's problem as `file:line:column: hosts[i].field: what`, at the field (an unknown
/// one, a wrong value) or at the entry (a missing field).
fn host_problem(
    name: &str,
    text: &str,
    i: usize,
    e: &serde_path_to_error::Error<serde_yaml::Error>,
) -> String {
    let what = e.inner().to_string();
    let path = e.path().to_string();
    // The path ends at the unknown field or the wrong value; "." is the entry itself.
    let full = if path == "." {
        format!("hosts[{i}]")
    } else {
        format!("hosts[{i}].{path}")
    };
    let (line, col) = locate(text, &full)
        .or_else(|| locate(text, &format!("hosts[{i}]")))
        .unwrap_or((1, 1));
    format!("{name}:{line}:{col}: {full}: {what}")
}

/// A serde_yaml error as `file:line:column: what`.
fn serde_problem(name: &str, e: &serde_yaml::Error) -> String {
    let text = e.to_string();
    // serde_yaml appends " at line L column C"; the position leads here instead.
    let what = match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text.clone(),
    };
    match e.location() {
        Some(l) => format!("{name}:{}:{}: {what}", l.line(), l.column()),
        None => format!("{name}: {what}"),
    }
}

/// The Cluster document `print-defaults` shows, with the kubeadm documents after it.
pub fn example() -> String {
    format!(
        r#"apiVersion: {API_VERSION}
kind: Cluster
# Where each host gets this kubestrap binary (copied when its SHA-256 differs).
binaryPath: {DEFAULT_BINARY_PATH}
# kubeadmConfigPath: kubeadm.yaml    # or the kubeadm documents below, in this file
hosts:
- address: 192.0.2.10         # how this machine reaches the host over SSH
  port: 22
  user: root                  # another user needs `sudo: true` (sudo without a password)
  keyPath: ~/.ssh/id_ed25519  # without it: the SSH agent and ssh's own defaults
  role: control-plane         # the first control-plane host starts the cluster
  nodeName: cp1               # default: the host's name in lower case
- address: 192.0.2.11
  user: admin
  sudo: true
  role: worker
  labels:
    example.com/disk: ssd
  taints:
  - key: example.com/dedicated
    value: batch
    effect: NoSchedule
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {}
networking:
  podSubnet: 10.244.0.0/16
"#,
        crate::version::NEWEST
    )
}

#[cfg(test)]
mod tests;
