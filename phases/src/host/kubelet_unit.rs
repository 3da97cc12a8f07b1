//! Whether the kubelet's systemd service starts the kubelet with the files init and join write
//! (what kubeadm's package drop-in `10-kubeadm.conf` does), and the files that make it so when
//! it does not: kubestrap's drop-in, and a whole `kubelet.service` for a kubelet installed by hand.

use anyhow::{Result, bail};

use super::systemd_unit::{self, Service};
use crate::fs::paths;
use crate::fs::root::Root;
use crate::render::templates;

/// The unit name.
pub const SERVICE: &str = "kubelet.service";
/// kubestrap's drop-in.
pub const DROP_IN: &str = "/etc/systemd/system/kubelet.service.d/10-kubestrap.conf";
/// The unit kubestrap writes when none exists.
pub const UNIT: &str = "/etc/systemd/system/kubelet.service";
/// The first line of every file kubestrap writes here: reset removes only files that start so.
const MARK: &str = "# Written by kubestrap";
/// The kubeconfig the kubelet's TLS bootstrap starts from.
pub const BOOTSTRAP_KUBECONFIG: &str = "/etc/kubernetes/bootstrap-kubelet.conf";
/// The kubeconfig the kubelet uses once it has its certificate.
pub const KUBECONFIG: &str = "/etc/kubernetes/kubelet.conf";
/// Where a package puts the kubelet (and where kubeadm's drop-in runs it from).
const PACKAGE_KUBELET: &str = "/usr/bin/kubelet";

/// What the effective unit does with kubestrap's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// It starts the kubelet with all of them; `via` set its `ExecStart=`.
    Reads { via: String, by_kubestrap: bool },
    /// A unit exists, but its command line lacks these.
    Lacks {
        unit: String,
        drop_ins: Vec<String>,
        lacking: Vec<String>,
        kubelet: String,
    },
    /// No `kubelet.service` in any unit folder; `kubelet` is the binary on the PATH, if any.
    NoUnit { kubelet: Option<String> },
    /// The unit or its drop-ins cannot be used as they are (several `ExecStart=`, bad quoting).
    Broken { unit: String, why: String },
}

impl State {
    /// One line for the user.
    pub fn describe(&self) -> String {
        match self {
            State::Reads { via, by_kubestrap } => format!(
                "the kubelet's systemd unit reads kubestrap's files through `{via}`{}",
                if *by_kubestrap {
                    " (written by kubestrap)"
                } else {
                    ""
                }
            ),
            State::Lacks {
                unit,
                drop_ins,
                lacking,
                ..
            } => format!(
                "`{unit}`{} starts the kubelet without {}",
                if drop_ins.is_empty() {
                    " (no drop-in)".to_string()
                } else {
                    format!(" with {}", drop_ins.join(", "))
                },
                lacking.join(", ")
            ),
            State::NoUnit { kubelet: Some(k) } => {
                format!("there is no kubelet.service for the kubelet at `{k}`")
            }
            State::NoUnit { kubelet: None } => {
                "there is no kubelet.service and no kubelet on the PATH".to_string()
            }
            State::Broken { unit, why } => format!("`{unit}` cannot be used as it is: {why}"),
        }
    }
}

/// Reads the kubelet's unit and drop-ins under the root. `path` is the PATH to look for a
/// kubelet in when there is no unit.
pub fn inspect(root: &Root, path: Option<&str>) -> Result<State> {
    let Some(service) = systemd_unit::load(root, SERVICE)? else {
        return Ok(State::NoUnit {
            kubelet: find_on_path(root, path),
        });
    };
    let line = match service.exec_line() {
        Ok(line) => line.to_string(),
        Err(e) if !service.exec_start.is_empty() => {
            return Ok(State::Broken {
                unit: service.unit.clone(),
                why: format!("{e:#}"),
            });
        }
        // No ExecStart at all: a drop-in of ours supplies one.
        Err(_) => String::new(),
    };
    let lacking = match lacking(&service, &line) {
        Ok(l) => l,
        Err(e) => {
            return Ok(State::Broken {
                unit: service.unit.clone(),
                why: format!("{e:#}"),
            });
        }
    };
    if lacking.is_empty() {
        let via = service
            .exec_start_from
            .clone()
            .unwrap_or_else(|| service.unit.clone());
        let by_kubestrap = written_by_kubestrap(root, &via);
        return Ok(State::Reads { via, by_kubestrap });
    }
    let kubelet = match service.program() {
        Ok(p) if p.starts_with('/') => p,
        _ => find_on_path(root, path).unwrap_or_else(|| PACKAGE_KUBELET.to_string()),
    };
    Ok(State::Lacks {
        unit: service.unit,
        drop_ins: service.drop_ins,
        lacking,
        kubelet,
    })
}

/// What the command line lacks of kubestrap's files. The environment files' variables are left
/// unexpanded: they are written later (kubeadm-flags.env) or belong to the machine.
fn lacking(service: &Service, line: &str) -> Result<Vec<String>> {
    let words = systemd_unit::expand(line, &service.static_environment(), true)?;
    let has_flag = |flag: &str, value: &str| {
        words.iter().enumerate().any(|(i, w)| {
            w == &format!("{flag}={value}")
                || (w == flag && words.get(i + 1).is_some_and(|v| v == value))
        })
    };
    let mut lacking = Vec::new();
    for (flag, value) in [
        ("--config", paths::KUBELET_CONFIG),
        ("--kubeconfig", KUBECONFIG),
        ("--bootstrap-kubeconfig", BOOTSTRAP_KUBECONFIG),
    ] {
        if !has_flag(flag, value) {
            lacking.push(format!("{flag}={value}"));
        }
    }
    let reads_flags_file = service
        .environment_files
        .iter()
        .any(|f| f.path == paths::KUBELET_FLAGS_ENV);
    let uses_flags = words
        .iter()
        .any(|w| w == "$KUBELET_KUBEADM_ARGS" || w.contains("${KUBELET_KUBEADM_ARGS}"));
    if !(reads_flags_file && uses_flags) {
        lacking.push(format!(
            "$KUBELET_KUBEADM_ARGS from {}",
            paths::KUBELET_FLAGS_ENV
        ));
    }
    Ok(lacking)
}

/// The first `kubelet` of `path` (a PATH value; the usual folders without one) under the root.
pub fn find_on_path(root: &Root, path: Option<&str>) -> Option<String> {
    path.unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| format!("{}/kubelet", d.trim_end_matches('/')))
        .find(|p| root.exists(p))
}

/// Whether kubestrap wrote this file (its first line says so).
pub fn written_by_kubestrap(root: &Root, path: &str) -> bool {
    root.read_to_string(path).is_ok_and(|t| t.starts_with(MARK))
}

/// kubestrap's drop-in, starting `kubelet`.
pub fn drop_in(kubelet: &str) -> Result<String> {
    templates::render(
        "kubelet/10-kubestrap.conf",
        templates::KUBELET_DROP_IN,
        &[
            ("bootstrapKubeconfig", BOOTSTRAP_KUBECONFIG.to_string()),
            ("kubeconfig", KUBECONFIG.to_string()),
            ("config", paths::KUBELET_CONFIG.to_string()),
            ("flagsEnv", paths::KUBELET_FLAGS_ENV.to_string()),
            ("kubelet", kubelet.to_string()),
        ],
    )
}

/// kubestrap's `kubelet.service`, for a kubelet without one.
pub fn unit(kubelet: &str) -> Result<String> {
    templates::render(
        "kubelet/kubelet.service",
        templates::KUBELET_SERVICE,
        &[("kubelet", kubelet.to_string())],
    )
}

/// The shell command line that runs the kubelet with the files init and join write, as
/// kubestrap's drop-in would start it now (its flags file and the machine's `/etc/default/kubelet`
/// read from disk): for hosts where no service manager runs the kubelet. The environment files'
/// other variables, which systemd would pass on, lead as `NAME=value` words. `path` is the PATH to
/// find the kubelet in.
pub fn command_line(root: &Root, path: Option<&str>) -> Result<Vec<String>> {
    let kubelet = find_on_path(root, path).unwrap_or_else(|| PACKAGE_KUBELET.to_string());
    let service = systemd_unit::parse(DROP_IN, &drop_in(&kubelet)?)?;
    let env = service.environment_at_start(root)?;
    let exec_line = service.exec_line()?;
    let words = shlex::split(exec_line).unwrap_or_default();
    let used = |name: &str| {
        words
            .iter()
            .any(|w| *w == format!("${name}") || w.contains(&format!("${{{name}}}")))
    };
    let passed_on = env
        .iter()
        .filter(|(name, _)| !used(name))
        .map(|(name, value)| format!("{name}={value}"));
    Ok(passed_on
        .chain(systemd_unit::expand(exec_line, &env, false)?)
        .collect())
}

/// The files (path, text) that make the unit read kubestrap's files; none when it already does.
pub fn files_for(state: &State) -> Result<Vec<(&'static str, String)>> {
    Ok(match state {
        State::Reads { .. } => vec![],
        State::Lacks { kubelet, .. } => vec![(DROP_IN, drop_in(kubelet)?)],
        State::NoUnit { kubelet: Some(k) } => vec![(UNIT, unit(k)?), (DROP_IN, drop_in(k)?)],
        State::NoUnit { kubelet: None } => bail!(
            "there is no kubelet.service and no kubelet binary on the PATH, so nothing can run the kubelet: install the kubelet (the `kubelet` package of pkgs.k8s.io, or the binary into /usr/bin), then run this again"
        ),
        State::Broken { unit, why } => bail!(
            "the kubelet's unit `{unit}` cannot be used as it is: {why}. Fix it (`systemctl cat kubelet` shows the unit and its drop-ins), then run this again"
        ),
    })
}

/// The files kubestrap wrote here that are still there (reset removes them).
pub fn kubestrap_files(root: &Root) -> Vec<&'static str> {
    [DROP_IN, UNIT]
        .into_iter()
        .filter(|p| written_by_kubestrap(root, p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGE_UNIT: &str =
        "[Unit]\nDescription=kubelet\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n";
    const KUBEADM_DROP_IN: &str = "[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\nEnvironment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nEnvironmentFile=-/etc/default/kubelet\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n";

    fn root_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        for (p, t) in files {
            root.write(p, t.as_bytes(), 0o644).unwrap();
        }
        (dir, root)
    }

    fn lacks(state: &State) -> (&Vec<String>, &String) {
        match state {
            State::Lacks {
                lacking, kubelet, ..
            } => (lacking, kubelet),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_package_unit_alone_lacks_every_file() {
        let (_d, root) = root_with(&[("/lib/systemd/system/kubelet.service", PACKAGE_UNIT)]);
        let state = inspect(&root, None).unwrap();
        let (lacking, kubelet) = lacks(&state);
        assert_eq!(kubelet, "/usr/bin/kubelet");
        assert_eq!(lacking.len(), 4, "{lacking:?}");
        let files = files_for(&state).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, DROP_IN);
        // Once written, the same unit reads them through kubestrap's drop-in.
        root.write(DROP_IN, files[0].1.as_bytes(), 0o644).unwrap();
        assert_eq!(
            inspect(&root, None).unwrap(),
            State::Reads {
                via: DROP_IN.into(),
                by_kubestrap: true
            }
        );
        assert_eq!(kubestrap_files(&root), [DROP_IN]);
    }

    #[test]
    fn kubeadms_drop_in_is_enough() {
        let (_d, root) = root_with(&[
            ("/usr/lib/systemd/system/kubelet.service", PACKAGE_UNIT),
            (
                "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
                KUBEADM_DROP_IN,
            ),
        ]);
        let state = inspect(&root, None).unwrap();
        assert_eq!(
            state,
            State::Reads {
                via: "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf".into(),
                by_kubestrap: false
            }
        );
        assert!(files_for(&state).unwrap().is_empty());
        assert!(kubestrap_files(&root).is_empty());
    }

    #[test]
    fn a_later_drop_in_that_drops_the_flags_file_is_named() {
        let (_d, root) = root_with(&[
            ("/usr/lib/systemd/system/kubelet.service", PACKAGE_UNIT),
            (
                "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
                KUBEADM_DROP_IN,
            ),
            (
                "/etc/systemd/system/kubelet.service.d/20-mine.conf",
                "[Service]\nExecStart=\nExecStart=/opt/k/kubelet --config=/var/lib/kubelet/config.yaml\n",
            ),
        ]);
        let state = inspect(&root, None).unwrap();
        let (lacking, kubelet) = lacks(&state);
        assert_eq!(kubelet, "/opt/k/kubelet");
        assert!(!lacking.iter().any(|l| l.starts_with("--config")));
        assert!(
            state.describe().contains("20-mine.conf"),
            "{}",
            state.describe()
        );
    }

    #[test]
    fn without_a_unit_the_kubelet_on_the_path_gets_one() {
        let (_d, root) = root_with(&[("/opt/bin/kubelet", "")]);
        let state = inspect(&root, Some("/usr/bin:/opt/bin")).unwrap();
        assert_eq!(
            state,
            State::NoUnit {
                kubelet: Some("/opt/bin/kubelet".into())
            }
        );
        let files = files_for(&state).unwrap();
        assert_eq!(
            files.iter().map(|f| f.0).collect::<Vec<_>>(),
            [UNIT, DROP_IN]
        );
        assert!(files[0].1.contains("ExecStart=/opt/bin/kubelet\n"));
        for (p, t) in &files {
            root.write(p, t.as_bytes(), 0o644).unwrap();
        }
        assert!(matches!(inspect(&root, None).unwrap(), State::Reads { .. }));
        let err = files_for(&State::NoUnit { kubelet: None }).unwrap_err();
        assert!(err.to_string().contains("install the kubelet"), "{err}");
    }

    #[test]
    fn the_command_line_reads_the_flags_file_and_the_extra_args() {
        let (_d, root) = root_with(&[
            ("/opt/bin/kubelet", ""),
            (
                paths::KUBELET_FLAGS_ENV,
                "KUBELET_KUBEADM_ARGS=\"--container-runtime=remote --node-ip=10.0.0.10\"\n",
            ),
            (
                "/etc/default/kubelet",
                "KUBELET_EXTRA_ARGS=--v=2\nAWS_EC2_METADATA_DISABLED=true\n",
            ),
        ]);
        assert_eq!(
            command_line(&root, Some("/opt/bin")).unwrap(),
            [
                "AWS_EC2_METADATA_DISABLED=true",
                "/opt/bin/kubelet",
                "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
                "--kubeconfig=/etc/kubernetes/kubelet.conf",
                "--config=/var/lib/kubelet/config.yaml",
                "--container-runtime=remote",
                "--node-ip=10.0.0.10",
                "--v=2",
            ]
        );
    }

    #[test]
    fn two_exec_starts_are_broken_not_lacking() {
        let (_d, root) = root_with(&[
            ("/usr/lib/systemd/system/kubelet.service", PACKAGE_UNIT),
            (
                "/etc/systemd/system/kubelet.service.d/5-x.conf",
                "[Service]\nExecStart=/usr/bin/kubelet --v=2\n",
            ),
        ]);
        let state = inspect(&root, None).unwrap();
        assert!(matches!(state, State::Broken { .. }), "{state:?}");
        assert!(files_for(&state).is_err());
    }
}
