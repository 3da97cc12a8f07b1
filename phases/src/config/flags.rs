//! Component command lines: kubeadm's defaults merged with the user's `extraArgs`, and the table of
//! flags that Kubernetes removed, so a config that still uses one is refused before anything is written.

use crate::config::{ClusterConfiguration, ExtraArgs, InitConfiguration, Problem};
use crate::version::KubeVersion;

/// A binary kubeadm configures with flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    ApiServer,
    ControllerManager,
    Scheduler,
    Kubelet,
    Etcd,
}

impl Component {
    /// The binary's name.
    pub fn binary(self) -> &'static str {
        match self {
            Component::ApiServer => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
            Component::Kubelet => "kubelet",
            Component::Etcd => "etcd",
        }
    }

    /// The kind of document that holds its flags.
    pub fn kind(self) -> &'static str {
        match self {
            Component::Kubelet => "InitConfiguration",
            _ => "ClusterConfiguration",
        }
    }

    /// Where the config file sets this component's extra flags.
    pub fn field(self) -> &'static str {
        match self {
            Component::ApiServer => "apiServer.extraArgs",
            Component::ControllerManager => "controllerManager.extraArgs",
            Component::Scheduler => "scheduler.extraArgs",
            Component::Kubelet => "nodeRegistration.kubeletExtraArgs",
            Component::Etcd => "etcd.local.extraArgs",
        }
    }
}

/// Merges kubeadm's default flags with the user's: a user argument replaces every default of the
/// same name, repeated user arguments are all kept, and the result is sorted by name (stable, so
/// repeats keep the user's order). Returns `--name=value` strings.
pub fn merge(defaults: &[(&str, String)], user: &ExtraArgs) -> Vec<String> {
    let mut args: Vec<(&str, &str)> = defaults
        .iter()
        .filter(|(name, _)| !user.args.iter().any(|a| a.name == *name))
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    args.extend(
        user.args
            .iter()
            .map(|a| (a.name.as_str(), a.value.as_str())),
    );
    args.sort_by(|a, b| a.0.cmp(b.0));
    args.into_iter()
        .map(|(name, value)| format!("--{name}={value}"))
        .collect()
}

/// The last value the user gave for a flag, if any.
pub fn user_value<'a>(user: &'a ExtraArgs, name: &str) -> Option<&'a str> {
    user.args
        .iter()
        .rev()
        .find(|a| a.name == name)
        .map(|a| a.value.as_str())
}

/// A flag a component no longer accepts from some release on.
#[derive(Debug, Clone, Copy)]
pub struct RemovedFlag {
    pub component: Component,
    /// Without the leading `--`.
    pub flag: &'static str,
    /// The first minor release (`1.<minor>`) whose binary refuses the flag.
    pub removed_in: u32,
    /// Where the removal is recorded.
    pub source: &'static str,
    /// What to do instead.
    pub instead: &'static str,
}

const fn removed(
    component: Component,
    flag: &'static str,
    removed_in: u32,
    source: &'static str,
    instead: &'static str,
) -> RemovedFlag {
    RemovedFlag {
        component,
        flag,
        removed_in,
        source,
        instead,
    }
}

const DROP: &str = "remove it";
const INSECURE: &str = "remove it; the component serves only over TLS on its secure port";
const POLICY: &str = "remove it and describe the scheduling profile in a KubeSchedulerConfiguration file (`--config`)";
const DOCKERSHIM: &str = "remove it; the dockershim is gone, so the container runtime (containerd, CRI-O) configures networking and images";

use Component::{ApiServer, ControllerManager, Kubelet, Scheduler};

/// Flags removed from the components kubeadm configures, with the release that removed them.
/// Releases before v1.20 count as 1.20: no supported version accepts those flags.
pub static REMOVED_FLAGS: &[RemovedFlag] = &[
    removed(
        ApiServer,
        "insecure-port",
        24,
        "kubernetes/kubernetes#95856 (inert since 1.20, removal in 1.24); CHANGELOG-1.24",
        INSECURE,
    ),
    removed(
        ApiServer,
        "insecure-bind-address",
        24,
        "kubernetes/kubernetes#95856; CHANGELOG-1.24",
        INSECURE,
    ),
    removed(
        ApiServer,
        "address",
        24,
        "kubernetes/kubernetes#95856; CHANGELOG-1.24",
        "use `--bind-address`",
    ),
    removed(
        ApiServer,
        "port",
        24,
        "kubernetes/kubernetes#95856; CHANGELOG-1.24",
        "use `--secure-port`",
    ),
    removed(
        ApiServer,
        "basic-auth-file",
        20,
        "removed in v1.19 (CHANGELOG-1.19, basic authentication removal); absent from v1.20 kube-apiserver",
        "use client certificates, bootstrap tokens or an authentication webhook",
    ),
    removed(
        ControllerManager,
        "horizontal-pod-autoscaler-use-rest-clients",
        21,
        "kubernetes/kubernetes#90368 (deprecated since 1.12; still present, inert, in v1.20)",
        "remove it; the autoscaler always uses the metrics APIs",
    ),
    removed(
        ControllerManager,
        "horizontal-pod-autoscaler-upscale-delay",
        31,
        "kubernetes/kubernetes#124948",
        DROP,
    ),
    removed(
        ControllerManager,
        "horizontal-pod-autoscaler-downscale-delay",
        31,
        "kubernetes/kubernetes#124948",
        "use `--horizontal-pod-autoscaler-downscale-stabilization`",
    ),
    removed(
        ControllerManager,
        "address",
        24,
        "CHANGELOG-1.24 (insecure serving removed in 1.22, kubernetes/kubernetes#96216)",
        "use `--bind-address`",
    ),
    removed(
        ControllerManager,
        "port",
        24,
        "CHANGELOG-1.24 (insecure serving removed in 1.22, kubernetes/kubernetes#96216)",
        "use `--secure-port`",
    ),
    removed(
        ControllerManager,
        "experimental-cluster-signing-duration",
        25,
        "CHANGELOG-1.25 (deprecated in 1.19 in favour of `--cluster-signing-duration`)",
        "use `--cluster-signing-duration`",
    ),
    removed(
        ControllerManager,
        "pod-eviction-timeout",
        27,
        "CHANGELOG-1.27 (taint-based eviction only)",
        "set `tolerationSeconds` on pods instead",
    ),
    removed(
        ControllerManager,
        "enable-taint-manager",
        27,
        "CHANGELOG-1.27 (taint-based eviction only)",
        DROP,
    ),
    removed(
        Scheduler,
        "policy-config-file",
        23,
        "CHANGELOG-1.23 (scheduler Policy API removed)",
        POLICY,
    ),
    removed(
        Scheduler,
        "policy-configmap",
        23,
        "CHANGELOG-1.23 (scheduler Policy API removed)",
        POLICY,
    ),
    removed(
        Scheduler,
        "policy-configmap-namespace",
        23,
        "CHANGELOG-1.23 (scheduler Policy API removed)",
        POLICY,
    ),
    removed(
        Scheduler,
        "use-legacy-policy-config",
        23,
        "CHANGELOG-1.23 (scheduler Policy API removed)",
        POLICY,
    ),
    removed(
        Scheduler,
        "algorithm-provider",
        23,
        "CHANGELOG-1.23 (scheduler Policy API removed)",
        POLICY,
    ),
    removed(
        Kubelet,
        "network-plugin",
        24,
        "dockershim removal, KEP-2221 / CHANGELOG-1.24",
        DOCKERSHIM,
    ),
    removed(
        Kubelet,
        "cni-bin-dir",
        24,
        "dockershim removal, KEP-2221 / CHANGELOG-1.24",
        DOCKERSHIM,
    ),
    removed(
        Kubelet,
        "cni-conf-dir",
        24,
        "dockershim removal, KEP-2221 / CHANGELOG-1.24",
        DOCKERSHIM,
    ),
    removed(
        Kubelet,
        "docker-endpoint",
        24,
        "dockershim removal, KEP-2221 / CHANGELOG-1.24",
        DOCKERSHIM,
    ),
    removed(
        Kubelet,
        "image-pull-progress-deadline",
        24,
        "dockershim removal, KEP-2221 / CHANGELOG-1.24",
        DOCKERSHIM,
    ),
    removed(
        Kubelet,
        "dynamic-config-dir",
        24,
        "DynamicKubeletConfig removed from the kubelet, CHANGELOG-1.24",
        "remove it and set the kubelet's settings in the KubeletConfiguration document",
    ),
    removed(
        Kubelet,
        "container-runtime",
        27,
        "CHANGELOG-1.27 (deprecated in 1.24; `remote` was the only value); kubernetes/kubeadm#2626",
        "remove it; `--container-runtime-endpoint` (or `nodeRegistration.criSocket`) is enough",
    ),
    removed(
        Kubelet,
        "pod-infra-container-image",
        35,
        "kubernetes/kubernetes#133778 (kubeadm stops passing it) and the kubelet removal in 1.35; kubernetes/kubeadm#3108",
        "remove it and set the sandbox (pause) image in the container runtime's configuration",
    ),
];

/// The extraArgs of each component the documents configure.
pub fn sections<'a>(
    init: &'a InitConfiguration,
    cluster: &'a ClusterConfiguration,
) -> Vec<(Component, &'a ExtraArgs)> {
    let mut sections = vec![
        (Component::ApiServer, &cluster.api_server.extra_args),
        (
            Component::ControllerManager,
            &cluster.controller_manager.extra_args,
        ),
        (Component::Scheduler, &cluster.scheduler.extra_args),
        (
            Component::Kubelet,
            &init.node_registration.kubelet_extra_args,
        ),
    ];
    if let Some(local) = &cluster.etcd.local {
        sections.push((Component::Etcd, &local.extra_args));
    }
    sections
}

/// Where the `i`th argument is: a map key in v1beta3, a list item in v1beta4.
pub fn arg_path(component: Component, args: &ExtraArgs, i: usize) -> String {
    if args.from_map {
        format!("{}.{}", component.field(), args.args[i].name)
    } else {
        format!("{}[{i}]", component.field())
    }
}

/// Every extraArgs flag of `cfg` that its Kubernetes version no longer accepts, one message each.
pub fn removed_flag_problems(
    init: &InitConfiguration,
    cluster: &ClusterConfiguration,
    version: KubeVersion,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (component, args) in sections(init, cluster) {
        for (i, arg) in args.args.iter().enumerate() {
            if let Some(r) = removed_flag(component, &arg.name, version) {
                problems.push(Problem::new(
                    component.kind(),
                    arg_path(component, args, i),
                    format!(
                        "flag `--{}` was removed from {} in v1.{} ({}), so Kubernetes {} refuses it and the component would crash-loop; {} in `{}`",
                        r.flag,
                        component.binary(),
                        r.removed_in,
                        r.source,
                        version,
                        r.instead,
                        component.field(),
                    ),
                ));
            }
        }
    }
    problems
}

/// The table entry for `flag` of `component` when `version` no longer has it.
pub fn removed_flag(component: Component, flag: &str, version: KubeVersion) -> Option<RemovedFlag> {
    REMOVED_FLAGS
        .iter()
        .find(|r| r.component == component && r.flag == flag && version.at_least(r.removed_in))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Arg;

    fn args(pairs: &[(&str, &str)]) -> ExtraArgs {
        ExtraArgs {
            args: pairs
                .iter()
                .map(|(n, v)| Arg {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            from_map: false,
        }
    }

    #[test]
    fn user_args_replace_defaults_and_repeat() {
        let defaults = [
            ("secure-port", "6443".to_string()),
            ("allow-privileged", "true".to_string()),
            ("enable-admission-plugins", "NodeRestriction".to_string()),
        ];
        let user = args(&[
            ("runtime-config", "api/all=true"),
            ("enable-admission-plugins", "A"),
            ("enable-admission-plugins", "B"),
        ]);
        assert_eq!(
            merge(&defaults, &user),
            [
                "--allow-privileged=true",
                "--enable-admission-plugins=A",
                "--enable-admission-plugins=B",
                "--runtime-config=api/all=true",
                "--secure-port=6443",
            ]
        );
        assert_eq!(user_value(&user, "enable-admission-plugins"), Some("B"));
    }

    #[test]
    fn the_table_is_large_and_sourced() {
        assert!(REMOVED_FLAGS.len() >= 20);
        for component in [
            Component::ApiServer,
            Component::ControllerManager,
            Component::Scheduler,
            Component::Kubelet,
        ] {
            assert!(REMOVED_FLAGS.iter().any(|r| r.component == component));
        }
        for r in REMOVED_FLAGS {
            assert!(!r.source.is_empty() && !r.instead.is_empty(), "{}", r.flag);
            assert!(!r.flag.starts_with('-'), "{}", r.flag);
        }
    }

    #[test]
    fn removal_depends_on_the_version() {
        let v = |s| KubeVersion::parse(s).unwrap();
        assert!(removed_flag(Component::ApiServer, "insecure-port", v("v1.23.5")).is_none());
        assert!(removed_flag(Component::ApiServer, "insecure-port", v("v1.24.0")).is_some());
        assert!(
            removed_flag(
                Component::ControllerManager,
                "horizontal-pod-autoscaler-use-rest-clients",
                v("v1.20.2")
            )
            .is_none()
        );
        assert!(
            removed_flag(
                Component::ControllerManager,
                "horizontal-pod-autoscaler-use-rest-clients",
                v("v1.25.0")
            )
            .is_some()
        );
        assert!(removed_flag(Component::Scheduler, "insecure-port", v("v1.30.0")).is_none());
    }
}
