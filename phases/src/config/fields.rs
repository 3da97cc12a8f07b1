//! Every field of the configuration kinds kubestrap reads, and what becomes of it: used by a
//! phase, or not (yet) and said so when a file sets it. A test enumerates the fields of the types
//! and fails on one this table does not name, so no field is ever accepted and then ignored.

use serde::Serialize;
use serde_json::Value;

use super::{ClusterConfiguration, InitConfiguration};

/// What kubestrap does with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A phase reads it (where, for the reader of this table).
    Used(&'static str),
    /// Accepted, without effect: a warning says why when the file sets it to anything but its
    /// default.
    NoEffect(&'static str),
    /// Refused with an error when set (see the named check).
    Refused(&'static str),
}

/// The fields of each kind (paths as in the file; a path covers the fields below it).
pub const FIELDS: &[(&str, &str, Use)] = &[
    (
        "InitConfiguration",
        "bootstrapTokens",
        Use::Used("bootstrap-token phase"),
    ),
    (
        "InitConfiguration",
        "nodeRegistration.name",
        Use::Used("resolve: node name"),
    ),
    (
        "InitConfiguration",
        "nodeRegistration.criSocket",
        Use::Used("resolve: CRI socket"),
    ),
    (
        "InitConfiguration",
        "nodeRegistration.taints",
        Use::Used("mark-control-plane"),
    ),
    (
        "InitConfiguration",
        "nodeRegistration.kubeletExtraArgs",
        Use::Used("kubelet-start: kubeadm-flags.env"),
    ),
    (
        "InitConfiguration",
        "nodeRegistration.ignorePreflightErrors",
        Use::Used("preflight"),
    ),
    (
        "InitConfiguration",
        "nodeRegistration.imagePullPolicy",
        Use::Used("preflight ImagePull, config images pull"),
    ),
    (
        "InitConfiguration",
        "nodeRegistration.imagePullSerial",
        Use::NoEffect("kubestrap pulls one image at a time"),
    ),
    (
        "InitConfiguration",
        "localAPIEndpoint",
        Use::Used("resolve: advertise address and port"),
    ),
    (
        "InitConfiguration",
        "certificateKey",
        Use::Used("upload-certs, show-join-command"),
    ),
    ("InitConfiguration", "skipPhases", Use::Used("runner::plan")),
    ("InitConfiguration", "patches", Use::Used("render::patches")),
    (
        "InitConfiguration",
        "dryRun",
        Use::Used("init: a dry-run root"),
    ),
    (
        "InitConfiguration",
        "timeouts.controlPlaneComponentHealthCheck",
        Use::Used("wait-control-plane"),
    ),
    (
        "InitConfiguration",
        "timeouts.kubeletHealthCheck",
        Use::Used("wait-control-plane, mark-control-plane"),
    ),
    (
        "InitConfiguration",
        "timeouts.kubernetesAPICall",
        Use::Used("api::client retries"),
    ),
    (
        "InitConfiguration",
        "timeouts.discovery",
        Use::NoEffect("init discovers no cluster; it is a JoinConfiguration setting"),
    ),
    (
        "InitConfiguration",
        "timeouts.tlsBootstrap",
        Use::NoEffect("init has no TLS bootstrap; it is a JoinConfiguration setting"),
    ),
    (
        "InitConfiguration",
        "timeouts.etcdAPICall",
        Use::NoEffect("kubestrap init makes no etcd API calls"),
    ),
    (
        "InitConfiguration",
        "timeouts.upgradeManifests",
        Use::NoEffect(
            "init upgrades no manifests; `kubestrap upgrade` takes it from an UpgradeConfiguration",
        ),
    ),
    (
        "ClusterConfiguration",
        "etcd.local",
        Use::Used("etcd phase, certs"),
    ),
    (
        "ClusterConfiguration",
        "etcd.external",
        Use::Used("control-plane (apiserver flags and volumes), preflight"),
    ),
    (
        "ClusterConfiguration",
        "networking",
        Use::Used("certs, control-plane, kubelet-start, addons"),
    ),
    (
        "ClusterConfiguration",
        "kubernetesVersion",
        Use::Used("resolve: the version"),
    ),
    (
        "ClusterConfiguration",
        "controlPlaneEndpoint",
        Use::Used("certs, kubeconfig"),
    ),
    (
        "ClusterConfiguration",
        "apiServer",
        Use::Used("control-plane apiserver, certs, wait-control-plane"),
    ),
    (
        "ClusterConfiguration",
        "controllerManager",
        Use::Used("control-plane controller-manager"),
    ),
    (
        "ClusterConfiguration",
        "scheduler",
        Use::Used("control-plane scheduler"),
    ),
    (
        "ClusterConfiguration",
        "dns",
        Use::Used("addon/coredns, images"),
    ),
    (
        "ClusterConfiguration",
        "proxy",
        Use::Used("addon/kube-proxy, images"),
    ),
    (
        "ClusterConfiguration",
        "certificatesDir",
        Use::Used("certs and every reader of them"),
    ),
    (
        "ClusterConfiguration",
        "imageRepository",
        Use::Used("images"),
    ),
    (
        "ClusterConfiguration",
        "featureGates",
        Use::Used("PublicKeysECDSA in certs; any other gate set is warned about"),
    ),
    (
        "ClusterConfiguration",
        "clusterName",
        Use::Used("kubeconfig, controller-manager"),
    ),
    (
        "ClusterConfiguration",
        "encryptionAlgorithm",
        Use::Used("certs"),
    ),
    (
        "ClusterConfiguration",
        "certificateValidityPeriod",
        Use::Used("certs"),
    ),
    (
        "ClusterConfiguration",
        "caCertificateValidityPeriod",
        Use::Used("certs"),
    ),
    (
        "JoinConfiguration",
        "nodeRegistration.name",
        Use::Used("resolve_join: node name"),
    ),
    (
        "JoinConfiguration",
        "nodeRegistration.criSocket",
        Use::Used("resolve_join: CRI socket"),
    ),
    (
        "JoinConfiguration",
        "nodeRegistration.taints",
        Use::Used("kubelet-start: --register-with-taints"),
    ),
    (
        "JoinConfiguration",
        "nodeRegistration.kubeletExtraArgs",
        Use::Used("kubelet-start: kubeadm-flags.env"),
    ),
    (
        "JoinConfiguration",
        "nodeRegistration.ignorePreflightErrors",
        Use::Used("preflight"),
    ),
    (
        "JoinConfiguration",
        "nodeRegistration.imagePullPolicy",
        Use::NoEffect("a worker's join pulls no images"),
    ),
    (
        "JoinConfiguration",
        "nodeRegistration.imagePullSerial",
        Use::NoEffect("a worker's join pulls no images"),
    ),
    (
        "JoinConfiguration",
        "caCertPath",
        Use::Used("discovery: where the CA is written"),
    ),
    (
        "JoinConfiguration",
        "discovery",
        Use::Used("discovery, tls-bootstrap"),
    ),
    (
        "JoinConfiguration",
        "controlPlane",
        Use::Refused("resolve_join: joining a control-plane node"),
    ),
    ("JoinConfiguration", "skipPhases", Use::Used("runner::plan")),
    (
        "JoinConfiguration",
        "patches",
        Use::Refused("resolve_join: patches on join"),
    ),
    (
        "JoinConfiguration",
        "dryRun",
        Use::Used("join: a dry-run root"),
    ),
    (
        "JoinConfiguration",
        "timeouts.discovery",
        Use::Used("discovery"),
    ),
    (
        "JoinConfiguration",
        "timeouts.tlsBootstrap",
        Use::Used("tls-bootstrap"),
    ),
    (
        "JoinConfiguration",
        "timeouts.kubeletHealthCheck",
        Use::NoEffect(
            "kubestrap's join waits for the TLS bootstrap (timeouts.tlsBootstrap), not for the kubelet's health endpoint",
        ),
    ),
    (
        "JoinConfiguration",
        "timeouts.kubernetesAPICall",
        Use::Used("api::client retries"),
    ),
    (
        "JoinConfiguration",
        "timeouts.controlPlaneComponentHealthCheck",
        Use::NoEffect("a worker runs no control plane"),
    ),
    (
        "JoinConfiguration",
        "timeouts.etcdAPICall",
        Use::NoEffect("a worker's join makes no etcd API calls"),
    ),
    (
        "JoinConfiguration",
        "timeouts.upgradeManifests",
        Use::NoEffect(
            "join upgrades no manifests; `kubestrap upgrade` takes it from an UpgradeConfiguration",
        ),
    ),
    (
        "UpgradeConfiguration",
        "apply.kubernetesVersion",
        Use::Used("upgrade apply: the target version"),
    ),
    (
        "UpgradeConfiguration",
        "apply.allowExperimentalUpgrades",
        Use::Used("upgrade apply: version::skew::unstable"),
    ),
    (
        "UpgradeConfiguration",
        "apply.allowRCUpgrades",
        Use::Used("upgrade apply: version::skew::unstable"),
    ),
    (
        "UpgradeConfiguration",
        "apply.certificateRenewal",
        Use::Used("upgrade apply: certificate renewal"),
    ),
    (
        "UpgradeConfiguration",
        "apply.dryRun",
        Use::Used("upgrade apply: a dry-run root"),
    ),
    (
        "UpgradeConfiguration",
        "apply.etcdUpgrade",
        Use::Used("upgrade apply: the etcd step"),
    ),
    (
        "UpgradeConfiguration",
        "apply.forceUpgrade",
        Use::Used("upgrade apply: skippable skew violations, no prompt"),
    ),
    (
        "UpgradeConfiguration",
        "apply.ignorePreflightErrors",
        Use::Used("upgrade apply: preflight"),
    ),
    (
        "UpgradeConfiguration",
        "apply.patches",
        Use::Used("upgrade apply: render::patches"),
    ),
    (
        "UpgradeConfiguration",
        "apply.skipPhases",
        Use::Used("upgrade apply: runner::plan"),
    ),
    (
        "UpgradeConfiguration",
        "apply.imagePullPolicy",
        Use::Used("upgrade apply: image pull"),
    ),
    (
        "UpgradeConfiguration",
        "apply.imagePullSerial",
        Use::Used("upgrade apply: image pull"),
    ),
    (
        "UpgradeConfiguration",
        "apply.printConfig",
        Use::NoEffect(
            "`kubestrap upgrade apply` does not print the configuration; `upgrade plan` does with `plan.printConfig`",
        ),
    ),
    (
        "UpgradeConfiguration",
        "node.certificateRenewal",
        Use::Used("upgrade node: certificate renewal"),
    ),
    (
        "UpgradeConfiguration",
        "node.dryRun",
        Use::Used("upgrade node: a dry-run root"),
    ),
    (
        "UpgradeConfiguration",
        "node.etcdUpgrade",
        Use::Used("upgrade node: the etcd step"),
    ),
    (
        "UpgradeConfiguration",
        "node.ignorePreflightErrors",
        Use::Used("upgrade node: preflight"),
    ),
    (
        "UpgradeConfiguration",
        "node.patches",
        Use::Used("upgrade node: render::patches"),
    ),
    (
        "UpgradeConfiguration",
        "node.skipPhases",
        Use::Used("upgrade node: runner::plan"),
    ),
    (
        "UpgradeConfiguration",
        "node.imagePullPolicy",
        Use::Used("upgrade node: image pull"),
    ),
    (
        "UpgradeConfiguration",
        "node.imagePullSerial",
        Use::Used("upgrade node: image pull"),
    ),
    (
        "UpgradeConfiguration",
        "plan.kubernetesVersion",
        Use::Used("upgrade plan: the target version"),
    ),
    (
        "UpgradeConfiguration",
        "plan.allowExperimentalUpgrades",
        Use::Used("upgrade plan: version::skew::unstable"),
    ),
    (
        "UpgradeConfiguration",
        "plan.allowRCUpgrades",
        Use::Used("upgrade plan: version::skew::unstable"),
    ),
    (
        "UpgradeConfiguration",
        "plan.ignorePreflightErrors",
        Use::Used("upgrade plan: preflight"),
    ),
    (
        "UpgradeConfiguration",
        "plan.printConfig",
        Use::Used("upgrade plan: prints the configuration"),
    ),
    (
        "UpgradeConfiguration",
        "plan.dryRun",
        Use::NoEffect("`upgrade plan` changes nothing, so it has no dry run"),
    ),
    (
        "UpgradeConfiguration",
        "diff.kubernetesVersion",
        Use::Used("upgrade diff: the target version"),
    ),
    (
        "UpgradeConfiguration",
        "diff.contextLines",
        Use::Used("upgrade diff: lines of context"),
    ),
    (
        "UpgradeConfiguration",
        "timeouts.upgradeManifests",
        Use::Used("upgrade apply and node: the wait for each new static pod"),
    ),
    (
        "UpgradeConfiguration",
        "timeouts.controlPlaneComponentHealthCheck",
        Use::NoEffect("the upgrade waits for each component within `timeouts.upgradeManifests`"),
    ),
    (
        "UpgradeConfiguration",
        "timeouts.kubeletHealthCheck",
        Use::NoEffect("the upgrade waits for each component within `timeouts.upgradeManifests`"),
    ),
    (
        "UpgradeConfiguration",
        "timeouts.kubernetesAPICall",
        Use::NoEffect("the upgrade's API calls keep kubestrap's own limits"),
    ),
    (
        "UpgradeConfiguration",
        "timeouts.etcdAPICall",
        Use::NoEffect("the upgrade's etcd calls keep kubestrap's own limits"),
    ),
    (
        "UpgradeConfiguration",
        "timeouts.discovery",
        Use::NoEffect("an upgrade discovers no cluster; it is a JoinConfiguration setting"),
    ),
    (
        "UpgradeConfiguration",
        "timeouts.tlsBootstrap",
        Use::NoEffect("an upgrade does no TLS bootstrap; it is a JoinConfiguration setting"),
    ),
];

/// The feature gate kubestrap acts on; the others keep the version's default.
const HONOURED_GATES: &[&str] = &["PublicKeysECDSA"];

fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// Warnings for the fields of `kind` set (away from `default`) that have no effect.
pub fn no_effect<T: Serialize>(kind: &str, value: &T, default: &T) -> Vec<String> {
    no_effect_fields(kind, value, default)
        .into_iter()
        .map(|(path, why)| format!("`{path}` in the {kind} has no effect: {why}"))
        .collect()
}

/// The fields of `kind` set (away from `default`) that have no effect, as (path, why).
pub fn no_effect_fields<T: Serialize>(
    kind: &str,
    value: &T,
    default: &T,
) -> Vec<(&'static str, &'static str)> {
    let (Ok(value), Ok(default)) = (serde_json::to_value(value), serde_json::to_value(default))
    else {
        return Vec::new();
    };
    FIELDS
        .iter()
        .filter(|(k, _, _)| *k == kind)
        .filter_map(|(_, path, u)| match u {
            Use::NoEffect(why) if at(&value, path) != at(&default, path) => Some((*path, *why)),
            _ => None,
        })
        .collect()
}

/// Whole documents of a file that a command does not use, one warning each.
pub fn unused_documents(docs: &super::Documents, join: bool) -> Vec<String> {
    let mut out = Vec::new();
    if docs.upgrade.is_some() {
        out.push("the UpgradeConfiguration document has no effect here: `kubestrap upgrade --config` reads it".to_string());
    }
    if docs.reset.is_some() {
        out.push("the ResetConfiguration document has no effect here: `kubestrap reset --config` reads it".to_string());
    }
    if join {
        for (present, kind) in [
            (docs.kubelet.is_some(), "KubeletConfiguration"),
            (docs.kube_proxy.is_some(), "KubeProxyConfiguration"),
        ] {
            if present {
                out.push(format!("the {kind} document has no effect on join: a joining node takes the cluster's (uploaded by init)"));
            }
        }
        if docs.has_init_kinds {
            out.push("the InitConfiguration and ClusterConfiguration documents have no effect on join: the cluster's configuration applies".to_string());
        }
    }
    out
}

/// What an init's documents set without effect, one warning each.
pub fn init_warnings(init: &InitConfiguration, cluster: &ClusterConfiguration) -> Vec<String> {
    let mut out = no_effect("InitConfiguration", init, &InitConfiguration::default());
    for gate in cluster.feature_gates.keys() {
        if !HONOURED_GATES.contains(&gate.as_str()) {
            out.push(format!(
                "`featureGates.{gate}` in the ClusterConfiguration has no effect yet: kubestrap does what this Kubernetes version's kubeadm does by default"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::join::{
        BootstrapTokenDiscovery, DiscoverySection, FileDiscovery, JoinConfiguration,
        JoinControlPlane, join_warnings,
    };
    use super::super::upgrade::{
        ApplySection, DiffSection, NodeSection, PlanSection, UpgradeConfiguration, UpgradeTimeouts,
    };
    use super::super::{
        ApiEndpoint, ApiServer, BootstrapToken, ControlPlaneComponent, Dns, EnvVar, Etcd,
        ExternalEtcd, HostPathMount, LocalEtcd, Networking, NodeRegistration, Patches, Proxy,
        Taint, Timeouts,
    };
    use super::*;
    use serde::de::DeserializeOwned;

    /// The field names a type accepts, from its own refusal of an unknown one.
    fn fields_of<T: DeserializeOwned>() -> Vec<String> {
        let probe = serde_json::json!({"zzzNotAField": 1});
        let err = serde_json::from_value::<T>(probe)
            .err()
            .expect("the type accepts unknown fields")
            .to_string();
        let (_, expected) = err
            .split_once("expected")
            .unwrap_or_else(|| panic!("{err}"));
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// Every struct of the three kinds, with the path it sits at.
    fn all_fields() -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut add = |kind: &'static str, prefix: &str, names: Vec<String>| {
            for name in names {
                if name != "apiVersion" && name != "kind" {
                    let path = if prefix.is_empty() {
                        name
                    } else {
                        format!("{prefix}.{name}")
                    };
                    out.push((kind, path));
                }
            }
        };
        const I: &str = "InitConfiguration";
        const C: &str = "ClusterConfiguration";
        const J: &str = "JoinConfiguration";
        add(I, "", fields_of::<InitConfiguration>());
        add(I, "nodeRegistration", fields_of::<NodeRegistration>());
        add(I, "nodeRegistration.taints", fields_of::<Taint>());
        add(I, "localAPIEndpoint", fields_of::<ApiEndpoint>());
        add(I, "bootstrapTokens", fields_of::<BootstrapToken>());
        add(I, "patches", fields_of::<Patches>());
        add(I, "timeouts", fields_of::<Timeouts>());
        add(C, "", fields_of::<ClusterConfiguration>());
        add(C, "etcd", fields_of::<Etcd>());
        add(C, "etcd.local", fields_of::<LocalEtcd>());
        add(C, "etcd.local.extraEnvs", fields_of::<EnvVar>());
        add(C, "etcd.external", fields_of::<ExternalEtcd>());
        add(C, "networking", fields_of::<Networking>());
        add(C, "apiServer", fields_of::<ApiServer>());
        add(C, "apiServer.extraVolumes", fields_of::<HostPathMount>());
        add(C, "apiServer.extraEnvs", fields_of::<EnvVar>());
        for section in ["controllerManager", "scheduler"] {
            add(C, section, fields_of::<ControlPlaneComponent>());
            add(
                C,
                &format!("{section}.extraVolumes"),
                fields_of::<HostPathMount>(),
            );
            add(C, &format!("{section}.extraEnvs"), fields_of::<EnvVar>());
        }
        add(C, "dns", fields_of::<Dns>());
        add(C, "proxy", fields_of::<Proxy>());
        add(J, "", fields_of::<JoinConfiguration>());
        add(J, "nodeRegistration", fields_of::<NodeRegistration>());
        add(J, "nodeRegistration.taints", fields_of::<Taint>());
        add(J, "discovery", fields_of::<DiscoverySection>());
        add(
            J,
            "discovery.bootstrapToken",
            fields_of::<BootstrapTokenDiscovery>(),
        );
        add(J, "discovery.file", fields_of::<FileDiscovery>());
        add(J, "controlPlane", fields_of::<JoinControlPlane>());
        add(J, "patches", fields_of::<Patches>());
        add(J, "timeouts", fields_of::<Timeouts>());
        const U: &str = "UpgradeConfiguration";
        add(U, "", fields_of::<UpgradeConfiguration>());
        add(U, "apply", fields_of::<ApplySection>());
        add(U, "apply.patches", fields_of::<Patches>());
        add(U, "node", fields_of::<NodeSection>());
        add(U, "node.patches", fields_of::<Patches>());
        add(U, "plan", fields_of::<PlanSection>());
        add(U, "diff", fields_of::<DiffSection>());
        add(U, "timeouts", fields_of::<UpgradeTimeouts>());
        out
    }

    /// Named by an entry, or below one; a section is covered when its fields are listed (each
    /// of them is enumerated and checked on its own).
    fn covered(kind: &str, path: &str) -> bool {
        FIELDS.iter().any(|(k, p, _)| {
            *k == kind
                && (path == *p
                    || path.starts_with(&format!("{p}."))
                    || p.starts_with(&format!("{path}.")))
        })
    }

    #[test]
    fn every_field_of_the_types_is_used_or_said_to_have_no_effect() {
        let fields = all_fields();
        assert!(fields.len() > 80, "the probe found only {}", fields.len());
        let missing: Vec<String> = fields
            .iter()
            .filter(|(k, p)| !covered(k, p))
            .map(|(k, p)| format!("{k} {p}"))
            .collect();
        assert!(
            missing.is_empty(),
            "fields neither used nor listed in config::fields::FIELDS (say what uses them, or why they have no effect):\n  {}",
            missing.join("\n  ")
        );
        // And the table names no field the types do not have.
        for (kind, path, _) in FIELDS {
            assert!(
                fields
                    .iter()
                    .any(|(k, p)| k == kind && (p == path || p.starts_with(&format!("{path}.")))),
                "{kind} {path} is in the table but not in the types"
            );
        }
    }

    #[test]
    fn each_field_without_effect_is_warned_about_when_set() {
        assert_eq!(
            init_warnings(
                &InitConfiguration::default(),
                &ClusterConfiguration::default()
            ),
            Vec::<String>::new()
        );
        let mut init = InitConfiguration::default();
        init.node_registration.image_pull_serial = false;
        init.timeouts.etcd_api_call = "3m0s".into();
        init.timeouts.upgrade_manifests = "9m0s".into();
        init.timeouts.discovery = "1m0s".into();
        init.timeouts.tls_bootstrap = "1m0s".into();
        let mut cluster = ClusterConfiguration::default();
        cluster.feature_gates.insert("PublicKeysECDSA".into(), true);
        cluster.feature_gates.insert("EtcdLearnerMode".into(), true);
        let warnings = init_warnings(&init, &cluster);
        let init_no_effect = FIELDS
            .iter()
            .filter(|(k, _, u)| *k == "InitConfiguration" && matches!(u, Use::NoEffect(_)))
            .count();
        assert_eq!(warnings.len(), init_no_effect + 1, "{warnings:#?}");
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("featureGates.EtcdLearnerMode"))
        );
        assert!(!warnings.iter().any(|w| w.contains("PublicKeysECDSA")));

        assert_eq!(
            join_warnings(&JoinConfiguration::default()),
            Vec::<String>::new()
        );
        let mut join = JoinConfiguration::default();
        join.node_registration.image_pull_policy = "Always".into();
        join.node_registration.image_pull_serial = false;
        let mut t = Timeouts::default();
        t.control_plane_component_health_check = "1m0s".into();
        t.etcd_api_call = "1m0s".into();
        t.upgrade_manifests = "1m0s".into();
        t.discovery = "1m0s".into();
        join.timeouts = Some(t);
        let warnings = join_warnings(&join);
        assert_eq!(warnings.len(), 5, "{warnings:#?}");
        join.timeouts.as_mut().unwrap().kubelet_health_check = "1m0s".into();
        assert_eq!(join_warnings(&join).len(), 6);
        assert!(
            warnings[0].contains(
                "`nodeRegistration.imagePullPolicy` in the JoinConfiguration has no effect"
            )
        );
    }

    #[test]
    fn documents_a_command_does_not_use_are_named() {
        let text = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: 10.0.0.1:6443\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: UpgradeConfiguration\n---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n";
        let (docs, problems) = super::super::parse(text, "f.yaml");
        assert!(problems.is_empty(), "{problems:?}");
        let init = super::unused_documents(&docs, false);
        assert_eq!(init.len(), 1, "{init:?}");
        assert!(
            init[0].starts_with("the UpgradeConfiguration document has no effect here"),
            "{init:?}"
        );
        let join = super::unused_documents(&docs, true);
        assert_eq!(join.len(), 2, "{join:?}");
        assert!(join[1].starts_with("the KubeletConfiguration document has no effect on join"));
    }
}
