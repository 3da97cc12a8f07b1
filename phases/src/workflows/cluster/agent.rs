//! What `kubestrap cluster apply` asks of kubestrap on a host (the hidden `kubestrap cluster
//! agent` commands, JSON in and out): the host's facts, and on a control-plane host the Nodes'
//! labels and taints, their list, and the cluster's record of its hosts
//! (ConfigMap `kube-system/kubestrap-cluster`).

use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use super::labels::NodeWant;

use super::file::Role;
use crate::api::ObjectRef;
use crate::api::objects::ConfigMap;
use crate::fs::paths;
use crate::fs::root::Root;

/// What a host is and has, as `cluster apply` needs to know before it does anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Facts {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub kernel: String,
    /// The container runtime answers CRI on its socket.
    pub containerd: bool,
    /// Its name, version and CRI API, or why it does not answer.
    pub cri: String,
    /// `kubelet --version`'s version, when a kubelet is on the PATH.
    pub kubelet_version: Option<String>,
    /// A kubelet.service unit is installed.
    pub kubelet_unit: bool,
    /// The SHA-256 pin of `/etc/kubernetes/pki/ca.crt`: which cluster the host belongs to.
    pub ca_hash: Option<String>,
    pub kubelet_conf: bool,
    /// The join's bootstrap kubeconfig is still there: the join did not finish.
    pub bootstrap_conf: bool,
    pub admin_conf: bool,
    /// The host runs a control plane (the kube-apiserver manifest is there).
    pub control_plane: bool,
    /// Anything of a cluster is on the host (a half-done init or join leaves some).
    pub kube_files: bool,
    /// The earliest end of validity of the host's certificates (RFC 3339).
    pub cert_expiry: Option<String>,
}

impl Facts {
    /// One line for a person: what the host is and whether it is in a cluster.
    pub fn describe(&self) -> String {
        let f = self;
        let member = match (&f.ca_hash, f.kubelet_conf) {
            (Some(ca), true) => format!("in a cluster (CA {})", &ca[..ca.len().min(19)]),
            _ if f.kube_files => "remains of a cluster".into(),
            _ => "in no cluster".into(),
        };
        format!(
            "{} {} {}, kernel {}, kubelet {}, runtime {}, {member}",
            f.hostname,
            f.os,
            f.arch,
            f.kernel,
            f.kubelet_version.as_deref().unwrap_or("none"),
            f.cri
        )
    }
}

/// containerd's CRI socket (what kubestrap and kubeadm use by default).
const CRI_SOCKET: &str = "/run/containerd/containerd.sock";

const KUBELET_UNITS: &[&str] = &[
    "/etc/systemd/system/kubelet.service",
    "/usr/lib/systemd/system/kubelet.service",
    "/lib/systemd/system/kubelet.service",
];

/// The facts of the host under `base` (`/` on a real host).
/// Whether `dir` holds anything but empty folders, looking `depth` folders down: a reset host
/// keeps `/etc/kubernetes/manifests` and `pki`, empty, as kubeadm's reset leaves them.
fn holds_files(root: &Root, dir: &str, depth: usize) -> bool {
    root.list(dir).unwrap_or_default().iter().any(|name| {
        let path = format!("{dir}/{name}");
        let folder = root
            .physical(&path)
            .ok()
            .and_then(|p| std::fs::symlink_metadata(p).ok())
            .is_some_and(|m| m.is_dir());
        !folder || depth == 0 || holds_files(root, &path, depth - 1)
    })
}

pub fn facts(base: &Path) -> Facts {
    let root = Root::new(base);
    let uts = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uts.as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let os = root
        .read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let kubelet_version = std::process::Command::new("kubelet")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .last()
                .map(str::to_string)
        });
    let ca = format!("{}/ca.crt", paths::DEFAULT_CERT_DIR);
    let ca_hash = root
        .read(&ca)
        .ok()
        .and_then(|pem| crate::pki::ca_cert_hashes(&pem).ok())
        .and_then(|h| h.into_iter().next());
    let kube_files = [paths::KUBERNETES_DIR, paths::KUBELET_DIR]
        .iter()
        .any(|d| holds_files(&root, d, 4));
    let runtime = root
        .physical(CRI_SOCKET)
        .map_err(|e| format!("{e:#}"))
        .and_then(|socket| {
            crate::cri::probe(&socket, std::time::Duration::from_secs(5)).map_err(|e| e.to_string())
        });
    Facts {
        hostname: field(|u| u.nodename()),
        os,
        arch: field(|u| u.machine()),
        kernel: field(|u| u.release()),
        containerd: runtime.is_ok(),
        cri: match runtime {
            Ok(s) => format!(
                "{} {} ({})",
                s.version.runtime_name, s.version.runtime_version, s.version.api
            ),
            Err(e) => format!("not answering on {CRI_SOCKET}: {e}"),
        },
        kubelet_version,
        kubelet_unit: KUBELET_UNITS.iter().any(|u| root.exists(u)),
        ca_hash,
        kubelet_conf: root.exists(paths::kubeconfig("kubelet.conf")),
        bootstrap_conf: root.exists(paths::kubeconfig("bootstrap-kubelet.conf")),
        admin_conf: root.exists(paths::kubeconfig("admin.conf")),
        control_plane: root.exists(paths::manifest("kube-apiserver")),
        kube_files,
        cert_expiry: earliest_expiry(&root),
    }
}

/// The earliest `notAfter` of the host's certificates (the PKI folder's and the kubelet's).
fn earliest_expiry(root: &Root) -> Option<String> {
    let mut files: Vec<String> = root
        .list(paths::DEFAULT_CERT_DIR)
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.ends_with(".crt"))
        .map(|f| format!("{}/{f}", paths::DEFAULT_CERT_DIR))
        .collect();
    files.push(format!(
        "{}/pki/kubelet-client-current.pem",
        paths::KUBELET_DIR
    ));
    let earliest = files
        .iter()
        .filter_map(|f| root.read(f).ok())
        .filter_map(|pem| {
            let block = pem::parse_many(&pem)
                .ok()?
                .into_iter()
                .find(|b| b.tag() == "CERTIFICATE")?;
            let (_, cert) = x509_parser::parse_x509_certificate(block.contents()).ok()?;
            Some(cert.validity().not_after.timestamp())
        })
        .min()?;
    let at = time::OffsetDateTime::from_unix_timestamp(earliest).ok()?;
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A host as the cluster's record keeps it (to list or `--prune` it once the file drops it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedHost {
    pub name: String,
    pub node: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    pub sudo: bool,
    pub role: Role,
}

/// What the `nodes` agent command is asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodesRequest {
    /// Nodes to delete first (a host to join again, a host pruned).
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub ensure: Vec<NodeWant>,
    /// Nodes to drain first: cordoned, their pods evicted (but DaemonSets' and static ones).
    #[serde(default)]
    pub drain: Vec<String>,
    /// How long the drain's evictions may wait for PodDisruptionBudgets (default: 2 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_timeout_seconds: Option<u64>,
    /// The hosts to record; `None` leaves the record as it is. Hosts recorded before and not
    /// listed stay recorded (to be listed, or pruned) unless named in `forget`.
    #[serde(default)]
    pub record: Option<Vec<RecordedHost>>,
    #[serde(default)]
    pub forget: Vec<String>,
}

/// One Node as `kubectl get nodes` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRow {
    pub name: String,
    /// The Ready condition's status: True, False or Unknown.
    pub ready: String,
    pub roles: Vec<String>,
    pub created: String,
    pub kubelet_version: String,
}

/// What the `nodes` agent command did and found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodesReply {
    pub nodes: Vec<NodeRow>,
    /// The Nodes whose labels or taints were changed.
    pub changed: Vec<String>,
    /// The pods the drain evicted (`namespace/name`).
    #[serde(default)]
    pub evicted: Vec<String>,
    /// The record as it was before (empty when there was none).
    pub recorded: Vec<RecordedHost>,
    pub record_written: bool,
}

/// The cluster's record of its hosts.
pub const RECORD: &str = "kubestrap-cluster";

fn record_ref() -> Result<ObjectRef> {
    ObjectRef::new("v1", "ConfigMap", Some("kube-system"), RECORD)
}

/// On a control-plane host: drains and deletes the Nodes asked, gives the Nodes the file's
/// labels and taints (removing those it no longer lists), writes the record when it differs,
/// lists the Nodes (through admin.conf under `base`).
pub fn nodes(base: &Path, req: &NodesRequest, out: &dyn crate::api::Log) -> Result<NodesReply> {
    let admin = super::super::Cluster {
        kubeconfig: paths::kubeconfig("admin.conf"),
        timeout: crate::api::Retry::default().timeout,
    };
    let (_, client) = super::super::cluster_client(base, &admin)?;
    let api = client.with(out);
    let mut reply = NodesReply::default();
    let mut limits = super::drain::Limits::default();
    if let Some(seconds) = req.drain_timeout_seconds {
        limits.budget = std::time::Duration::from_secs(seconds);
    }
    for name in &req.drain {
        let evicted = super::drain::drain(&api, out, name, &limits)?;
        reply.evicted.extend(evicted);
    }
    for name in &req.remove {
        api.delete(&crate::api::node::node_ref(name)?)
            .with_context(|| format!("failed to delete node `{name}`"))?;
    }
    for want in &req.ensure {
        if super::labels::ensure(&api, want)? {
            reply.changed.push(want.name.clone());
        }
    }
    let before: Option<ConfigMap> = api.get(&record_ref()?)?;
    if let Some(cm) = &before
        && let Some(hosts) = cm.data.get("hosts")
    {
        reply.recorded = serde_json::from_str(hosts)
            .with_context(|| format!("ConfigMap kube-system/{RECORD} holds no host list"))?;
    }
    if let Some(listed) = &req.record {
        let mut record = listed.clone();
        record.extend(
            reply
                .recorded
                .iter()
                .filter(|r| {
                    !listed.iter().any(|l| l.name == r.name) && !req.forget.contains(&r.name)
                })
                .cloned(),
        );
        if before.is_some() && reply.recorded == record {
            return finish(&api, reply);
        }
        let data = serde_json::to_string_pretty(&record)?;
        api.create_or_update(&json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": RECORD, "namespace": "kube-system"},
            "data": {"hosts": data},
        }))?;
        reply.record_written = true;
    }
    finish(&api, reply)
}

/// The reply with the node list.
fn finish(api: &crate::api::Api<'_>, mut reply: NodesReply) -> Result<NodesReply> {
    let nodes: Vec<Value> = api.list("/api/v1/nodes", "nodes")?;
    for n in nodes {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let ready = n["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .map(|c| text(&c["status"]))
            .unwrap_or_else(|| "Unknown".into());
        let roles = n["metadata"]["labels"]
            .as_object()
            .map(|l| {
                l.keys()
                    .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        reply.nodes.push(NodeRow {
            name: text(&n["metadata"]["name"]),
            ready,
            roles,
            created: text(&n["metadata"]["creationTimestamp"]),
            kubelet_version: text(&n["status"]["nodeInfo"]["kubeletVersion"]),
        });
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_hosts_empty_folders_are_not_remains_of_a_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        for d in ["/etc/kubernetes/manifests", "/etc/kubernetes/pki/etcd"] {
            root.create_dir(d, 0o755).unwrap();
        }
        root.create_dir(paths::KUBELET_DIR, 0o700).unwrap();
        assert!(!holds_files(&root, paths::KUBERNETES_DIR, 4));
        assert!(!holds_files(&root, paths::KUBELET_DIR, 4));
        assert!(!facts(dir.path()).kube_files);
        // What a half-done join leaves.
        root.write("/etc/kubernetes/pki/ca.crt", b"x", 0o644)
            .unwrap();
        assert!(holds_files(&root, paths::KUBERNETES_DIR, 4));
        assert!(facts(dir.path()).kube_files);
    }

    #[test]
    fn a_folder_deeper_than_the_look_counts_as_remains() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.create_dir("/var/lib/kubelet/pods/a/volumes", 0o755)
            .unwrap();
        assert!(!holds_files(&root, paths::KUBELET_DIR, 4));
        assert!(holds_files(&root, paths::KUBELET_DIR, 1));
    }
}
