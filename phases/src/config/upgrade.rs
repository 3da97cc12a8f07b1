//! `UpgradeConfiguration` (kubeadm.k8s.io/v1beta4, kubeadm v1.30+): the settings of
//! `upgrade apply`, `node`, `plan` and `diff`, read from a config file and checked. Every field is
//! kept as set or unset, so that the commands' flags and defaults decide what the file leaves out.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::validate::Problem;
use super::{Documents, InvalidConfig, Patches, duration};
use crate::version::KubeVersion;

/// The document's kind.
pub const KIND: &str = "UpgradeConfiguration";

/// The pull policies kubeadm accepts.
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];

/// `UpgradeConfiguration`, as written in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradeConfiguration {
    #[serde(default, skip_serializing)]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing)]
    pub kind: Option<String>,
    #[serde(default)]
    pub apply: ApplySection,
    #[serde(default)]
    pub diff: DiffSection,
    #[serde(default)]
    pub node: NodeSection,
    #[serde(default)]
    pub plan: PlanSection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<UpgradeTimeouts>,
}

/// `apply`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplySection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_experimental_upgrades: Option<bool>,
    #[serde(
        rename = "allowRCUpgrades",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_rc_upgrades: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_renewal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_upgrade: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_upgrade: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_preflight_errors: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Patches>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub print_config: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_phases: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_serial: Option<bool>,
}

/// `diff`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiffSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_lines: Option<u32>,
}

/// `node`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_renewal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_upgrade: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_preflight_errors: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_phases: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Patches>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_serial: Option<bool>,
}

/// `plan`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_experimental_upgrades: Option<bool>,
    #[serde(
        rename = "allowRCUpgrades",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_rc_upgrades: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_preflight_errors: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub print_config: Option<bool>,
}

/// `timeouts` (kubeadm's `Timeouts`, each field kept as set or unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpgradeTimeouts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_component_health_check: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<String>,
    #[serde(
        rename = "etcdAPICall",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub etcd_api_call: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_health_check: Option<String>,
    #[serde(
        rename = "kubernetesAPICall",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kubernetes_api_call: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_bootstrap: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_manifests: Option<String>,
}

/// What the upgrade commands take from an UpgradeConfiguration; `None` where the file sets
/// nothing (the command's flag or default decides).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradeSettings {
    pub apply: ApplySettings,
    pub node: NodeSettings,
    pub plan: PlanSettings,
    pub diff: DiffSettings,
    /// `timeouts.upgradeManifests`: how long a component's new static pod may take.
    pub upgrade_manifests_timeout: Option<Duration>,
    /// Fields set in the file that have no effect, one sentence each, for the command to show.
    pub warnings: Vec<String>,
}

/// `upgrade apply`'s settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplySettings {
    pub kubernetes_version: Option<KubeVersion>,
    pub allow_experimental_upgrades: Option<bool>,
    pub allow_rc_upgrades: Option<bool>,
    pub certificate_renewal: Option<bool>,
    pub dry_run: Option<bool>,
    pub etcd_upgrade: Option<bool>,
    pub force_upgrade: Option<bool>,
    pub ignore_preflight_errors: Option<Vec<String>>,
    /// `patches.directory`.
    pub patches: Option<PathBuf>,
    pub skip_phases: Option<Vec<String>>,
    /// `Always`, `IfNotPresent` or `Never`.
    pub image_pull_policy: Option<String>,
    pub image_pull_serial: Option<bool>,
}

/// `upgrade node`'s settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSettings {
    pub certificate_renewal: Option<bool>,
    pub dry_run: Option<bool>,
    pub etcd_upgrade: Option<bool>,
    pub ignore_preflight_errors: Option<Vec<String>>,
    /// `patches.directory`.
    pub patches: Option<PathBuf>,
    pub skip_phases: Option<Vec<String>>,
    /// `Always`, `IfNotPresent` or `Never`.
    pub image_pull_policy: Option<String>,
    pub image_pull_serial: Option<bool>,
}

/// `upgrade plan`'s settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanSettings {
    pub kubernetes_version: Option<KubeVersion>,
    pub allow_experimental_upgrades: Option<bool>,
    pub allow_rc_upgrades: Option<bool>,
    pub ignore_preflight_errors: Option<Vec<String>>,
    pub print_config: Option<bool>,
}

/// `upgrade diff`'s settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffSettings {
    pub kubernetes_version: Option<KubeVersion>,
    /// `contextLines`: lines of context around each change.
    pub context_lines: Option<usize>,
}

/// The UpgradeConfiguration of a loaded file ([`super::load_file`]), checked and turned into
/// settings; `None` when the file has none. Every problem is refused at once, each with its
/// `file:line:column`.
pub fn upgrade_settings(docs: &Documents) -> Result<Option<UpgradeSettings>> {
    let Some(upgrade) = &docs.upgrade else {
        return Ok(None);
    };
    let source = docs.source.as_deref();
    let problems: Vec<String> = validate_upgrade(upgrade)
        .iter()
        .map(|p| p.render(source))
        .collect();
    if !problems.is_empty() {
        return Err(InvalidConfig(problems).into());
    }
    // Checked above: what is left cannot fail.
    let version = |v: &Option<String>| v.as_deref().and_then(|v| KubeVersion::parse_any(v).ok());
    let dir = |p: &Option<Patches>| p.as_ref().map(|p| PathBuf::from(&p.directory));
    let (a, n, pl, d) = (&upgrade.apply, &upgrade.node, &upgrade.plan, &upgrade.diff);
    let timeouts = upgrade.timeouts.clone().unwrap_or_default();
    Ok(Some(UpgradeSettings {
        apply: ApplySettings {
            kubernetes_version: version(&a.kubernetes_version),
            allow_experimental_upgrades: a.allow_experimental_upgrades,
            allow_rc_upgrades: a.allow_rc_upgrades,
            certificate_renewal: a.certificate_renewal,
            dry_run: a.dry_run,
            etcd_upgrade: a.etcd_upgrade,
            force_upgrade: a.force_upgrade,
            ignore_preflight_errors: a.ignore_preflight_errors.clone(),
            patches: dir(&a.patches),
            skip_phases: a.skip_phases.clone(),
            image_pull_policy: a.image_pull_policy.clone(),
            image_pull_serial: a.image_pull_serial,
        },
        node: NodeSettings {
            certificate_renewal: n.certificate_renewal,
            dry_run: n.dry_run,
            etcd_upgrade: n.etcd_upgrade,
            ignore_preflight_errors: n.ignore_preflight_errors.clone(),
            patches: dir(&n.patches),
            skip_phases: n.skip_phases.clone(),
            image_pull_policy: n.image_pull_policy.clone(),
            image_pull_serial: n.image_pull_serial,
        },
        plan: PlanSettings {
            kubernetes_version: version(&pl.kubernetes_version),
            allow_experimental_upgrades: pl.allow_experimental_upgrades,
            allow_rc_upgrades: pl.allow_rc_upgrades,
            ignore_preflight_errors: pl.ignore_preflight_errors.clone(),
            print_config: pl.print_config,
        },
        diff: DiffSettings {
            kubernetes_version: version(&d.kubernetes_version),
            context_lines: d.context_lines.map(|n| n as usize),
        },
        upgrade_manifests_timeout: timeouts
            .upgrade_manifests
            .as_deref()
            .and_then(|t| duration::parse(t).ok()),
        warnings: upgrade_warnings(upgrade),
    }))
}

/// The fields set that have no effect, one warning each (see [`super::fields::FIELDS`]).
pub fn upgrade_warnings(upgrade: &UpgradeConfiguration) -> Vec<String> {
    super::fields::no_effect(KIND, upgrade, &UpgradeConfiguration::default())
}

/// Every problem of an UpgradeConfiguration: versions, patch folders, pull policies,
/// preflight lists and durations, kubeadm's rules with kubeadm's field paths.
pub fn validate_upgrade(upgrade: &UpgradeConfiguration) -> Vec<Problem> {
    let mut p = Vec::new();
    let (a, n, pl, d) = (&upgrade.apply, &upgrade.node, &upgrade.plan, &upgrade.diff);
    for (section, version) in [
        ("apply", &a.kubernetes_version),
        ("plan", &pl.kubernetes_version),
        ("diff", &d.kubernetes_version),
    ] {
        if let Some(Err(e)) = version.as_deref().map(KubeVersion::parse_any) {
            p.push(Problem::new(
                KIND,
                format!("{section}.kubernetesVersion"),
                format!(
                    "{e:#}; kubestrap takes a version, not a release label, and never looks one up"
                ),
            ));
        }
    }
    for (section, patches) in [("apply", &a.patches), ("node", &n.patches)] {
        if let Some(dir) = patches.as_ref().map(|p| &p.directory)
            && !dir.starts_with('/')
        {
            p.push(Problem::new(
                KIND,
                format!("{section}.patches.directory"),
                format!(
                    "path {dir:?} is not absolute: name the patches folder by its absolute path"
                ),
            ));
        }
    }
    for (section, policy) in [
        ("apply", &a.image_pull_policy),
        ("node", &n.image_pull_policy),
    ] {
        if let Some(policy) = policy
            && !PULL_POLICIES.contains(&policy.as_str())
        {
            p.push(Problem::new(
                KIND,
                format!("{section}.imagePullPolicy"),
                format!("{policy:?} is not one of {}", PULL_POLICIES.join(", ")),
            ));
        }
    }
    for (section, ignored) in [
        ("apply", &a.ignore_preflight_errors),
        ("node", &n.ignore_preflight_errors),
        ("plan", &pl.ignore_preflight_errors),
    ] {
        let ignored = ignored.as_deref().unwrap_or_default();
        if ignored.len() > 1 && ignored.iter().any(|c| c.eq_ignore_ascii_case("all")) {
            p.push(Problem::new(
                KIND,
                format!("{section}.ignorePreflightErrors"),
                "don't specify individual checks if 'all' is used",
            ));
        }
    }
    let t = upgrade.timeouts.clone().unwrap_or_default();
    for (name, value) in [
        (
            "controlPlaneComponentHealthCheck",
            &t.control_plane_component_health_check,
        ),
        ("discovery", &t.discovery),
        ("etcdAPICall", &t.etcd_api_call),
        ("kubeletHealthCheck", &t.kubelet_health_check),
        ("kubernetesAPICall", &t.kubernetes_api_call),
        ("tlsBootstrap", &t.tls_bootstrap),
        ("upgradeManifests", &t.upgrade_manifests),
    ] {
        if let Some(Err(e)) = value.as_deref().map(duration::parse) {
            p.push(Problem::new(
                KIND,
                format!("timeouts.{name}"),
                e.to_string(),
            ));
        }
    }
    p
}

/// `config validate`'s check of the UpgradeConfiguration in `docs`: its problems, those of its
/// `skipPhases` lists against the phases of `upgrade apply` and `upgrade node` (`phases` of
/// `UpgradeConfiguration.apply` / `.node`; a list nobody names is not checked), and its warnings.
pub(super) fn check_in_file(
    docs: &Documents,
    phases: &dyn Fn(&str, KubeVersion) -> Vec<String>,
) -> (Vec<Problem>, Vec<Problem>) {
    let Some(upgrade) = &docs.upgrade else {
        return (Vec::new(), Vec::new());
    };
    let mut problems = validate_upgrade(upgrade);
    let target = upgrade
        .apply
        .kubernetes_version
        .as_deref()
        .and_then(|v| KubeVersion::parse(v).ok())
        .unwrap_or(crate::version::NEWEST);
    for (section, list) in [
        ("apply", &upgrade.apply.skip_phases),
        ("node", &upgrade.node.skip_phases),
    ] {
        let known = phases(&format!("{KIND}.{section}"), target);
        if known.is_empty() {
            continue;
        }
        for (i, name) in list.iter().flatten().enumerate() {
            if !known.contains(name) {
                problems.push(Problem::new(
                    KIND,
                    format!("{section}.skipPhases[{i}]"),
                    format!(
                        "unknown phase `{name}`; valid phases are: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    let warnings = super::fields::no_effect_fields(KIND, upgrade, &UpgradeConfiguration::default())
        .into_iter()
        .map(|(path, why)| Problem::new(KIND, path, format!("has no effect: {why}")))
        .collect();
    (problems, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: UpgradeConfiguration
apply:
  kubernetesVersion: v1.20.3
  allowExperimentalUpgrades: false
  allowRCUpgrades: true
  certificateRenewal: false
  dryRun: true
  etcdUpgrade: false
  forceUpgrade: true
  ignorePreflightErrors:
  - ImagePull
  - CoreDNSMigration
  patches:
    directory: /etc/kubernetes/patches
  skipPhases:
  - addon/coredns
  imagePullPolicy: Never
  imagePullSerial: false
node:
  certificateRenewal: true
  dryRun: false
  etcdUpgrade: true
  ignorePreflightErrors: [all]
  skipPhases: [preflight]
  patches:
    directory: /srv/patches
  imagePullPolicy: Always
  imagePullSerial: true
plan:
  kubernetesVersion: 1.21.0
  allowExperimentalUpgrades: true
  allowRCUpgrades: false
  ignorePreflightErrors: [Swap]
  printConfig: true
diff:
  kubernetesVersion: v1.20.4
  contextLines: 5
timeouts:
  upgradeManifests: 2m30s
";

    fn load(text: &str) -> (Documents, Vec<String>) {
        super::super::parse(text, "up.yaml")
    }

    #[test]
    fn a_full_document_becomes_settings() {
        let (docs, problems) = load(FULL);
        assert!(problems.is_empty(), "{problems:?}");
        let s = upgrade_settings(&docs).unwrap().unwrap();
        let a = &s.apply;
        assert_eq!(a.kubernetes_version, Some(KubeVersion::new(20, 3)));
        assert_eq!(
            (a.allow_experimental_upgrades, a.allow_rc_upgrades),
            (Some(false), Some(true))
        );
        assert_eq!(
            (
                a.certificate_renewal,
                a.dry_run,
                a.etcd_upgrade,
                a.force_upgrade
            ),
            (Some(false), Some(true), Some(false), Some(true))
        );
        assert_eq!(
            a.ignore_preflight_errors.as_deref(),
            Some(&["ImagePull".to_string(), "CoreDNSMigration".to_string()][..])
        );
        assert_eq!(a.patches, Some(PathBuf::from("/etc/kubernetes/patches")));
        assert_eq!(a.skip_phases, Some(vec!["addon/coredns".to_string()]));
        assert_eq!(
            (a.image_pull_policy.as_deref(), a.image_pull_serial),
            (Some("Never"), Some(false))
        );
        let n = &s.node;
        assert_eq!(
            (n.certificate_renewal, n.dry_run, n.etcd_upgrade),
            (Some(true), Some(false), Some(true))
        );
        assert_eq!(n.ignore_preflight_errors, Some(vec!["all".to_string()]));
        assert_eq!(n.skip_phases, Some(vec!["preflight".to_string()]));
        assert_eq!(n.patches, Some(PathBuf::from("/srv/patches")));
        assert_eq!(
            (n.image_pull_policy.as_deref(), n.image_pull_serial),
            (Some("Always"), Some(true))
        );
        let p = &s.plan;
        assert_eq!(p.kubernetes_version, Some(KubeVersion::new(21, 0)));
        assert_eq!(
            (
                p.allow_experimental_upgrades,
                p.allow_rc_upgrades,
                p.print_config
            ),
            (Some(true), Some(false), Some(true))
        );
        assert_eq!(p.ignore_preflight_errors, Some(vec!["Swap".to_string()]));
        assert_eq!(s.diff.kubernetes_version, Some(KubeVersion::new(20, 4)));
        assert_eq!(s.diff.context_lines, Some(5));
        assert_eq!(s.upgrade_manifests_timeout, Some(Duration::from_secs(150)));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn migrate_keeps_the_document() {
        let migrated = super::super::migrate(FULL, "up.yaml").unwrap();
        let (again, problems) = load(&migrated);
        assert!(problems.is_empty(), "{problems:?}\n{migrated}");
        let (docs, _) = load(FULL);
        assert_eq!(again.upgrade, docs.upgrade);
    }

    #[test]
    fn what_the_file_leaves_out_stays_unset() {
        let (docs, problems) =
            load("apiVersion: kubeadm.k8s.io/v1beta4\nkind: UpgradeConfiguration\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            upgrade_settings(&docs).unwrap(),
            Some(UpgradeSettings::default())
        );
        let (docs, _) = load("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\n");
        assert_eq!(upgrade_settings(&docs).unwrap(), None);
    }

    #[test]
    fn an_unknown_field_is_refused_with_its_line() {
        let text = FULL.replace(
            "  contextLines: 5\n",
            "  contextLines: 5\n  contextLine: 3\n",
        );
        let (_, problems) = load(&text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let line = text.lines().position(|l| l == "  contextLine: 3").unwrap() + 1;
        assert!(
            problems[0].starts_with(&format!(
                "up.yaml:{line}:3: unknown field `diff.contextLine`"
            )),
            "{problems:?}"
        );
        assert!(
            problems[0].contains("did you mean `diff.contextLines`"),
            "{problems:?}"
        );
        let (_, problems) = load(&FULL.replace("plan:\n", "plan:\n  force: true\n"));
        assert!(
            problems[0].contains("unknown field `plan.force`"),
            "{problems:?}"
        );
    }

    #[test]
    fn v1beta3_has_no_upgrade_configuration() {
        let (_, problems) = load(&format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\n---\n{}",
            FULL.replace("v1beta4", "v1beta3")
        ));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .starts_with("up.yaml:4:1: UpgradeConfiguration is new in kubeadm.k8s.io/v1beta4"),
            "{problems:?}"
        );
    }

    #[test]
    fn bad_values_are_refused_each_at_its_place() {
        let text = FULL
            .replace("kubernetesVersion: v1.20.3", "kubernetesVersion: stable")
            .replace("directory: /srv/patches", "directory: patches")
            .replace("imagePullPolicy: Always", "imagePullPolicy: Sometimes")
            .replace(
                "ignorePreflightErrors: [Swap]",
                "ignorePreflightErrors: [Swap, all]",
            )
            .replace("upgradeManifests: 2m30s", "upgradeManifests: 2 minutes");
        let (docs, problems) = load(&text);
        assert!(problems.is_empty(), "{problems:?}");
        let err = upgrade_settings(&docs).unwrap_err().to_string();
        for expected in [
            "up.yaml:4:3: `apply.kubernetesVersion`: invalid Kubernetes version \"stable\"",
            "`node.patches.directory`: path \"patches\" is not absolute",
            "`node.imagePullPolicy`: \"Sometimes\" is not one of Always, IfNotPresent, Never",
            "`plan.ignorePreflightErrors`: don't specify individual checks if 'all' is used",
            "`timeouts.upgradeManifests`: invalid duration \"2 minutes\"",
        ] {
            assert!(err.contains(expected), "{expected}\nin\n{err}");
        }
        assert!(
            err.starts_with("invalid configuration (5 problems)"),
            "{err}"
        );
        let (_, problems) = load(&FULL.replace("contextLines: 5", "contextLines: -1"));
        assert!(problems[0].contains("`diff.contextLines`"), "{problems:?}");
    }

    #[test]
    fn fields_without_effect_are_warned_about() {
        let text = FULL
            .replace("plan:\n", "plan:\n  dryRun: true\n")
            .replace("timeouts:\n", "timeouts:\n  kubernetesAPICall: 1m0s\n")
            + "";
        let text = text.replace("apply:\n", "apply:\n  printConfig: true\n");
        let (docs, problems) = load(&text);
        assert!(problems.is_empty(), "{problems:?}");
        let warnings = upgrade_settings(&docs).unwrap().unwrap().warnings;
        assert_eq!(warnings.len(), 3, "{warnings:#?}");
        for path in [
            "apply.printConfig",
            "plan.dryRun",
            "timeouts.kubernetesAPICall",
        ] {
            assert!(
                warnings.iter().any(|w| w.starts_with(&format!(
                    "`{path}` in the UpgradeConfiguration has no effect: "
                ))),
                "{path}: {warnings:#?}"
            );
        }
    }
}
