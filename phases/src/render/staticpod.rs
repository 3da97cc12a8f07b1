//! Pieces shared by the static pods kubeadm writes: probes, host-path volumes, environment,
//! the version-dependent pod fields, and the write itself.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::config::{Config, EnvVar, HostPathMount};
use crate::fs::paths;
use crate::fs::root::Root;
use crate::render::templates::{indent, scalar};
use crate::version::Profile;

/// Where a probe looks: an HTTP GET.
#[derive(Debug, Clone)]
pub struct HttpGet {
    /// Empty means the pod IP (kubeadm leaves `host` out).
    pub host: String,
    pub path: &'static str,
    pub port: u16,
    pub scheme: &'static str,
    /// Probe through the named container port `probe-port` (1.34+) instead of the number.
    pub named: bool,
}

fn http_get(t: &HttpGet) -> String {
    let mut out = String::from("httpGet:\n");
    if !t.host.is_empty() {
        out.push_str(&format!("  host: {}\n", scalar(&t.host)));
    }
    let port = if t.named {
        PROBE_PORT.to_string()
    } else {
        t.port.to_string()
    };
    out.push_str(&format!(
        "  path: {}\n  port: {port}\n  scheme: {}\n",
        scalar(t.path),
        t.scheme
    ));
    out
}

/// Name of the container port the probes use from 1.34.
pub const PROBE_PORT: &str = "probe-port";

/// The container's `ports:` field declaring the probe port (1.34+); empty before.
fn ports(t: &HttpGet) -> String {
    if t.named {
        format!(
            "ports:\n- containerPort: {}\n  name: {PROBE_PORT}\n  protocol: TCP\n",
            t.port
        )
    } else {
        String::new()
    }
}

/// `livenessProbe` body: 10 s delay, 15 s timeout, 8 failures, every 10 s.
fn liveness(t: &HttpGet) -> String {
    format!(
        "failureThreshold: 8\n{}initialDelaySeconds: 10\nperiodSeconds: 10\ntimeoutSeconds: 15\n",
        http_get(t)
    )
}

/// `readinessProbe` body: 15 s timeout, 3 failures, every second.
fn readiness(t: &HttpGet) -> String {
    format!(
        "failureThreshold: 3\n{}periodSeconds: 1\ntimeoutSeconds: 15\n",
        http_get(t)
    )
}

/// `startupProbe` body: 10 s delay and period; as many failures as fit in the control-plane timeout.
fn startup(t: &HttpGet, failure_threshold: u64) -> String {
    format!(
        "failureThreshold: {failure_threshold}\n{}initialDelaySeconds: 10\nperiodSeconds: 10\ntimeoutSeconds: 15\n",
        http_get(t)
    )
}

/// `readinessProbe:` with its body.
fn readiness_field(t: &HttpGet) -> String {
    format!("readinessProbe:\n{}", indent(&readiness(t), 2))
}

/// The probes of a control-plane static pod, the same block for the four of them: a liveness,
/// a startup and (where the component and version have one) a readiness probe, each an HTTP GET
/// of one endpoint, and from 1.34 the named container port they use.
#[derive(Debug, Clone)]
pub struct Probes {
    /// Empty means the pod IP (kubeadm leaves `host` out).
    pub host: String,
    pub port: u16,
    pub scheme: &'static str,
    /// Probe through the named container port `probe-port` (1.34+).
    pub named: bool,
    pub liveness: &'static str,
    pub readiness: Option<&'static str>,
    pub startup: &'static str,
}

impl Probes {
    fn at(&self, path: &'static str) -> HttpGet {
        HttpGet {
            host: self.host.clone(),
            path,
            port: self.port,
            scheme: self.scheme,
            named: self.named,
        }
    }

    /// The template values `livenessProbe`, `ports`, `readinessProbe` (the whole field, empty
    /// without one) and `startupProbe` (its failure threshold from `cfg`'s control-plane timeout).
    pub fn fields(&self, cfg: &Config) -> Result<[(&'static str, String); 4]> {
        let live = self.at(self.liveness);
        Ok([
            ("livenessProbe", liveness(&live)),
            ("ports", ports(&live)),
            (
                "readinessProbe",
                self.readiness
                    .map(|path| readiness_field(&self.at(path)))
                    .unwrap_or_default(),
            ),
            (
                "startupProbe",
                startup(&self.at(self.startup), startup_failure_threshold(cfg)?),
            ),
        ])
    }
}

/// Renders a control-plane static pod from its template (`name`, `template`): `vars` (its
/// command, image, env, volumes, …) with what every control-plane pod has the same way, the
/// probes, the priority and the seccomp profile of the version.
pub fn render(
    name: &str,
    template: &str,
    cfg: &Config,
    probes: &Probes,
    mut vars: Vec<(&str, String)>,
) -> Result<String> {
    let p = cfg.version.profile();
    vars.push(("priority", priority(&p)));
    vars.push(("securityContext", security_context(&p)));
    vars.extend(probes.fields(cfg)?);
    crate::render::templates::render(name, template, &vars)
}

/// One HTTP probe of a static pod manifest as the kubelet runs it: `scheme://host:port` (the
/// host `127.0.0.1` when the manifest leaves it out) and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub base: String,
    pub path: String,
}

/// The readiness and liveness probes (`httpGet`) of a manifest's first container: the checks
/// the kubelet itself runs, so "healthy" means what it means to the kubelet.
pub fn health_checks(manifest: &str) -> Result<Vec<HealthCheck>> {
    let pod: serde_yaml::Value =
        serde_yaml::from_str(manifest).context("the manifest is not YAML")?;
    let container = pod
        .get("spec")
        .and_then(|s| s.get("containers"))
        .and_then(|c| c.get(0))
        .context("the manifest has no container")?;
    let mut out = Vec::new();
    for kind in ["readinessProbe", "livenessProbe"] {
        let Some(get) = container.get(kind).and_then(|p| p.get("httpGet")) else {
            continue;
        };
        let text = |k: &str| get.get(k).and_then(serde_yaml::Value::as_str);
        let host = text("host")
            .filter(|h| !h.is_empty())
            .unwrap_or("127.0.0.1");
        let port = get
            .get("port")
            .and_then(serde_yaml::Value::as_u64)
            .with_context(|| format!("{kind}.httpGet.port is not a number"))?;
        let scheme = text("scheme").unwrap_or("HTTP").to_lowercase();
        let host = crate::config::net::join_host_port(host, port as u16);
        let check = HealthCheck {
            base: format!("{scheme}://{host}"),
            path: text("path").unwrap_or("/").to_string(),
        };
        if !out.contains(&check) {
            out.push(check);
        }
    }
    Ok(out)
}

/// The startup probe's failure threshold: the control-plane health-check timeout in 10 s periods
/// (`apiServer.timeoutForControlPlane` in v1beta3, `timeouts.controlPlaneComponentHealthCheck` in v1beta4).
fn startup_failure_threshold(cfg: &Config) -> Result<u64> {
    let (field, text) = match &cfg.cluster.api_server.timeout_for_control_plane {
        Some(t) => ("apiServer.timeoutForControlPlane", t.as_str()),
        None => (
            "timeouts.controlPlaneComponentHealthCheck",
            cfg.init
                .timeouts
                .control_plane_component_health_check
                .as_str(),
        ),
    };
    let timeout =
        crate::config::duration::parse(text).with_context(|| format!("invalid `{field}`"))?;
    Ok(periods(timeout))
}

/// How many 10 s probe periods cover `timeout`, rounded up.
fn periods(timeout: Duration) -> u64 {
    (timeout.as_secs_f64() / 10.0).ceil() as u64
}

/// A host-path volume and its mount at the same path or another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub host_path: String,
    pub mount_path: String,
    pub read_only: bool,
    /// `None` writes `type: ""` (what kubeadm does for an extra volume without `pathType`).
    pub path_type: Option<String>,
}

impl Volume {
    /// A volume mounted at its host path.
    pub fn same(name: &str, path: &str, read_only: bool, path_type: &str) -> Self {
        Volume {
            name: name.to_string(),
            host_path: path.to_string(),
            mount_path: path.to_string(),
            read_only,
            path_type: Some(path_type.to_string()),
        }
    }

    /// A user's `extraVolumes` entry.
    pub fn extra(m: &HostPathMount) -> Self {
        Volume {
            name: m.name.clone(),
            host_path: m.host_path.clone(),
            mount_path: m.mount_path.clone(),
            read_only: m.read_only,
            path_type: Some(m.path_type.clone().unwrap_or_default()),
        }
    }
}

/// Volumes keyed by name: a later one with the same name replaces the earlier (as kubeadm's map does).
#[derive(Debug, Default)]
pub struct Volumes(BTreeMap<String, Volume>);

impl Volumes {
    pub fn add(&mut self, v: Volume) {
        self.0.insert(v.name.clone(), v);
    }

    /// The `volumes:` list, sorted by name.
    pub fn volumes(&self) -> String {
        self.0
            .values()
            .map(|v| {
                format!(
                    "- hostPath:\n    path: {}\n    type: {}\n  name: {}\n",
                    scalar(&v.host_path),
                    scalar(v.path_type.as_deref().unwrap_or("")),
                    scalar(&v.name)
                )
            })
            .collect()
    }

    /// The container's `volumeMounts:` list, sorted by name.
    pub fn mounts(&self) -> String {
        self.0
            .values()
            .map(|v| {
                let mut m = format!(
                    "- mountPath: {}\n  name: {}\n",
                    scalar(&v.mount_path),
                    scalar(&v.name)
                );
                if v.read_only {
                    m.push_str("  readOnly: true\n");
                }
                m
            })
            .collect()
    }
}

/// The container's `env:` field from v1beta4 `extraEnvs`; empty when there are none.
pub fn env(vars: &[EnvVar]) -> String {
    if vars.is_empty() {
        return String::new();
    }
    let mut out = String::from("env:\n");
    for v in vars {
        out.push_str(&format!(
            "- name: {}\n  value: {}\n",
            scalar(&v.name),
            scalar(&v.value)
        ));
    }
    out
}

/// `priority: 2000001000` where this version sets it.
fn priority(p: &Profile) -> String {
    if p.static_pod_priority {
        "priority: 2000001000\n".to_string()
    } else {
        String::new()
    }
}

/// The pod's seccomp profile where this version sets it.
fn security_context(p: &Profile) -> String {
    if p.seccomp_runtime_default {
        "securityContext:\n  seccompProfile:\n    type: RuntimeDefault\n".to_string()
    } else {
        String::new()
    }
}

/// The probe host for a bind address: empty (the pod IP) for a wildcard address.
pub fn probe_host(addr: &str) -> String {
    if addr == "0.0.0.0" || addr == "::" {
        String::new()
    } else {
        addr.to_string()
    }
}

/// Writes a manifest to `/etc/kubernetes/manifests/<component>.yaml` (folder 0700, file 0600).
pub fn write(root: &Root, component: &str, manifest: &str) -> Result<()> {
    root.create_dir(paths::MANIFESTS_DIR, 0o700)?;
    root.write(paths::manifest(component), manifest.as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_threshold_rounds_up_to_periods() {
        assert_eq!(periods(Duration::from_secs(240)), 24);
        assert_eq!(periods(Duration::from_secs(95)), 10);
    }

    #[test]
    fn volumes_sort_and_replace_by_name() {
        let mut v = Volumes::default();
        v.add(Volume::same(
            "k8s-certs",
            "/etc/kubernetes/pki",
            true,
            "DirectoryOrCreate",
        ));
        v.add(Volume::same(
            "ca-certs",
            "/etc/ssl/certs",
            true,
            "DirectoryOrCreate",
        ));
        v.add(Volume::same(
            "ca-certs",
            "/etc/ssl/other",
            false,
            "Directory",
        ));
        assert_eq!(
            v.mounts(),
            "- mountPath: /etc/ssl/other\n  name: ca-certs\n- mountPath: /etc/kubernetes/pki\n  name: k8s-certs\n  readOnly: true\n"
        );
        assert!(v.volumes().starts_with(
            "- hostPath:\n    path: /etc/ssl/other\n    type: Directory\n  name: ca-certs\n"
        ));
    }

    #[test]
    fn reads_the_probes_of_a_manifest() {
        let manifest = "apiVersion: v1
kind: Pod
spec:
  containers:
  - name: kube-apiserver
    livenessProbe:
      httpGet:
        host: 10.20.0.1
        path: /livez
        port: 6443
        scheme: HTTPS
    readinessProbe:
      httpGet:
        host: 10.20.0.1
        path: /readyz
        port: 6443
        scheme: HTTPS
";
        let got = health_checks(manifest).unwrap();
        assert_eq!(
            got,
            [
                HealthCheck {
                    base: "https://10.20.0.1:6443".into(),
                    path: "/readyz".into()
                },
                HealthCheck {
                    base: "https://10.20.0.1:6443".into(),
                    path: "/livez".into()
                }
            ]
        );
        let etcd = "spec:\n  containers:\n  - livenessProbe:\n      httpGet:\n        path: /health\n        port: 2381\n";
        assert_eq!(
            health_checks(etcd).unwrap(),
            [HealthCheck {
                base: "http://127.0.0.1:2381".into(),
                path: "/health".into()
            }]
        );
        assert!(health_checks("spec: {}").is_err());
    }
}
