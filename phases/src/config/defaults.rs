//! Writing configurations back out as kubeadm does: `config print init-defaults`, and the documents
//! other phases upload, in the API version asked for.

use anyhow::{Context as _, Result};
use serde_yaml::{Mapping, Value};

use super::load::{EXTRA_ARGS, V1BETA4_ONLY, get_path, remove_path};
use super::{ApiVersion, BootstrapToken, ClusterConfiguration, InitConfiguration};
use crate::version;

/// The two documents as YAML in the given API version, keys sorted like kubeadm's output.
pub fn to_yaml(
    version: ApiVersion,
    init: &InitConfiguration,
    cluster: &ClusterConfiguration,
) -> Result<String> {
    let init_doc = document(version, "InitConfiguration", init, init)?;
    let cluster_doc = document(version, "ClusterConfiguration", cluster, init)?;
    Ok(format!("{init_doc}---\n{cluster_doc}"))
}

/// One document of a kind in the given API version.
pub fn document<T: serde::Serialize>(
    version: ApiVersion,
    kind: &str,
    value: &T,
    init: &InitConfiguration,
) -> Result<String> {
    let Value::Mapping(mut map) =
        serde_yaml::to_value(value).context("failed to serialize the configuration")?
    else {
        anyhow::bail!("{kind} did not serialize to a mapping");
    };
    map.insert("apiVersion".into(), version.as_str().into());
    map.insert("kind".into(), kind.into());
    if version == ApiVersion::V1Beta3 {
        for (k, paths) in V1BETA4_ONLY {
            for path in paths.iter().filter(|_| *k == kind) {
                remove_path(&mut map, path);
            }
        }
        for (_, path) in EXTRA_ARGS.iter().filter(|(k, _)| *k == kind) {
            as_map(&mut map, path);
        }
        if kind == "ClusterConfiguration" {
            let api_server = map
                .entry("apiServer".into())
                .or_insert_with(|| Value::Mapping(Mapping::new()));
            if let Value::Mapping(api) = api_server
                && !api.contains_key("timeoutForControlPlane")
            {
                api.insert(
                    "timeoutForControlPlane".into(),
                    init.timeouts
                        .control_plane_component_health_check
                        .clone()
                        .into(),
                );
            }
        }
    } else if kind == "ClusterConfiguration" {
        remove_path(&mut map, "apiServer.timeoutForControlPlane");
    }
    let sorted = sort_keys(Value::Mapping(map));
    serde_yaml::to_string(&sorted).context("failed to write the configuration as YAML")
}

/// Turns a v1beta4 `[{name, value}]` list at `path` into v1beta3's `{name: value}` map.
fn as_map(map: &mut Mapping, path: &str) {
    let Some(Value::Sequence(list)) = get_path(map, path).cloned() else {
        return;
    };
    let mut args = Mapping::new();
    for item in list {
        if let (Some(name), Some(value)) = (item.get("name"), item.get("value")) {
            args.insert(name.clone(), value.clone());
        }
    }
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    let mut cur = &mut *map;
    for seg in parent.split('.').filter(|s| !s.is_empty()) {
        match cur.get_mut(seg) {
            Some(Value::Mapping(m)) => cur = m,
            _ => return,
        }
    }
    cur.insert(key.into(), Value::Mapping(args));
}

fn sort_keys(value: Value) -> Value {
    match value {
        Value::Mapping(map) => {
            let mut entries: Vec<(Value, Value)> =
                map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            entries.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
            Value::Mapping(entries.into_iter().collect())
        }
        Value::Sequence(seq) => Value::Sequence(seq.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// `kubestrap config print init-defaults`: kubeadm's placeholders, the newest supported version.
pub fn print_init_defaults(api_version: ApiVersion) -> Result<String> {
    let mut init = InitConfiguration::default();
    init.bootstrap_tokens = vec![BootstrapToken {
        token: Some("abcdef.0123456789abcdef".into()),
        ..BootstrapToken::default()
    }];
    init.local_api_endpoint.advertise_address = Some("1.2.3.4".into());
    init.node_registration.name = Some("node".into());
    init.node_registration.cri_socket = Some("unix:///var/run/containerd/containerd.sock".into());
    let cluster = ClusterConfiguration {
        kubernetes_version: Some(format!("1.{}.0", version::NEWEST_MINOR)),
        ..ClusterConfiguration::default()
    };
    to_yaml(api_version, &init, &cluster)
}

/// `kubestrap config print join-defaults`: kubeadm's placeholders.
pub fn print_join_defaults(api_version: ApiVersion) -> Result<String> {
    use super::join::{BootstrapTokenDiscovery, JoinConfiguration};
    let mut join = JoinConfiguration::default();
    join.ca_cert_path = Some(format!("{}/ca.crt", crate::fs::paths::DEFAULT_CERT_DIR));
    join.discovery.bootstrap_token = Some(BootstrapTokenDiscovery {
        token: "abcdef.0123456789abcdef".into(),
        api_server_endpoint: Some("kube-apiserver:6443".into()),
        ca_cert_hashes: Vec::new(),
        unsafe_skip_ca_verification: true,
    });
    join.discovery.tls_bootstrap_token = Some("abcdef.0123456789abcdef".into());
    join.node_registration.name = Some("node".into());
    join.node_registration.cri_socket = Some("unix:///var/run/containerd/containerd.sock".into());
    match api_version {
        ApiVersion::V1Beta3 => join.discovery.timeout = Some("5m0s".into()),
        ApiVersion::V1Beta4 => join.timeouts = Some(super::Timeouts::default()),
    }
    document(
        api_version,
        "JoinConfiguration",
        &join,
        &InitConfiguration::default(),
    )
}

/// `kubestrap config print reset-defaults` (ResetConfiguration exists from v1beta4).
pub fn print_reset_defaults() -> Result<String> {
    let mut reset = super::reset::ResetConfiguration::default();
    reset.cri_socket = Some("unix:///var/run/containerd/containerd.sock".into());
    document(
        ApiVersion::V1Beta4,
        "ResetConfiguration",
        &reset,
        &InitConfiguration::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1beta4_defaults_match_kubeadm_layout() {
        let text = print_init_defaults(ApiVersion::V1Beta4).unwrap();
        let expected_init = "\
apiVersion: kubeadm.k8s.io/v1beta4
bootstrapTokens:
- groups:
  - system:bootstrappers:kubeadm:default-node-token
  token: abcdef.0123456789abcdef
  ttl: 24h0m0s
  usages:
  - signing
  - authentication
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 1.2.3.4
  bindPort: 6443
nodeRegistration:
  criSocket: unix:///var/run/containerd/containerd.sock
  imagePullPolicy: IfNotPresent
  imagePullSerial: true
  name: node
  taints: null
timeouts:
  controlPlaneComponentHealthCheck: 4m0s
  discovery: 5m0s
  etcdAPICall: 2m0s
  kubeletHealthCheck: 4m0s
  kubernetesAPICall: 1m0s
  tlsBootstrap: 5m0s
  upgradeManifests: 5m0s
---
";
        assert!(text.starts_with(expected_init), "{text}");
        assert!(text.contains("encryptionAlgorithm: RSA-2048\n"), "{text}");
        assert!(
            text.contains("caCertificateValidityPeriod: 87600h0m0s\n"),
            "{text}"
        );
        assert!(text.contains("proxy: {}\n"), "{text}");
        assert!(!text.contains("timeoutForControlPlane"), "{text}");
    }

    #[test]
    fn v1beta3_drops_new_fields_and_writes_maps() {
        let mut cluster = ClusterConfiguration::default();
        cluster.api_server.extra_args.args.push(super::super::Arg {
            name: "runtime-config".into(),
            value: "api/all=true".into(),
        });
        let text = to_yaml(ApiVersion::V1Beta3, &InitConfiguration::default(), &cluster).unwrap();
        assert!(text.contains("apiServer:\n  extraArgs:\n    runtime-config: api/all=true\n  timeoutForControlPlane: 4m0s\n"), "{text}");
        for gone in [
            "encryptionAlgorithm",
            "timeouts:",
            "imagePullSerial",
            "proxy:",
        ] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
    }
}
