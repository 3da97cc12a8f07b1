//! The flags each component has, per Kubernetes version, so an `extraArgs` flag the component
//! lacks (a typo, or one from another release) is refused before anything is written instead of
//! crash-looping the component. The tables under `phases/flags/` are generated from the
//! components themselves (`phases/flags/generate.sh`); a version without a table of its own is
//! checked against its nearest older table, and there an unknown flag is only a warning.

use super::flags::{Component, arg_path, removed_flag, sections};
use super::{ClusterConfiguration, InitConfiguration, Problem};
use crate::version::KubeVersion;

/// The environment variable that lets named flags through: a comma-separated list of flag names
/// (without `--`), or `*` for every flag. For components built with flags of their own.
pub const ALLOW_ENV: &str = "KUBESTRAP_ALLOW_UNKNOWN_FLAGS";

/// One component's flags as one release of it reported them.
struct Table {
    component: Component,
    /// The Kubernetes minor it was generated from (etcd: the first minor it serves).
    minor: u32,
    text: &'static str,
}

macro_rules! table {
    ($component:expr, $minor:expr, $file:literal) => {
        Table {
            component: $component,
            minor: $minor,
            text: include_str!(concat!("../../flags/", $file)),
        }
    };
}

static TABLES: &[Table] = &[
    table!(Component::ApiServer, 20, "1.20/kube-apiserver.txt"),
    table!(
        Component::ControllerManager,
        20,
        "1.20/kube-controller-manager.txt"
    ),
    table!(Component::Scheduler, 20, "1.20/kube-scheduler.txt"),
    table!(Component::Kubelet, 20, "1.20/kubelet.txt"),
    table!(Component::Etcd, 20, "1.20/etcd.txt"),
];

impl Table {
    /// The flag names, without `--`.
    fn flags(&self) -> impl Iterator<Item = &'static str> {
        self.text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().next())
    }

    fn has(&self, flag: &str) -> bool {
        self.flags().any(|f| f == flag)
    }

    /// What the table was made from (its `# source:` line) and where it is.
    fn source(&self) -> String {
        let what = self
            .text
            .lines()
            .find_map(|l| l.strip_prefix("# source: "))
            .unwrap_or("");
        // Named by what it is: the user has no source tree to look in.
        format!("kubestrap's built-in flag list, from {what}")
    }
}

/// Which table speaks for `component` at `version`, and whether it is that version's own.
fn table_for(component: Component, version: KubeVersion) -> Option<(&'static Table, bool)> {
    let own = |t: &Table| match component {
        // etcd's flags follow etcd's minor release, which the Kubernetes minor's image names.
        Component::Etcd => {
            let tag = version.profile().etcd_image_tag;
            let first = KubeVersion::new(t.minor, 0);
            tag.split('.')
                .take(2)
                .eq(first.profile().etcd_image_tag.split('.').take(2))
        }
        _ => t.minor == version.minor,
    };
    TABLES
        .iter()
        .filter(|t| t.component == component && t.minor <= version.minor)
        .max_by_key(|t| t.minor)
        .map(|t| (t, own(t)))
}

/// The flags [`ALLOW_ENV`] lets through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowed(Vec<String>);

impl Allowed {
    /// From the environment variable's value (`None`: unset).
    pub fn parse(value: Option<&str>) -> Self {
        Allowed(
            value
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().trim_start_matches('-').to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    /// From this process's environment.
    pub fn from_env() -> Self {
        Self::parse(std::env::var(ALLOW_ENV).ok().as_deref())
    }

    fn allows(&self, flag: &str) -> bool {
        self.0.iter().any(|a| a == "*" || a == flag)
    }
}

/// What the check found: refusals, and warnings for what it could not be sure of (both pointing
/// at the flag; [`Problem::render`] adds the file's line and column).
#[derive(Debug, Default)]
pub struct Findings {
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

/// Every `extraArgs` flag of the documents that its component does not have at `version`.
/// Flags that Kubernetes removed are left to [`super::flags::removed_flag_problems`].
pub fn unknown_flags(
    init: &InitConfiguration,
    cluster: &ClusterConfiguration,
    version: KubeVersion,
    allowed: &Allowed,
) -> Findings {
    let mut found = Findings::default();
    for (component, args) in sections(init, cluster) {
        let Some((table, own)) = table_for(component, version) else {
            continue;
        };
        for (i, arg) in args.args.iter().enumerate() {
            let name = arg.name.as_str();
            if name.is_empty()
                || name.starts_with('-')
                || table.has(name)
                || removed_flag(component, name, version).is_some()
            {
                continue;
            }
            let binary = component.binary();
            let hint = match super::suggest::suggest(name, &table.flags().collect::<Vec<_>>()) {
                Some(s) => format!(" Did you mean `{s}`?"),
                None => String::new(),
            };
            let at = || (component.kind(), arg_path(component, args, i));
            if allowed.allows(name) {
                let (kind, path) = at();
                found.warnings.push(Problem::new(
                    kind,
                    path,
                    format!(
                        "{binary} {version} has no flag `--{name}`; passed on as {ALLOW_ENV} asks"
                    ),
                ));
                continue;
            }
            if !own {
                let (kind, path) = at();
                found.warnings.push(Problem::new(
                    kind,
                    path,
                    format!(
                        "{binary} of v1.{} has no flag `--{name}` (and {version} has no flag table of its own); if {version} lacks it too, {binary} will not start.{hint} Table: {}",
                        table.minor,
                        table.source()
                    ),
                ));
                continue;
            }
            found.problems.push(Problem::new(
                component.kind(),
                arg_path(component, args, i),
                format!(
                    "{binary} {version} has no flag `--{name}`, so it would not start.{hint} (Flags of a custom build pass with {ALLOW_ENV}={name}.) Table: {}",
                    table.source()
                ),
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Arg, ExtraArgs};

    fn v(text: &str) -> KubeVersion {
        KubeVersion::parse(text).unwrap()
    }

    fn cluster_with(section: Component, pairs: &[&str], from_map: bool) -> ClusterConfiguration {
        let args = ExtraArgs {
            args: pairs
                .iter()
                .map(|n| Arg {
                    name: n.to_string(),
                    value: "1".into(),
                })
                .collect(),
            from_map,
        };
        let mut c = ClusterConfiguration::default();
        match section {
            Component::ApiServer => c.api_server.extra_args = args,
            Component::ControllerManager => c.controller_manager.extra_args = args,
            Component::Scheduler => c.scheduler.extra_args = args,
            Component::Etcd => c.etcd.local.as_mut().unwrap().extra_args = args,
            Component::Kubelet => unreachable!(),
        }
        c
    }

    fn check(c: &ClusterConfiguration, version: &str, allowed: &Allowed) -> Findings {
        unknown_flags(&InitConfiguration::default(), c, v(version), allowed)
    }

    #[test]
    fn the_tables_hold_what_kubeadm_passes() {
        for (component, flags) in [
            (
                Component::ApiServer,
                &[
                    "advertise-address",
                    "authorization-mode",
                    "enable-bootstrap-token-auth",
                    "etcd-servers",
                    "requestheader-allowed-names",
                    "service-account-issuer",
                    "insecure-port",
                ][..],
            ),
            (
                Component::ControllerManager,
                &[
                    "cluster-signing-cert-file",
                    "use-service-account-credentials",
                    "port",
                ],
            ),
            (
                Component::Scheduler,
                &["leader-elect", "kubeconfig", "bind-address", "port"],
            ),
            (
                Component::Kubelet,
                &[
                    "node-ip",
                    "network-plugin",
                    "pod-infra-container-image",
                    "v",
                ],
            ),
            (
                Component::Etcd,
                &[
                    "advertise-client-urls",
                    "initial-cluster",
                    "peer-client-cert-auth",
                    "snapshot-count",
                    "experimental-initial-corrupt-check",
                    "experimental-watch-progress-notify-interval",
                ],
            ),
        ] {
            let (table, own) = table_for(component, v("v1.20.2")).unwrap();
            assert!(own);
            for flag in flags {
                assert!(table.has(flag), "{} lacks {flag}", component.binary());
            }
        }
    }

    #[test]
    fn a_misspelled_flag_is_refused_with_the_closest_one() {
        let c = cluster_with(
            Component::ApiServer,
            &["authorizaton-mode", "audit-log-maxage"],
            true,
        );
        let found = check(&c, "v1.20.2", &Allowed::default());
        assert_eq!(found.problems.len(), 1, "{:?}", found.problems);
        let p = &found.problems[0];
        assert_eq!(p.path, "apiServer.extraArgs.authorizaton-mode");
        assert!(
            p.message.starts_with("kube-apiserver v1.20.2 has no flag `--authorizaton-mode`, so it would not start. Did you mean `authorization-mode`?"),
            "{}",
            p.message
        );
        assert!(
            p.message.contains(
                "Table: kubestrap's built-in flag list, from `kube-apiserver --help` of v1.20.2"
            ) && !p.message.contains("phases/flags"),
            "{}",
            p.message
        );
        // The list form points at the item.
        let c = cluster_with(Component::Scheduler, &["leader-elect", "bogus"], false);
        let found = check(&c, "v1.20.2", &Allowed::default());
        assert_eq!(found.problems[0].path, "scheduler.extraArgs[1]");
    }

    #[test]
    fn etcd_flags_follow_the_etcd_release() {
        let c = cluster_with(Component::Etcd, &["quota-backend-byte"], true);
        let found = check(&c, "v1.21.0", &Allowed::default());
        assert!(
            found.problems[0]
                .message
                .contains("Did you mean `quota-backend-bytes`?")
        );
        // v1.22 runs etcd 3.5, which has no table: a warning only.
        let found = check(&c, "v1.22.0", &Allowed::default());
        assert!(found.problems.is_empty());
        assert_eq!(found.warnings.len(), 1);
    }

    #[test]
    fn a_version_without_its_own_table_warns() {
        let c = cluster_with(
            Component::ControllerManager,
            &["node-monitor-grace-perod"],
            true,
        );
        let found = check(&c, "v1.30.1", &Allowed::default());
        assert!(found.problems.is_empty());
        assert!(
            found.warnings[0]
                .message
                .contains("has no flag table of its own")
                && found.warnings[0]
                    .message
                    .contains("Did you mean `node-monitor-grace-period`?"),
            "{:?}",
            found.warnings
        );
    }

    #[test]
    fn removed_flags_are_left_to_the_removal_table() {
        let c = cluster_with(Component::ApiServer, &["insecure-port"], true);
        assert!(
            check(&c, "v1.20.0", &Allowed::default())
                .problems
                .is_empty()
        );
        let found = check(&c, "v1.24.0", &Allowed::default());
        assert!(found.problems.is_empty() && found.warnings.is_empty());
    }

    #[test]
    fn allowed_flags_pass_with_a_warning() {
        let c = cluster_with(Component::ApiServer, &["my-plugin-flag", "other"], true);
        let allowed = Allowed::parse(Some("--my-plugin-flag, x"));
        let found = check(&c, "v1.20.2", &allowed);
        assert_eq!(found.problems.len(), 1);
        assert_eq!(found.problems[0].path, "apiServer.extraArgs.other");
        assert_eq!(found.warnings[0].path, "apiServer.extraArgs.my-plugin-flag");
        assert!(
            found.warnings[0]
                .message
                .contains("passed on as KUBESTRAP_ALLOW_UNKNOWN_FLAGS asks")
        );
        let found = check(&c, "v1.20.2", &Allowed::parse(Some("*")));
        assert!(found.problems.is_empty());
        assert_eq!(found.warnings.len(), 2);
    }
}
