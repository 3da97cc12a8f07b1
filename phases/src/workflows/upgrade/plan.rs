//! `kubestrap upgrade plan [version]`: what the cluster runs and what an upgrade would make of
//! it, read from the cluster, never from the internet: without a version, the target is what
//! this machine offers (the installed kubelet's version, when newer than the cluster's).

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::api::{Api, ObjectRef, objects::ConfigMap};
use crate::config::InvalidConfig;
use crate::fs::root::Root;
use crate::host::LinuxHost;
use crate::phases::upgrade::{ClusterView, tag};
use crate::runner::report::Reporter;
use crate::version::{KubeVersion, images, skew};

/// What `upgrade plan` is asked.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub base: PathBuf,
    /// The version to plan for; without one, `plan.kubernetesVersion` of --config, else the
    /// newest this machine offers.
    pub version: Option<String>,
    /// `--config`: an UpgradeConfiguration (its `plan` section).
    pub config: Option<PathBuf>,
}

/// One row of a table: a component, what runs now and what the target runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub component: String,
    pub current: String,
    pub target: String,
}

/// A component configuration's API version as the cluster keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigRow {
    pub group: String,
    pub current: String,
    pub preferred: String,
    pub manual_upgrade_required: bool,
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradePlan {
    /// The API server's version.
    pub current: String,
    pub target: String,
    /// Where the target came from (`the command line`, `the installed kubelet`, …).
    pub target_source: String,
    /// The kubelets, per version: `2 x v1.20.2`.
    pub kubelets: Vec<Row>,
    pub components: Vec<Row>,
    /// Skew rules the target breaks (empty: none).
    pub violations: Vec<String>,
    pub command: String,
    pub component_configs: Vec<ConfigRow>,
    /// The cluster's ClusterConfiguration, with `plan.printConfig`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

/// Reads the cluster (admin.conf under the root) and makes the plan.
pub fn plan<R: Reporter>(opts: &PlanOptions, out: &R) -> Result<UpgradePlan> {
    let settings = match &opts.config {
        Some(path) => crate::config::upgrade::upgrade_settings(&crate::config::load_file(path)?)?,
        None => None,
    };
    let plan_settings = settings
        .as_ref()
        .map(|s| s.plan.clone())
        .unwrap_or_default();
    for warning in settings.iter().flat_map(|s| s.warnings.iter()) {
        out.warn("config", warning);
    }
    if plan_settings.ignore_preflight_errors.is_some() {
        out.warn(
            "config",
            "plan.ignorePreflightErrors has no effect: `upgrade plan` runs no pre-flight checks (it names every skew rule the target breaks instead)",
        );
    }
    let root = Root::new(&opts.base);
    let client = crate::api::client::admin(&root, crate::api::Retry::default())?;
    let api = client.with(out);
    let view = ClusterView::read(&api)?;
    let (target, source) = match (&opts.version, plan_settings.kubernetes_version) {
        (Some(v), _) => (
            KubeVersion::parse(v).map_err(|e| InvalidConfig(vec![format!("{e:#}")]))?,
            "the command line".to_string(),
        ),
        (None, Some(v)) => (v, "plan.kubernetesVersion of --config".to_string()),
        (None, None) => offline_target(&root, &view),
    };
    let mut made = make(&view, &api, target, source);
    made.violations.extend(
        skew::unstable(
            target,
            plan_settings.allow_experimental_upgrades.unwrap_or(false),
            plan_settings.allow_rc_upgrades.unwrap_or(false),
        )
        .map(|v| v.message),
    );
    if plan_settings.print_config == Some(true) {
        made.config = Some(crate::api::cluster_config::cluster_configuration_text(
            &api,
        )?);
    }
    Ok(made)
}

/// The newest version this machine offers without the internet: the installed kubelet's,
/// when newer than what the cluster runs; else the cluster's own.
fn offline_target(root: &Root, view: &ClusterView) -> (KubeVersion, String) {
    match crate::config::kubelet_version(root, &LinuxHost) {
        Some(v) if v > view.api_server => (v, "the installed kubelet".into()),
        _ => (
            view.api_server,
            "the cluster's own version (nothing newer is installed on this machine; name a version to plan for it)".into(),
        ),
    }
}

/// `3 x v1.20.2, 1 x v1.20.3` (kubeadm's count per version), or `v1.20.2` for one.
fn counted(versions: &[String]) -> String {
    let mut distinct: Vec<(String, usize)> = Vec::new();
    for v in versions {
        match distinct.iter_mut().find(|(d, _)| d == v) {
            Some((_, n)) => *n += 1,
            None => distinct.push((v.clone(), 1)),
        }
    }
    match distinct.as_slice() {
        [] => "none".into(),
        [(v, 1)] => v.clone(),
        many => many
            .iter()
            .map(|(v, n)| format!("{n} x {v}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The plan for `target` of the cluster `view` shows (`source`: where the target came from).
pub fn make(view: &ClusterView, api: &Api<'_>, target: KubeVersion, source: String) -> UpgradePlan {
    let cluster = &view.cluster;
    let kubelets: Vec<String> = view.nodes.iter().map(|n| n.kubelet.clone()).collect();
    let mut components = Vec::new();
    for component in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        let tags: Vec<String> = view
            .pods(component)
            .iter()
            .map(|p| tag(&p.image).to_string())
            .collect();
        components.push(Row {
            component: component.into(),
            current: counted(&tags),
            target: target.to_string(),
        });
    }
    components.push(Row {
        component: "kube-proxy".into(),
        current: view
            .kube_proxy
            .as_deref()
            .map(|i| tag(i).to_string())
            .unwrap_or_else(|| "not installed".into()),
        target: if view.kube_proxy.is_some() {
            target.to_string()
        } else {
            "not installed".into()
        },
    });
    let coredns_target = images::coredns(cluster, target);
    components.push(Row {
        component: "CoreDNS".into(),
        current: view
            .coredns
            .as_deref()
            .map(|i| tag(i).to_string())
            .unwrap_or_else(|| "not installed".into()),
        target: if view.coredns.is_some() {
            tag(&coredns_target).to_string()
        } else {
            "not installed (kept so)".into()
        },
    });
    if cluster.etcd.local.is_some() {
        let tags: Vec<String> = view
            .pods("etcd")
            .iter()
            .map(|p| tag(&p.image).to_string())
            .collect();
        let mut target_cluster = cluster.clone();
        target_cluster.kubernetes_version = Some(target.to_string());
        components.push(Row {
            component: "etcd".into(),
            current: counted(&tags),
            target: images::list(&target_cluster, target)
                .last()
                .map(|i| tag(i).to_string())
                .unwrap_or_default(),
        });
    }
    UpgradePlan {
        current: view.api_server.to_string(),
        target: target.to_string(),
        target_source: source,
        kubelets: vec![Row {
            component: "kubelet".into(),
            current: counted_all(&kubelets),
            target: target.to_string(),
        }],
        components,
        violations: skew::check(
            view.api_server,
            target,
            &view
                .nodes
                .iter()
                .filter_map(|n| KubeVersion::parse_any(&n.kubelet).ok())
                .collect::<Vec<_>>(),
        )
        .into_iter()
        .map(|v| v.message)
        .collect(),
        command: format!("kubestrap upgrade apply {target}"),
        config: None,
        component_configs: component_configs(
            api,
            &view.config_version.profile().kubelet_config_map(),
        ),
    }
}

/// kubeadm counts even one kubelet (`1 x v1.20.2`).
fn counted_all(versions: &[String]) -> String {
    let text = counted(versions);
    if versions.len() == 1 {
        format!("1 x {text}")
    } else {
        text
    }
}

/// The API versions of the kubelet's and kube-proxy's configurations the cluster keeps.
fn component_configs(api: &Api<'_>, kubelet_config_map: &str) -> Vec<ConfigRow> {
    let read = |name: &str, key: &str| -> Option<String> {
        let r = ObjectRef::new("v1", "ConfigMap", Some("kube-system"), name).ok()?;
        let cm = api.get::<ConfigMap>(&r).ok()??;
        let doc: serde_yaml::Value = serde_yaml::from_str(cm.data.get(key)?).ok()?;
        doc["apiVersion"]
            .as_str()
            .and_then(|v| v.rsplit('/').next())
            .map(str::to_string)
    };
    let mut rows = Vec::new();
    for (group, preferred, found) in [
        (
            "kubeproxy.config.k8s.io",
            "v1alpha1",
            read("kube-proxy", "config.conf"),
        ),
        (
            "kubelet.config.k8s.io",
            "v1beta1",
            read(kubelet_config_map, "kubelet"),
        ),
    ] {
        let current = found.unwrap_or_else(|| "-".into());
        rows.push(ConfigRow {
            group: group.into(),
            manual_upgrade_required: current != "-" && current != preferred,
            current,
            preferred: preferred.into(),
        });
    }
    rows
}

fn table(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i] + 3))
            .collect();
        out.push_str(line.join("").trim_end());
        out.push('\n');
    }
    out
}

/// The plan as kubeadm prints it.
pub fn text(plan: &UpgradePlan) -> String {
    let mut out = String::new();
    if let Some(config) = &plan.config {
        out.push_str(&format!(
            "The cluster's ClusterConfiguration (kube-system/kubeadm-config):\n\n{}\n",
            config.trim_end()
        ));
    }
    out.push_str(&format!(
        "Cluster version: {}\nTarget version: {} (from {})\n\n",
        plan.current, plan.target, plan.target_source
    ));
    if !plan.violations.is_empty() {
        out.push_str("The target breaks the version skew rules:\n");
        for v in &plan.violations {
            out.push_str(&format!("  - {v}\n"));
        }
        out.push('\n');
    }
    out.push_str("Components that must be upgraded manually after you have upgraded the control plane with 'kubestrap upgrade apply':\n");
    let mut rows = vec![vec!["COMPONENT".into(), "CURRENT".into(), "TARGET".into()]];
    rows.extend(
        plan.kubelets
            .iter()
            .map(|r| vec![r.component.clone(), r.current.clone(), r.target.clone()]),
    );
    out.push_str(&table(&rows));
    out.push_str(&format!("\nUpgrade to {}:\n\n", plan.target));
    let mut rows = vec![vec!["COMPONENT".into(), "CURRENT".into(), "TARGET".into()]];
    rows.extend(
        plan.components
            .iter()
            .map(|r| vec![r.component.clone(), r.current.clone(), r.target.clone()]),
    );
    out.push_str(&table(&rows));
    out.push_str(&format!(
        "\nYou can now apply the upgrade by executing the following command:\n\n\t{}\n",
        plan.command
    ));
    out.push_str("\n_____________________________________________________________________\n\n");
    out.push_str("The table below shows the current state of component configs as understood by this version of kubestrap.\nConfigs that have a \"yes\" mark in the \"MANUAL UPGRADE REQUIRED\" column require manual config upgrade or\nresetting to kubestrap defaults before a successful upgrade can be performed.\n\n");
    let mut rows = vec![vec![
        "API GROUP".to_string(),
        "CURRENT VERSION".into(),
        "PREFERRED VERSION".into(),
        "MANUAL UPGRADE REQUIRED".into(),
    ]];
    rows.extend(plan.component_configs.iter().map(|c| {
        vec![
            c.group.clone(),
            c.current.clone(),
            c.preferred.clone(),
            if c.manual_upgrade_required {
                "yes"
            } else {
                "no"
            }
            .into(),
        ]
    }));
    out.push_str(&table(&rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_counted_as_kubeadm_counts_them() {
        let two = vec!["v1.20.2".to_string(), "v1.20.2".to_string()];
        assert_eq!(counted_all(&two), "2 x v1.20.2");
        assert_eq!(counted_all(&two[..1]), "1 x v1.20.2");
        let mixed = vec!["v1.20.2".to_string(), "v1.20.3".to_string()];
        assert_eq!(counted(&mixed), "1 x v1.20.2, 1 x v1.20.3");
        assert_eq!(counted(&two[..1]), "v1.20.2");
    }

    #[test]
    fn tables_align_their_columns() {
        let t = table(&[
            vec!["COMPONENT".into(), "CURRENT".into()],
            vec!["kube-apiserver".into(), "v1.20.2".into()],
        ]);
        assert_eq!(t, "COMPONENT        CURRENT\nkube-apiserver   v1.20.2\n");
    }
}
