//! The version-skew rules of an upgrade, as kubeadm's upgrade policy has them: which target
//! versions an upgrade refuses always (mandatory), and which `--force` lets through (skippable).
//!
//! A pre-release target (`-rc.1`, `-alpha.0`) is judged more leniently, as kubeadm does: a jump
//! of more than one minor version is then only skippable, since such builds are for testing.

use super::{KubeVersion, NEWEST_MINOR, OLDEST_MINOR};

/// One rule an upgrade to a target version breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What is wrong, naming the versions, and what to do about it.
    pub message: String,
    /// Whether `--force` may override it (kubeadm's "skippable"); otherwise it is refused always.
    pub skippable: bool,
}

/// How many minor versions one upgrade may step up, and one downgrade step down.
const MAX_MINOR_STEP: i64 = 1;

/// What `--force` says in a skippable violation's message.
const FORCE_HINT: &str = "pass --force to go on anyway";

/// Every rule an upgrade from `api_server` (the API server's running version) to `target` breaks,
/// with the nodes' kubelets at `kubelets` (each node's version; repeats are fine).
pub fn check(
    api_server: KubeVersion,
    target: KubeVersion,
    kubelets: &[KubeVersion],
) -> Vec<Violation> {
    let mut out = Vec::new();
    if !(OLDEST_MINOR..=NEWEST_MINOR).contains(&target.minor) {
        out.push(Violation {
            message: format!(
                "{target} is outside the versions kubestrap supports (v1.{OLDEST_MINOR}.0 to v1.{NEWEST_MINOR}.x): choose a target version in that range"
            ),
            skippable: false,
        });
    }
    let pre_release = pre_release(&target).is_some();
    let step = i64::from(target.minor) - i64::from(api_server.minor);
    if step > MAX_MINOR_STEP {
        let next = api_server.minor + 1;
        out.push(Violation {
            message: format!(
                "{target} is {step} minor versions above the API server's {api_server}: an upgrade goes one minor version at a time; upgrade to a v1.{next}.x release first{}",
                if pre_release { format!(", or {FORCE_HINT} (it is a pre-release)") } else { String::new() }
            ),
            skippable: pre_release,
        });
    } else if step == -MAX_MINOR_STEP {
        out.push(Violation {
            message: format!(
                "{target} is a downgrade by one minor version from the API server's {api_server}, which the components' version skew policy does not support: {FORCE_HINT}"
            ),
            skippable: true,
        });
    } else if step < -MAX_MINOR_STEP {
        let down = -step;
        out.push(Violation {
            message: format!(
                "{target} is a downgrade by {down} minor versions from the API server's {api_server}: a downgrade goes at most one minor version at a time; choose a v1.{}.x target{}",
                api_server.minor - 1,
                if pre_release { format!(", or {FORCE_HINT} (it is a pre-release)") } else { String::new() }
            ),
            skippable: pre_release,
        });
    }
    out.extend(kubelet_skew(target, kubelets));
    out
}

/// A pre-release target that the settings do not allow (kubeadm's `allowExperimentalUpgrades`
/// allows every pre-release, `allowRCUpgrades` the release candidates): skippable.
pub fn unstable(
    target: KubeVersion,
    allow_experimental: bool,
    allow_rc: bool,
) -> Option<Violation> {
    let pre = pre_release(&target)?;
    if allow_experimental || (allow_rc && pre.starts_with("rc")) {
        return None;
    }
    Some(Violation {
        message: format!(
            "{target} is a pre-release: allow it with --allow-experimental-upgrades{}, or {FORCE_HINT}",
            if pre.starts_with("rc") {
                " or --allow-release-candidate-upgrades"
            } else {
                ""
            }
        ),
        skippable: true,
    })
}

/// The pre-release part of a version (`rc.1` of `v1.31.0-rc.1+build.2`), if it has one.
fn pre_release(v: &KubeVersion) -> Option<&str> {
    let pre = v.suffix.as_str().strip_prefix('-')?;
    Some(pre.split('+').next().unwrap_or(pre))
}

/// Kubelets newer than the target, and kubelets older than the target allows: both skippable,
/// as kubeadm has them (its policy and its `KubeletVersion` check, which
/// `--ignore-preflight-errors` overrides).
fn kubelet_skew(target: KubeVersion, kubelets: &[KubeVersion]) -> Vec<Violation> {
    let skew = target.profile().kubelet_min_skew;
    let listed = |keep: &dyn Fn(&KubeVersion) -> bool| {
        let mut found: Vec<KubeVersion> = kubelets.iter().copied().filter(|k| keep(k)).collect();
        found.sort();
        found.dedup();
        let count = kubelets.iter().filter(|k| keep(k)).count();
        let names: Vec<String> = found.iter().map(ToString::to_string).collect();
        (count, names.join(", "))
    };
    let mut out = Vec::new();
    let (newer, versions) = listed(&|k| k.minor > target.minor);
    if newer > 0 {
        out.push(Violation {
            message: format!(
                "{newer} node(s) run a kubelet newer than {target} ({versions}): a kubelet must not be newer than the control plane; choose a target of that minor version, or downgrade those kubelets with the package manager first, or {FORCE_HINT}"
            ),
            skippable: true,
        });
    }
    let oldest = i64::from(target.minor) - i64::from(skew);
    let (older, versions) = listed(&|k| i64::from(k.minor) < oldest);
    if older > 0 {
        out.push(Violation {
            message: format!(
                "{older} node(s) run a kubelet too old for {target} ({versions}): {target} supports kubelets down to v1.{oldest}, {skew} minor version(s) older; upgrade those nodes' kubelets first (`kubestrap upgrade node` there, then the kubelet package), or {FORCE_HINT}"
            ),
            skippable: true,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> KubeVersion {
        KubeVersion::parse_any(text).unwrap()
    }

    /// (message, skippable) of each violation, for short assertions.
    fn found(api: &str, target: &str, kubelets: &[&str]) -> Vec<(String, bool)> {
        let kubelets: Vec<KubeVersion> = kubelets.iter().map(|k| v(k)).collect();
        check(v(api), v(target), &kubelets)
            .into_iter()
            .map(|x| (x.message, x.skippable))
            .collect()
    }

    #[test]
    fn a_patch_or_one_minor_step_up_is_fine() {
        assert!(found("v1.20.2", "v1.20.3", &["v1.20.2", "v1.20.2"]).is_empty());
        assert!(found("v1.20.2", "v1.21.0", &["v1.20.2"]).is_empty());
        assert!(found("v1.35.4", "v1.36.0", &["v1.33.0"]).is_empty());
        // The same version (a reconfiguration) and a downgrade within the minor.
        assert!(found("v1.20.3", "v1.20.3", &["v1.20.3"]).is_empty());
        assert!(found("v1.20.3", "v1.20.2", &["v1.20.3"]).is_empty());
    }

    #[test]
    fn more_than_one_minor_up_is_refused_always() {
        let got = found("v1.20.2", "v1.22.0", &[]);
        assert_eq!(got.len(), 1, "{got:?}");
        let (message, skippable) = &got[0];
        assert!(!skippable);
        assert!(
            message.contains("v1.22.0")
                && message.contains("v1.20.2")
                && message.contains("v1.21.x"),
            "{message}"
        );
        assert!(!found("v1.20.2", "v1.25.1", &[])[0].1);
    }

    #[test]
    fn a_pre_release_two_minors_up_is_only_skippable() {
        let got = found("v1.29.0", "v1.31.0-rc.1", &[]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].1 && got[0].0.contains("--force"), "{got:?}");
        // Build metadata is not a pre-release.
        assert!(!found("v1.29.0", "v1.31.0+build.1", &[])[0].1);
    }

    #[test]
    fn a_downgrade_by_one_minor_is_skippable_by_more_refused() {
        let got = found("v1.21.1", "v1.20.9", &[]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].1, "{got:?}");
        assert!(
            got[0].0.contains("--force") && got[0].0.contains("v1.21.1"),
            "{}",
            got[0].0
        );
        let got = found("v1.22.0", "v1.20.2", &[]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(!got[0].1, "{got:?}");
        assert!(got[0].0.contains("v1.21.x"), "{}", got[0].0);
    }

    #[test]
    fn a_target_outside_the_supported_range_is_refused_always() {
        for (api, target, also) in [
            ("v1.20.2", "v1.19.16", "a downgrade by one minor"),
            ("v1.36.2", "v1.37.0", ""),
        ] {
            let got = found(api, target, &[]);
            assert!(!got[0].1 && got[0].0.contains(target), "{got:?}");
            assert!(got[0].0.contains("outside the versions"), "{got:?}");
            assert_eq!(got.len(), 1 + usize::from(!also.is_empty()), "{got:?}");
            assert!(got.last().unwrap().0.contains(also), "{got:?}");
        }
        // The range's own ends are fine.
        assert!(found("v1.20.0", "v1.20.0", &[]).is_empty());
        assert!(found("v1.35.0", "v1.36.0", &[]).is_empty());
    }

    #[test]
    fn a_kubelet_newer_than_the_target_is_skippable() {
        let got = found("v1.21.0", "v1.20.5", &["v1.21.0", "v1.20.5", "v1.21.0"]);
        let kubelet: Vec<_> = got.iter().filter(|(m, _)| m.contains("kubelet")).collect();
        assert_eq!(kubelet.len(), 1, "{got:?}");
        assert!(kubelet[0].1);
        assert!(
            kubelet[0].0.starts_with("2 node(s)") && kubelet[0].0.contains("(v1.21.0)"),
            "{}",
            kubelet[0].0
        );
        // A newer patch of the target's minor is not a skew.
        assert!(found("v1.20.3", "v1.20.2", &["v1.20.3"]).is_empty());
    }

    #[test]
    fn kubelets_older_than_the_target_allows_are_skippable() {
        // v1.27 allows kubelets one minor older; v1.28 three.
        assert!(found("v1.26.0", "v1.27.0", &["v1.26.3"]).is_empty());
        let got = found("v1.26.0", "v1.27.0", &["v1.25.9", "v1.26.0"]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].1 && got[0].0.contains("v1.25.9") && got[0].0.contains("v1.26"));
        assert!(found("v1.27.0", "v1.28.0", &["v1.25.0"]).is_empty());
        let got = found("v1.27.0", "v1.28.0", &["v1.24.7", "v1.25.0"]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].0.starts_with("1 node(s)") && got[0].0.contains("down to v1.25"));
    }

    #[test]
    fn every_broken_rule_is_named() {
        let got = found("v1.20.0", "v1.23.0", &["v1.24.0", "v1.20.0"]);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got.iter().filter(|(_, s)| *s).count(), 2);
    }

    #[test]
    fn pre_releases_need_to_be_allowed() {
        assert!(unstable(v("v1.31.0"), false, false).is_none());
        let rc = v("v1.31.0-rc.0");
        let refused = unstable(rc, false, false).unwrap();
        assert!(refused.skippable && refused.message.contains("release-candidate"));
        assert!(unstable(rc, false, true).is_none());
        assert!(unstable(rc, true, false).is_none());
        let alpha = v("v1.31.0-alpha.2");
        assert!(unstable(alpha, false, true).is_some());
        assert!(unstable(alpha, true, false).is_none());
        assert!(unstable(v("v1.31.0+build.3"), false, false).is_none());
    }
}
