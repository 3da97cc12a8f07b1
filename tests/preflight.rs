//! Preflight: every check on fixture hosts (library level, scripted machine), the command line,
//! a real listener on a port, and a real containerd whose CRI plugin is disabled, fixed and restored.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubestrap_phases::config::{self, Documents, Overrides};
use kubestrap_phases::cri;
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::{FakeHost, kubelet_unit};
use kubestrap_phases::preflight::{self, Finding, Level, Report, Role, fix};
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::runner::report::RecordingReporter;
use kubestrap_phases::version::KubeVersion;

use crate::support::{kubestrap, text, tree};

fn fixture_hosts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hosts")
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".remove" || name == ".keep" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            let _ = fs::remove_file(&dst);
            symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A fixture host in a temporary folder: `healthy/`, plus the case's files, minus its `.remove` list.
pub fn host_dir(case: &str) -> tempfile::TempDir {
    host_dir_for(case, "v1.31.0")
}

/// [`host_dir`] whose healthy parts (kubelet, containerd's pause image) match another version.
fn host_dir_for(case: &str, version: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture_hosts().join("healthy"), dir.path());
    let v = KubeVersion::parse(version).unwrap();
    let config = dir.path().join("etc/containerd/config.toml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        text.replace(
            "pause:3.10",
            &format!("pause:{}", v.profile().pause_image_tag),
        ),
    )
    .unwrap();
    let kubelet = dir.path().join("usr/bin/kubelet");
    fs::write(&kubelet, format!("#!/bin/sh\necho Kubernetes {v}\n")).unwrap();
    let case_dir = fixture_hosts().join(case);
    assert!(case_dir.is_dir(), "no fixture host {case}");
    if case != "healthy" {
        copy_tree(&case_dir, dir.path());
        if let Ok(list) = fs::read_to_string(case_dir.join(".remove")) {
            for path in list.lines().filter(|l| !l.is_empty()) {
                let p = dir.path().join(path);
                if p.is_dir() {
                    fs::remove_dir_all(&p).unwrap();
                } else {
                    fs::remove_file(&p).unwrap();
                }
            }
        }
    }
    dir
}

/// A scripted machine whose `kubelet --version` is what the fixture's kubelet prints and whose
/// memory is the fixture's `proc/meminfo` MemTotal.
fn fake_for(dir: &Path) -> FakeHost {
    let mut host = FakeHost::healthy();
    host.memory_mb = fs::read_to_string(dir.join("proc/meminfo"))
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024);
    // What the fixture's kubelet script echoes (read, not run: a just-written script may be busy).
    if let Ok(script) = fs::read_to_string(dir.join("usr/bin/kubelet"))
        && let Some(line) = script.lines().find_map(|l| l.strip_prefix("echo "))
    {
        host.outputs
            .insert("kubelet --version".into(), format!("{line}\n"));
    }
    host
}

struct Run {
    report: Report,
    lines: Vec<String>,
    result: anyhow::Result<()>,
    actions: Vec<String>,
}

fn context(
    dir: &Path,
    version: &str,
    host: FakeHost,
    opts: Options,
    out: Arc<RecordingReporter>,
) -> Context {
    let root = Root::new(dir);
    let overrides = Overrides {
        kubernetes_version: Some(version.into()),
        ..Overrides::default()
    };
    let cfg = config::resolve(Documents::default(), &overrides, &root, &host).unwrap();
    Context::new(cfg, root, Box::new(host), Box::new(out), opts)
}

/// Runs the init checks (and `--fix` when `opts.fix`) on a host folder.
fn run_on(dir: &Path, version: &str, host: FakeHost, opts: Options, yes: bool) -> Run {
    let actions = host.actions.clone();
    let out = Arc::new(RecordingReporter {
        yes,
        ..RecordingReporter::default()
    });
    let mut ctx = context(dir, version, host, opts, out.clone());
    let report = preflight::check(&ctx, Role::Init);
    let result = preflight::run_init(&mut ctx);
    let actions = actions.lock().unwrap().clone();
    Run {
        report,
        lines: out.lines(),
        result,
        actions,
    }
}

/// The init checks of a fixture case on a healthy scripted machine.
fn checks(case: &str, version: &str) -> Report {
    checks_with(case, version, |_| {})
}

fn checks_with(case: &str, version: &str, script: impl FnOnce(&mut FakeHost)) -> Report {
    let dir = host_dir_for(case, version);
    let mut host = fake_for(dir.path());
    script(&mut host);
    run_on(dir.path(), version, host, Options::default(), false).report
}

#[track_caller]
fn only<'a>(report: &'a Report, name: &str) -> &'a Finding {
    let found: Vec<&Finding> = report.findings.iter().filter(|f| f.check == name).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {name} finding in {:#?}",
        report.findings
    );
    found[0]
}

#[track_caller]
fn assert_clean(report: &Report) {
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

#[track_caller]
fn assert_only(report: &Report, names: &[&str]) {
    let mut got: Vec<&str> = report.findings.iter().map(|f| f.check.as_str()).collect();
    got.dedup();
    assert_eq!(got, names, "{:#?}", report.findings);
}

// ---- every check on fixture hosts ----

#[test]
fn healthy_host_passes_every_check_of_every_version() {
    // (Before 1.22 the kubelet defaulted to cgroupfs, which this host's containerd does not use.)
    for v in [
        "v1.22.0", "v1.25.0", "v1.28.0", "v1.29.0", "v1.31.0", "v1.36.0",
    ] {
        assert_clean(&checks("healthy", v));
    }
}

#[test]
fn swap_is_an_error_until_1_27_and_a_warning_after() {
    let r = checks("swap-on", "v1.27.0");
    let f = only(&r, "Swap");
    assert_eq!(f.level, Level::Error);
    assert_eq!(
        f.issue.message,
        "running with swap on is not supported. Please disable swap"
    );
    assert_eq!(
        f.issue.fix,
        [
            "swapoff -a",
            "comment out /etc/fstab line 3 so swap stays off after a reboot: `UUID=5b1c7d9e-2f2c-4a0e-9d57-3f5a8e1b6c42 none  swap sw 0 0`",
            "or keep swap: add `failSwapOn: false` to a KubeletConfiguration document of the --config file; kubelet-start writes it",
        ]
    );
    let f = only(&checks("swap-on", "v1.28.0"), "Swap").clone();
    assert_eq!(f.level, Level::Warning);
    assert!(f.issue.message.contains("NodeSwap feature gate"), "{f:?}");
    let f = only(&checks("swap-on", "v1.31.0"), "Swap").clone();
    assert_eq!(f.level, Level::Warning);
    assert!(
        f.issue
            .message
            .starts_with("swap is supported for cgroup v2 only"),
        "{f:?}"
    );
}

fn unimplemented(host: &mut FakeHost) {
    host.cri = Some(Err(cri::CallError::Status {
        code: cri::UNIMPLEMENTED,
        message: "unknown service runtime.v1.RuntimeService".into(),
    }));
}

#[test]
fn cri_disabled_by_dockers_config_names_the_file_and_line() {
    let r = checks_with("cri-disabled-docker", "v1.31.0", unimplemented);
    let f = only(&r, "CRI");
    assert_eq!(f.level, Level::Error);
    assert_eq!(
        f.issue.message,
        "container runtime is not running: validate service connection: CRI v1 runtime API is not implemented for endpoint \"unix:///var/run/containerd/containerd.sock\": rpc error: code = Unimplemented desc = unknown service runtime.v1.RuntimeService"
    );
    assert_eq!(
        f.issue.why.as_deref(),
        Some(
            "/etc/containerd/config.toml line 15: `disabled_plugins = [\"cri\"]` disables containerd's CRI plugin (\"cri\"); containerd packages built for Docker ship this file"
        )
    );
    assert_eq!(
        f.issue.fix,
        [
            "edit /etc/containerd/config.toml line 15: `disabled_plugins = [\"cri\"]` → `disabled_plugins = []`",
            "restart containerd (systemd does not run here)",
        ]
    );
}

#[test]
fn cri_disabled_by_its_full_plugin_id_in_a_list() {
    let r = checks_with("cri-disabled-v2", "v1.31.0", unimplemented);
    let f = only(&r, "CRI");
    assert_eq!(
        f.issue.why.as_deref(),
        Some(
            "/etc/containerd/config.toml line 4: `\"io.containerd.grpc.v1.cri\",` disables containerd's CRI plugin (\"io.containerd.grpc.v1.cri\"); containerd packages built for Docker ship this file"
        )
    );
    assert_eq!(
        f.issue.fix[0],
        "edit /etc/containerd/config.toml line 4: delete `\"io.containerd.grpc.v1.cri\",` from disabled_plugins"
    );
}

#[test]
fn cri_socket_missing_says_how_to_start_the_runtime() {
    let r = checks_with("cri-socket-missing", "v1.31.0", |h| h.cri = None);
    let f = only(&r, "CRI");
    assert_eq!(f.level, Level::Error);
    assert!(f.issue.message.contains("dial unix"), "{f:?}");
    assert_eq!(
        f.issue.fix,
        ["start containerd (systemd does not run here)"]
    );
    let r = checks_with("cri-socket-missing-systemd", "v1.31.0", |h| {
        h.cri = None;
        h.services.insert("kubelet.service".into(), true);
    });
    assert_eq!(
        only(&r, "CRI").issue.fix,
        ["systemctl enable --now containerd"]
    );
    let r = checks_with("containerd-not-installed", "v1.31.0", |h| h.cri = None);
    assert_eq!(
        only(&r, "CRI").issue.fix,
        [
            "apt-get install -y containerd runc",
            "restart containerd (systemd does not run here)"
        ]
    );
}

#[test]
fn cri_v1alpha2_only_runtime_fails_from_1_26() {
    let old = |h: &mut FakeHost| {
        if let Some(Ok(p)) = &mut h.cri {
            p.version.api = "runtime.v1alpha2".into();
            p.version.runtime_version = "1.5.9".into();
        }
    };
    let f = only(&checks_with("healthy", "v1.26.0", old), "CRI").clone();
    assert_eq!(f.level, Level::Error);
    assert!(
        f.issue
            .message
            .contains("containerd 1.5.9 only speaks runtime.v1alpha2"),
        "{f:?}"
    );
    let r = checks_with("healthy", "v1.25.0", old);
    assert!(r.get("CRI").is_none(), "{r:#?}");
}

#[test]
fn cgroup_driver_mismatch_is_an_error_with_the_line() {
    let r = checks("cgroupfs-containerd", "v1.31.0");
    let f = only(&r, "CgroupDriver");
    assert_eq!(f.level, Level::Error);
    assert_eq!(
        f.issue.message,
        "the kubelet uses the \"systemd\" cgroup driver but containerd runs containers with \"cgroupfs\" (SystemdCgroup = false)"
    );
    assert_eq!(
        f.issue.fix,
        [
            "set `SystemdCgroup = true` under [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options] in /etc/containerd/config.toml line 9",
            "restart containerd (systemd does not run here)",
            "or make the kubelet match: `cgroupDriver: cgroupfs` in a KubeletConfiguration document of the --config file",
        ]
    );
    // kubeadm before 1.22 left the kubelet on cgroupfs: no mismatch then.
    assert!(
        checks("cgroupfs-containerd", "v1.21.0")
            .get("CgroupDriver")
            .is_none()
    );
    let r = checks("no-containerd-config", "v1.31.0");
    assert!(
        only(&r, "CgroupDriver").issue.fix[0]
            .ends_with("in a new /etc/containerd/config.toml (none exists)")
    );
    let r = checks("broken-containerd-config", "v1.31.0");
    assert!(
        only(&r, "CgroupDriver")
            .issue
            .message
            .starts_with("cannot read /etc/containerd/config.toml: not valid TOML")
    );
}

#[test]
fn sandbox_image_other_than_the_versions_pause_is_a_warning() {
    let r = checks("sandbox-old", "v1.31.0");
    let f = only(&r, "SandboxImage");
    assert_eq!(f.level, Level::Warning);
    assert_eq!(
        f.issue.message,
        "detected that the sandbox image \"registry.k8s.io/pause:3.6\" of the container runtime is inconsistent with that used by kubeadm. It is recommended to use \"registry.k8s.io/pause:3.10\" as the CRI sandbox image"
    );
    assert_eq!(
        f.issue.fix[0],
        "set `plugins.\"io.containerd.grpc.v1.cri\".sandbox_image = \"registry.k8s.io/pause:3.10\"` in /etc/containerd/config.toml line 5"
    );
    let r = checks("sandbox-old", "v1.29.0");
    assert!(
        only(&r, "SandboxImage")
            .issue
            .message
            .contains("\"registry.k8s.io/pause:3.9\" as")
    );
}

#[test]
fn port_held_by_an_earlier_apiserver_points_to_reset() {
    let r = checks_with("port-apiserver-leftover", "v1.31.0", |h| {
        h.busy_ports = vec![6443]
    });
    let f = only(&r, "Port-6443");
    assert_eq!(f.level, Level::Error);
    assert_eq!(f.issue.message, "Port 6443 is in use");
    assert_eq!(
        f.issue.why.as_deref(),
        Some(
            "kube-apiserver (pid 4242) listens on it: a component left by an earlier init (`kube-apiserver --advertise-address=10.0.0.10 --secure-port=6443`)"
        )
    );
    assert_eq!(
        f.issue.fix,
        ["kubestrap reset   (stops what an earlier init started and removes its files)"]
    );
}

#[test]
fn port_held_by_another_program_names_it() {
    let r = checks_with("port-foreign", "v1.31.0", |h| h.busy_ports = vec![10250]);
    let f = only(&r, "Port-10250");
    assert_eq!(
        f.issue.why.as_deref(),
        Some("nginx (pid 777) listens on it: `nginx: master process /usr/sbin/nginx`")
    );
    assert_eq!(f.issue.fix, ["stop it: kill 777"]);
    let r = checks_with("port-unknown-owner", "v1.31.0", |h| {
        h.busy_ports = vec![2379, 10259]
    });
    assert_only(&r, &["Port-10259", "Port-2379"]);
    assert_eq!(
        only(&r, "Port-2379").issue.fix,
        ["find it with: ss -ltnp 'sport = :2379'"]
    );
}

#[test]
fn leftovers_of_an_earlier_init_point_to_reset() {
    let r = checks("manifests-leftover", "v1.31.0");
    let f = only(
        &r,
        "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml",
    );
    assert_eq!(f.level, Level::Error);
    assert_eq!(
        f.issue.message,
        "/etc/kubernetes/manifests/kube-apiserver.yaml already exists"
    );
    assert_eq!(
        f.issue.fix,
        ["kubestrap reset   (removes what an earlier init or join wrote)"]
    );
    let r = checks("etcd-data-leftover", "v1.31.0");
    let f = only(&r, "DirAvailable--var-lib-etcd");
    assert_eq!(f.issue.message, "/var/lib/etcd is not empty");
    assert_eq!(
        f.issue.fix,
        ["kubestrap reset   (removes the etcd data of an earlier init)"]
    );
}

#[test]
fn ip_forward_off_is_an_error_with_the_sysctl() {
    let r = checks("ip-forward-off", "v1.31.0");
    let f = only(&r, "FileContent--proc-sys-net-ipv4-ip_forward");
    assert_eq!(f.level, Level::Error);
    assert_eq!(
        f.issue.message,
        "/proc/sys/net/ipv4/ip_forward contents are not set to 1"
    );
    assert_eq!(
        f.issue.fix,
        [
            "sysctl -w net.ipv4.ip_forward=1",
            "echo 'net.ipv4.ip_forward = 1' >> /etc/sysctl.d/99-kubernetes.conf"
        ]
    );
}

#[test]
fn ipv6_forwarding_is_checked_for_an_ipv6_node() {
    let r = checks_with("ipv6-forwarding-off", "v1.31.0", |h| {
        h.default_address = Some("fd00::10".parse().unwrap());
    });
    let f = only(&r, "FileContent--proc-sys-net-ipv6-conf-default-forwarding");
    assert_eq!(f.level, Level::Error);
    assert_eq!(
        f.issue.fix[0],
        "sysctl -w net.ipv6.conf.default.forwarding=1"
    );
}

#[test]
fn bridge_nf_is_checked_until_1_29_only() {
    let r = checks("bridge-missing", "v1.29.0");
    let f = only(
        &r,
        "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables",
    );
    assert_eq!(f.level, Level::Error);
    assert_eq!(
        f.issue.message,
        "/proc/sys/net/bridge/bridge-nf-call-iptables does not exist"
    );
    assert_eq!(
        f.issue.fix[0],
        "modprobe br_netfilter && echo br_netfilter >> /etc/modules-load.d/k8s.conf"
    );
    let r = checks("bridge-missing", "v1.30.0");
    assert_only(&r, &["KernelModules"]);
    let f = only(&r, "KernelModules");
    assert_eq!(f.level, Level::Warning);
    assert_eq!(f.issue.message, "kernel module br_netfilter is not loaded");
}

#[test]
fn missing_modules_are_a_warning() {
    let r = checks("modules-missing", "v1.31.0");
    let f = only(&r, "KernelModules");
    assert_eq!(f.level, Level::Warning);
    assert_eq!(
        f.issue.fix,
        ["modprobe overlay && echo overlay >> /etc/modules-load.d/k8s.conf"]
    );
}

#[test]
fn crictl_is_an_error_then_a_warning_then_unchecked() {
    let f = only(&checks("no-crictl", "v1.30.0"), "FileExisting-crictl").clone();
    assert_eq!(f.level, Level::Error);
    assert_eq!(f.issue.message, "crictl not found in system path");
    assert_eq!(f.issue.fix, ["apt-get install -y cri-tools"]);
    let f = only(&checks("no-crictl", "v1.31.0"), "FileExisting-crictl").clone();
    assert_eq!(f.level, Level::Warning);
    assert_clean(&checks("no-crictl", "v1.32.0"));
}

#[test]
fn conntrack_is_required_before_1_32() {
    let f = only(&checks("no-conntrack", "v1.31.0"), "FileExisting-conntrack").clone();
    assert_eq!(f.level, Level::Error);
    assert_clean(&checks("no-conntrack", "v1.32.0"));
    let f = only(&checks("dnf-host", "v1.31.0"), "FileExisting-conntrack").clone();
    assert_eq!(f.issue.fix, ["dnf install -y conntrack-tools"]);
}

#[test]
fn optional_binaries_are_warnings_and_need_the_exec_bit() {
    let f = only(&checks("no-socat", "v1.31.0"), "FileExisting-socat").clone();
    assert_eq!(f.level, Level::Warning);
    assert_eq!(f.issue.fix, ["apt-get install -y socat"]);
    let f = only(&checks("not-executable", "v1.31.0"), "FileExisting-nsenter").clone();
    assert_eq!(f.level, Level::Error);
    assert_eq!(f.issue.fix, ["apt-get install -y util-linux"]);
}

#[test]
fn resources_cpu_and_memory() {
    let f = only(&checks("low-memory", "v1.31.0"), "Mem").clone();
    assert_eq!(f.level, Level::Error);
    assert_eq!(
        f.issue.message,
        "the system RAM (950 MB) is less than the minimum 1700 MB"
    );
    let r = checks_with("healthy", "v1.31.0", |h| h.cpus = 1);
    let f = only(&r, "NumCPU");
    assert_eq!(
        f.issue.message,
        "the number of available CPUs 1 is less than the required 2"
    );
    assert_eq!(
        f.issue.fix,
        [
            "give this machine 2 or more CPUs, or for a test cluster add --ignore-preflight-errors=NumCPU"
        ]
    );
}

#[test]
fn system_verification_kernel_and_cgroups() {
    assert_clean(&checks("old-kernel", "v1.31.0"));
    let r = checks("old-kernel", "v1.32.0");
    let f = only(&r, "SystemVerification");
    assert_eq!(f.level, Level::Error);
    assert!(
        f.issue
            .message
            .starts_with("kernel release 4.4.0-210-generic is unsupported")
    );
    assert_eq!(f.issue.fix, ["run a kernel 4.19 or newer"]);
    let r = checks("cgroup-v1-no-memory", "v1.31.0");
    let found: Vec<(Level, &str)> = r
        .findings
        .iter()
        .filter(|f| f.check == "SystemVerification")
        .map(|f| (f.level, f.issue.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (Level::Error, "missing required cgroups: memory"),
            (Level::Warning, "missing optional cgroups: hugetlb"),
            (
                Level::Warning,
                "cgroups v1 support is in maintenance mode, please migrate to cgroups v2"
            ),
        ]
    );
}

#[test]
fn unknown_hostname_is_a_warning_with_the_hosts_line() {
    let r = checks("hostname-unknown", "v1.31.0");
    let f = only(&r, "Hostname");
    assert_eq!(f.level, Level::Warning);
    assert_eq!(f.issue.message, "hostname \"node1\" could not be reached");
    assert_eq!(f.issue.fix, ["echo '10.0.0.10 node1' >> /etc/hosts"]);
    let r = checks_with("hostname-unknown", "v1.31.0", |h| {
        h.resolvable = vec!["node1".into()]
    });
    assert_clean(&r);
}

#[test]
fn kubelet_version_skew() {
    let f = only(&checks("kubelet-old", "v1.31.0"), "KubeletVersion").clone();
    assert_eq!(f.level, Level::Error);
    assert_eq!(
        f.issue.message,
        "Kubelet version \"v1.27.4\" is lower than kubeadm can support. Please upgrade kubelet"
    );
    assert_eq!(f.issue.fix, ["apt-get install -y kubelet=1.31.*"]);
    let f = only(&checks("kubelet-newer", "v1.31.0"), "KubeletVersion").clone();
    assert!(
        f.issue
            .message
            .starts_with("the kubelet version is higher than the control plane version")
    );
    let f = only(&checks("kubelet-missing", "v1.31.0"), "KubeletVersion").clone();
    assert_eq!(
        f.issue.message,
        "couldn't get kubelet version: cannot execute 'kubelet --version': executable file not found in $PATH"
    );
}

#[test]
fn systemd_services_kubelet_and_firewalld() {
    let r = checks_with("systemd-host", "v1.31.0", |h| {
        h.services.insert("kubelet.service".into(), false);
        h.active = vec!["firewalld".into()];
    });
    assert_only(&r, &["Firewalld", "Service-Kubelet", "KubeletUnit"]);
    let f = only(&r, "Service-Kubelet");
    assert_eq!(f.level, Level::Warning);
    assert_eq!(
        f.issue.message,
        "kubelet service is not enabled, please run 'systemctl enable kubelet.service'"
    );
    assert_eq!(
        only(&r, "Firewalld").issue.fix,
        [
            "firewall-cmd --permanent --add-port=6443/tcp --add-port=10250/tcp && firewall-cmd --reload"
        ]
    );
    let r = checks("systemd-host", "v1.31.0");
    assert_eq!(
        only(&r, "Service-Kubelet").issue.message,
        "kubelet service does not exist"
    );
}

#[test]
fn proxies_must_exempt_the_node_and_cluster_ranges() {
    let r = checks_with("healthy", "v1.31.0", |h| {
        h.env
            .insert("HTTPS_PROXY".into(), "http://proxy:3128".into());
    });
    assert_eq!(
        only(&r, "HTTPProxy").issue.message,
        "Connection to \"https://10.0.0.10\" uses proxy \"http://proxy:3128\". If that is not intended, adjust your proxy settings"
    );
    assert_eq!(
        only(&r, "HTTPProxyCIDR").issue.fix,
        ["export NO_PROXY=$NO_PROXY,10.96.0.0/12"]
    );
    let r = checks_with("healthy", "v1.31.0", |h| {
        h.env
            .insert("HTTPS_PROXY".into(), "http://proxy:3128".into());
        h.env.insert("NO_PROXY".into(), "10.0.0.0/8".into());
    });
    assert_clean(&r);
}

#[test]
fn non_root_fails_fast_except_in_dry_run() {
    let dir = host_dir_for("swap-on", "v1.27.0");
    let mut host = fake_for(dir.path());
    host.root = false;
    let run = run_on(dir.path(), "v1.27.0", host, Options::default(), false);
    assert_only(&run.report, &["IsPrivilegedUser"]);
    assert_eq!(run.report.findings[0].level, Level::Error);
    assert!(run.result.is_err());
    let mut host = fake_for(dir.path());
    host.root = false;
    let opts = Options {
        dry_run: true,
        ..Options::default()
    };
    let run = run_on(dir.path(), "v1.27.0", host, opts, false);
    assert_only(&run.report, &["IsPrivilegedUser", "Swap"]);
    assert_eq!(only(&run.report, "IsPrivilegedUser").level, Level::Warning);
}

#[test]
fn join_checks_look_for_an_earlier_join() {
    let dir = host_dir("join-leftover");
    let host = fake_for(dir.path());
    let out = Arc::new(RecordingReporter::default());
    let ctx = context(dir.path(), "v1.31.0", host, Options::default(), out);
    let r = preflight::check(&ctx, Role::Join);
    let f = only(&r, "FileAvailable--etc-kubernetes-kubelet.conf");
    assert_eq!(
        f.issue.message,
        "/etc/kubernetes/kubelet.conf already exists"
    );
    assert!(r.get("Port-6443").is_none());
}

#[test]
fn a_control_plane_join_also_runs_init_s_node_checks() {
    let dir = host_dir("join-leftover");
    let mut host = fake_for(dir.path());
    host.busy_ports = vec![6443, 2380, 10257];
    // Copied by hand with the other shared certificates: not a leftover of an earlier join.
    fs::create_dir_all(dir.path().join("etc/kubernetes/pki")).unwrap();
    fs::write(dir.path().join("etc/kubernetes/pki/ca.crt"), "").unwrap();
    let out = Arc::new(RecordingReporter::default());
    let ctx = context(dir.path(), "v1.31.0", host, Options::default(), out);
    let r = preflight::check(&ctx, Role::JoinControlPlane);
    for check in [
        "Port-6443",
        "Port-2380",
        "Port-10257",
        "FileAvailable--etc-kubernetes-kubelet.conf",
    ] {
        assert_eq!(only(&r, check).level, Level::Error, "{check}");
    }
    // The CA comes with the shared certificates, not before.
    assert!(
        r.get("FileAvailable--etc-kubernetes-pki-ca.crt").is_none(),
        "{:?}",
        r.findings
    );
    let worker = preflight::check(&ctx, Role::Join);
    assert!(worker.get("Port-2380").is_none() && worker.get("Port-6443").is_none());
    assert!(
        worker
            .get("FileAvailable--etc-kubernetes-pki-ca.crt")
            .is_some()
    );
}

// ---- --ignore-preflight-errors ----

#[test]
fn ignored_errors_become_warnings_and_warnings_stay() {
    let dir = host_dir_for("swap-on", "v1.27.0");
    let opts = |list: &[&str]| Options {
        ignore_preflight_errors: list.iter().map(|s| s.to_string()).collect(),
        ..Options::default()
    };
    let run = run_on(
        dir.path(),
        "v1.27.0",
        fake_for(dir.path()),
        opts(&[]),
        false,
    );
    assert!(run.lines.contains(&"[ERROR Swap]: running with swap on is not supported. Please disable swap\n\twhy: swap is on (/dev/sda2); the kubelet refuses to start with swap unless its KubeletConfiguration says `failSwapOn: false`\n\tfix: swapoff -a\n\t     comment out /etc/fstab line 3 so swap stays off after a reboot: `UUID=5b1c7d9e-2f2c-4a0e-9d57-3f5a8e1b6c42 none  swap sw 0 0`\n\t     or keep swap: add `failSwapOn: false` to a KubeletConfiguration document of the --config file; kubelet-start writes it\n\tauto: `--fix` does this for you, reversibly (kubestrap preflight --fix)".to_string()), "{:#?}", run.lines);
    let err = run.result.unwrap_err();
    assert!(err.downcast_ref::<preflight::PreflightFailed>().is_some());

    let run = run_on(
        dir.path(),
        "v1.27.0",
        fake_for(dir.path()),
        opts(&["swap"]),
        false,
    );
    run.result.unwrap();
    let f = only(&run.report, "Swap");
    assert_eq!((f.level, f.ignored), (Level::Warning, true));
    assert!(
        run.lines
            .iter()
            .any(|l| l.starts_with("[WARNING Swap]: running with swap on"))
    );

    let run = run_on(
        dir.path(),
        "v1.27.0",
        fake_for(dir.path()),
        opts(&["all"]),
        false,
    );
    run.result.unwrap();
    // A warning-level check is not marked as ignored.
    let r = checks_with("swap-on", "v1.31.0", |_| {});
    assert!(!only(&r, "Swap").ignored);
    assert!(preflight::ignores(&["numcpu".into()], "NumCPU"));
    assert!(!preflight::ignores(&["swap".into()], "NumCPU"));
}

// ---- the kubelet's systemd unit ----

/// The systemd host with the packages' unit files (from fixtures/systemd) at these paths.
fn systemd_host_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = host_dir_for("systemd-host", "v1.31.0");
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/systemd");
    for (dest, fixture) in files {
        let to = dir.path().join(dest.trim_start_matches('/'));
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(units.join(fixture), to).unwrap();
    }
    dir
}

const PACKAGE_UNIT: (&str, &str) = ("/usr/lib/systemd/system/kubelet.service", "kubelet.service");
const KUBEADM_DROP_IN: (&str, &str) = (
    "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
    "10-kubeadm.conf",
);

fn kubelet_unit_findings(dir: &Path) -> Vec<Finding> {
    let host = fake_for(dir);
    let r = run_on(dir, "v1.31.0", host, Options::default(), false).report;
    r.findings
        .into_iter()
        .filter(|f| f.check == "KubeletUnit")
        .collect()
}

#[test]
fn kubelet_unit_check_for_each_layout() {
    // No unit at all: the kubelet on the PATH gets one.
    let dir = systemd_host_with(&[]);
    let f = kubelet_unit_findings(dir.path());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].level, Level::Warning);
    assert_eq!(
        f[0].issue.message,
        "there is no kubelet.service for the kubelet at `/usr/bin/kubelet`"
    );
    assert!(
        f[0].issue.fix[0].contains(kubelet_unit::UNIT),
        "{:?}",
        f[0].issue.fix
    );

    // The package's unit alone starts a kubelet that reads none of kubestrap's files.
    let dir = systemd_host_with(&[PACKAGE_UNIT]);
    let f = kubelet_unit_findings(dir.path());
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].issue.message,
        "`/usr/lib/systemd/system/kubelet.service` (no drop-in) starts the kubelet without --config=/var/lib/kubelet/config.yaml, --kubeconfig=/etc/kubernetes/kubelet.conf, --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf, $KUBELET_KUBEADM_ARGS from /var/lib/kubelet/kubeadm-flags.env"
    );
    assert!(f[0].issue.repair.is_some());

    // kubeadm's drop-in, or kubestrap's, is enough.
    let dir = systemd_host_with(&[PACKAGE_UNIT, KUBEADM_DROP_IN]);
    assert!(kubelet_unit_findings(dir.path()).is_empty());
    let dir = systemd_host_with(&[PACKAGE_UNIT]);
    Root::new(dir.path())
        .write(
            kubelet_unit::DROP_IN,
            kubelet_unit::drop_in("/usr/bin/kubelet")
                .unwrap()
                .as_bytes(),
            0o644,
        )
        .unwrap();
    assert!(kubelet_unit_findings(dir.path()).is_empty());

    // A second ExecStart without a reset: systemd would refuse the unit.
    let dir = systemd_host_with(&[PACKAGE_UNIT]);
    let extra = dir
        .path()
        .join("etc/systemd/system/kubelet.service.d/20-extra.conf");
    fs::create_dir_all(extra.parent().unwrap()).unwrap();
    fs::write(&extra, "[Service]\nExecStart=/usr/bin/kubelet --v=4\n").unwrap();
    let f = kubelet_unit_findings(dir.path());
    assert_eq!(f[0].level, Level::Error);
    assert!(
        f[0].issue.message.contains("2 ExecStart= lines"),
        "{}",
        f[0].issue.message
    );

    // No systemd: nothing to say.
    assert!(kubelet_unit_findings(host_dir("healthy").path()).is_empty());
}

#[test]
fn fix_writes_the_kubelet_drop_in_and_undo_removes_it() {
    let dir = systemd_host_with(&[PACKAGE_UNIT]);
    let root = dir.path();
    let before = snapshot(root);
    let opts = Options {
        fix: true,
        ..Options::default()
    };
    let run = run_on(root, "v1.31.0", fake_for(root), opts, true);
    assert!(
        run.lines.iter().any(|l| l
            == "[fix] 1. /etc/systemd/system/kubelet.service.d/10-kubestrap.conf: absent → written by kubestrap   (write the file)"),
        "{:#?}",
        run.lines
    );
    assert_eq!(
        run.actions,
        [
            "systemctl daemon-reload",
            "systemctl enable kubelet.service"
        ]
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/systemd/system/kubelet.service.d/10-kubestrap.conf"))
            .unwrap(),
        kubelet_unit::drop_in("/usr/bin/kubelet").unwrap()
    );
    assert!(kubelet_unit_findings(root).is_empty());

    let host = fake_for(root);
    let actions = host.actions.clone();
    let out = RecordingReporter::default();
    fix::undo(&fix::Machine {
        root: &Root::new(root),
        host: &host,
        out: &out,
    })
    .unwrap();
    assert!(
        snapshot(root) == before,
        "the host differs after --undo-fixes"
    );
    assert_eq!(*actions.lock().unwrap(), ["systemctl daemon-reload"]);
}

#[test]
fn kubelet_unit_files_match_their_golden_copies_and_pass_systemd_analyze() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/kubelet-unit");
    for (name, text) in [
        (
            "10-kubestrap.conf",
            kubelet_unit::drop_in("/usr/bin/kubelet").unwrap(),
        ),
        (
            "kubelet.service",
            kubelet_unit::unit("/usr/bin/kubelet").unwrap(),
        ),
    ] {
        let path = golden.join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            fs::create_dir_all(&golden).unwrap();
            fs::write(&path, &text).unwrap();
        }
        assert_eq!(
            text,
            fs::read_to_string(&path).unwrap(),
            "{} differs; UPDATE_GOLDEN=1 rewrites it",
            path.display()
        );
    }
    // systemd's own reading of the unit and drop-in (ExecStart must name an executable).
    let dir = tempfile::tempdir().unwrap();
    let kubelet = dir.path().join("kubelet");
    fs::write(&kubelet, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&kubelet, fs::Permissions::from_mode(0o755)).unwrap();
    let kubelet = kubelet.to_str().unwrap();
    let units = dir.path().join("etc/systemd/system");
    fs::create_dir_all(units.join("kubelet.service.d")).unwrap();
    fs::write(
        units.join("kubelet.service"),
        kubelet_unit::unit(kubelet).unwrap(),
    )
    .unwrap();
    fs::write(
        units.join("kubelet.service.d/10-kubestrap.conf"),
        kubelet_unit::drop_in(kubelet).unwrap(),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "kubelet.service"])
        .env("SYSTEMD_UNIT_PATH", format!("{}:", units.display()))
        .output()
        .expect("systemd-analyze (Debian package systemd) is needed for this test");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.is_empty(),
        "systemd-analyze verify: {said}"
    );
    // It does complain about a broken drop-in, so the silence above means something.
    fs::write(
        units.join("kubelet.service.d/20-bad.conf"),
        "[Service]\nExecStartt=/x\n",
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "kubelet.service"])
        .env("SYSTEMD_UNIT_PATH", format!("{}:", units.display()))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("ExecStartt"));
}

// ---- --fix and --undo-fixes ----

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    tree(dir)
        .into_iter()
        .map(|p| {
            let full = dir.join(&p);
            let meta = fs::symlink_metadata(&full).unwrap();
            let bytes = if meta.file_type().is_symlink() {
                fs::read_link(&full)
                    .unwrap()
                    .display()
                    .to_string()
                    .into_bytes()
            } else {
                fs::read(&full).unwrap()
            };
            (p, bytes, meta.permissions().mode())
        })
        .collect()
}

#[test]
fn fix_plans_applies_journals_and_undo_restores_every_byte() {
    let dir = host_dir_for("broken-host", "v1.29.0");
    let before = snapshot(dir.path());
    let mut host = fake_for(dir.path());
    unimplemented(&mut host);
    let opts = Options {
        fix: true,
        ..Options::default()
    };
    let run = run_on(dir.path(), "v1.29.0", host, opts.clone(), true);
    let plan: Vec<&String> = run
        .lines
        .iter()
        .filter(|l| l.starts_with("[fix] "))
        .collect();
    let expected_plan = [
        "[fix] kubestrap can make these changes:",
        "[fix] 1. kernel module br_netfilter (and /etc/modules-load.d/kubestrap.conf): not loaded → loaded now and at boot   (modprobe br_netfilter)",
        "[fix] 2. net.bridge.bridge-nf-call-iptables (and /etc/sysctl.d/99-kubestrap.conf): absent → 1   (sysctl -w net.bridge.bridge-nf-call-iptables=1)",
        "[fix] 3. net.ipv4.ip_forward (and /etc/sysctl.d/99-kubestrap.conf): 0 → 1   (sysctl -w net.ipv4.ip_forward=1)",
        "[fix] 4. swap: on (/swapfile) → off   (swapoff -a)",
        "[fix] 5. /etc/fstab line 3: /swapfile none swap sw 0 0 → # /swapfile none swap sw 0 0   (edit the file (a backup is kept))",
        "[fix] 6. /etc/containerd/config.toml line 15: \"cri\" in disabled_plugins: present → removed   (edit the file (a backup is kept))",
        "[fix] 7. /etc/containerd/config.toml plugins.cri.containerd.runtimes.runc.options.SystemdCgroup: unset (false) → true   (edit the file (a backup is kept))",
        "[fix] 8. containerd: running with the old config → restarted   (restart containerd yourself (systemd does not run here))",
    ];
    assert_eq!(&plan[..9], expected_plan, "{:#?}", run.lines);
    assert!(
        run.lines
            .iter()
            .any(|l| l.starts_with("confirm Apply these 8 changes?"))
    );
    assert_eq!(
        run.actions,
        ["modprobe br_netfilter", "write 1", "write 1", "swapoff -a"]
    );
    let root = dir.path();
    assert_eq!(
        fs::read_to_string(root.join("etc/sysctl.d/99-kubestrap.conf")).unwrap(),
        "# Kernel settings Kubernetes needs, written by kubestrap preflight --fix\nnet.bridge.bridge-nf-call-iptables = 1\nnet.ipv4.ip_forward = 1\n"
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/modules-load.d/kubestrap.conf")).unwrap(),
        "# Kernel modules Kubernetes needs, written by kubestrap preflight --fix\nbr_netfilter\n"
    );
    assert!(
        fs::read_to_string(root.join("etc/fstab"))
            .unwrap()
            .ends_with("\n# /swapfile none swap sw 0 0\n")
    );
    assert_eq!(
        fs::read_to_string(root.join("proc/sys/net/ipv4/ip_forward")).unwrap(),
        "1\n"
    );
    let config = fs::read_to_string(root.join("etc/containerd/config.toml")).unwrap();
    assert!(config.contains("\ndisabled_plugins = []\n"), "{config}");
    assert!(config.contains("SystemdCgroup = true"), "{config}");
    assert!(root.join("var/lib/kubestrap/fixes.json").exists());

    // Undo: every file back byte for byte, and the settings.
    let actions = FakeHost::default().actions.clone();
    let host = FakeHost {
        actions: actions.clone(),
        ..fake_for(root)
    };
    let out = RecordingReporter::default();
    let n = fix::undo(&fix::Machine {
        root: &Root::new(root),
        host: &host,
        out: &out,
    })
    .unwrap();
    assert_eq!(n, 9, "{:#?}", out.lines());
    // `modprobe -r br_netfilter` takes its settings away on a real host; the fake leaves the file.
    fs::remove_dir_all(root.join("proc/sys/net/bridge")).unwrap();
    assert!(
        snapshot(root) == before,
        "the host differs after --undo-fixes"
    );
    assert_eq!(
        *actions.lock().unwrap(),
        ["swapon /swapfile", "write 0", "modprobe -r br_netfilter"]
    );
}

/// Under another `--root`, `--fix` edits the files under it but runs nothing on this machine
/// (no modprobe, sysctl write or swapoff), saying so for each; `--undo-fixes` likewise.
#[test]
fn fix_and_undo_under_another_root_run_nothing_on_this_machine() {
    let dir = host_dir_for("broken-host", "v1.29.0");
    let root = dir.path();
    let mut host = fake_for(root);
    unimplemented(&mut host);
    host.elsewhere = true;
    let opts = Options {
        fix: true,
        ..Options::default()
    };
    let run = run_on(root, "v1.29.0", host, opts, true);
    assert!(run.actions.is_empty(), "{:?}", run.actions);
    for what in [
        "modprobe br_netfilter",
        "sysctl -w net.ipv4.ip_forward=1",
        "swapoff -a",
        "systemctl restart containerd",
    ] {
        assert!(
            run.lines.iter().any(|l| l.contains(&format!(
                "not /: skipped `{what}`, which would change this machine"
            ))),
            "{what}: {:#?}",
            run.lines
        );
    }
    assert_eq!(
        fs::read_to_string(root.join("proc/sys/net/ipv4/ip_forward")).unwrap(),
        "0\n"
    );
    assert!(
        fs::read_to_string(root.join("etc/fstab"))
            .unwrap()
            .ends_with("\n# /swapfile none swap sw 0 0\n")
    );

    fs::write(
        root.join("var/lib/kubestrap/fixes.json"),
        r#"[{"kind":"module","name":"br_netfilter"},{"kind":"swap","device":"/swapfile"},
            {"kind":"setting","path":"/proc/sys/net/ipv4/ip_forward","before":"0"},
            {"kind":"restart","unit":"containerd"}]"#,
    )
    .unwrap();
    let host = FakeHost {
        elsewhere: true,
        ..fake_for(root)
    };
    let out = RecordingReporter::default();
    fix::undo(&fix::Machine {
        root: &Root::new(root),
        host: &host,
        out: &out,
    })
    .unwrap();
    assert!(host.actions().is_empty(), "{:?}", host.actions());
    assert!(
        out.lines()
            .iter()
            .any(|l| l.contains("skipped `modprobe -r br_netfilter`")),
        "{:#?}",
        out.lines()
    );
}

#[test]
fn fix_without_consent_changes_nothing() {
    let dir = host_dir("ip-forward-off");
    let before = snapshot(dir.path());
    let opts = Options {
        fix: true,
        ..Options::default()
    };
    let run = run_on(dir.path(), "v1.31.0", fake_for(dir.path()), opts, false);
    assert!(run.result.is_err());
    assert!(
        run.lines
            .iter()
            .any(|l| l.starts_with("[fix] 1. net.ipv4.ip_forward"))
    );
    assert_eq!(snapshot(dir.path()), before);
    assert!(run.actions.is_empty());
}

// ---- the binary ----

fn root_arg(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

#[test]
fn command_exit_codes_and_ignore_flags() {
    let dir = host_dir("swap-on");
    let base = [
        "preflight",
        "--root",
        root_arg(dir.path()),
        "--kubernetes-version",
        "v1.27.0",
    ];
    let out = kubestrap(&base);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("[ERROR Swap]: running with swap on is not supported. Please disable swap"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[ERROR CRI]: container runtime is not running"),
        "{stderr}"
    );
    assert!(stderr.contains("--ignore-preflight-errors=..."), "{stderr}");

    let mut args = base.to_vec();
    args.push("--ignore-preflight-errors=SWAP,cri");
    let out = kubestrap(&args);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("[WARNING Swap]: running with swap on"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[WARNING CRI]: container runtime is not running"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("[ERROR Swap]") && !stderr.contains("[ERROR CRI]"),
        "{stderr}"
    );

    let mut args = base.to_vec();
    args.push("--ignore-preflight-errors=all,Swap");
    let out = kubestrap(&args);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("`nodeRegistration.ignorePreflightErrors`: don't specify individual checks if 'all' is used"), "{stderr}");

    let mut args = base.to_vec();
    args.push("--ignore-preflight-errors=all");
    let out = kubestrap(&args);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("[ERROR"), "{stderr}");
}

#[test]
fn config_ignore_list_joins_the_flags() {
    let dir = host_dir_for("swap-on", "v1.27.0");
    let mut host = fake_for(dir.path());
    host.cri = None;
    let root = Root::new(dir.path());
    let mut docs = Documents::default();
    docs.init.node_registration.ignore_preflight_errors = vec!["Swap".into()];
    let overrides = Overrides {
        kubernetes_version: Some("v1.27.0".into()),
        // With no runtime, the image run fails too (as kubeadm's does).
        ignore_preflight_errors: vec!["CRI".into(), "ImagePull".into()],
        ..Overrides::default()
    };
    let cfg = config::resolve(docs, &overrides, &root, &host).unwrap();
    let opts = Options {
        ignore_preflight_errors: cfg
            .init
            .node_registration
            .ignore_preflight_errors
            .iter()
            .map(|s| s.to_lowercase())
            .collect(),
        ..Options::default()
    };
    let out = Arc::new(RecordingReporter::default());
    let mut ctx = Context::new(cfg, root, Box::new(host), Box::new(out.clone()), opts);
    preflight::run_init(&mut ctx).unwrap();
    let lines = out.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[WARNING Swap]: running with swap on")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[WARNING CRI]: container runtime is not running")),
        "{lines:#?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("[WARNING ImagePull]: failed to check if image"))
            .count(),
        1,
        "{lines:#?}"
    );
}

#[test]
fn a_real_listener_is_named_with_its_pid() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = host_dir("healthy");
    // This host's real /proc, so the owner of the port can be found.
    fs::remove_dir_all(dir.path().join("proc")).unwrap();
    symlink("/proc", dir.path().join("proc")).unwrap();
    let port_arg = port.to_string();
    let out = kubestrap(&[
        "preflight",
        "--root",
        root_arg(dir.path()),
        "--apiserver-bind-port",
        &port_arg,
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("[ERROR Port-{port}]: Port {port} is in use\n")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("(pid {}) listens on it", std::process::id())),
        "{stderr}"
    );
    assert!(
        stderr.contains("or choose another port with --apiserver-bind-port"),
        "{stderr}"
    );
    drop(listener);
}

// ---- a real containerd ----

/// A containerd started for one test; killed (and waited for) when dropped, even on a failed assert.
struct Containerd {
    child: Option<Child>,
    config: PathBuf,
    socket: PathBuf,
    log: PathBuf,
}

impl Containerd {
    fn start(config: &Path, socket: &Path, log: &Path) -> Self {
        let mut c = Containerd {
            child: None,
            config: config.into(),
            socket: socket.into(),
            log: log.into(),
        };
        c.spawn();
        c
    }

    fn spawn(&mut self) {
        let log = fs::File::create(&self.log).unwrap();
        let _ = fs::remove_file(&self.socket);
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("containerd is missing: install the Debian packages `containerd` and `runc`");
        self.child = Some(child);
        let start = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "containerd did not open {}: {}",
                self.socket.display(),
                fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Waits (bounded) until the CRI plugin answers and says the runtime is ready: containerd
    /// opens its socket before the plugin has finished starting.
    fn wait_for_cri(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let probe = cri::probe(&self.socket, Duration::from_secs(10));
            let ready = probe.as_ref().is_ok_and(|p| {
                p.conditions
                    .iter()
                    .any(|c| c.kind == "RuntimeReady" && c.status)
            });
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "containerd's CRI plugin did not become ready ({probe:?}): {}",
                fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn real_containerd_with_cri_disabled_is_fixed_and_restored() {
    let dir = host_dir("healthy");
    let root = dir.path();
    let state = tempfile::tempdir().unwrap();
    let socket = root.join("var/run/containerd/containerd.sock");
    fs::create_dir_all(socket.parent().unwrap()).unwrap();
    // Docker's file, plus the settings that keep this containerd to its own folders.
    let docker =
        fs::read_to_string(fixture_hosts().join("cri-disabled-docker/etc/containerd/config.toml"))
            .unwrap();
    let own = format!(
        "root = \"{s}/root\"\nstate = \"{s}/state\"\n\n[grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n[debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
        s = state.path().display(),
        sock = socket.display()
    );
    let original = docker.replace(
        "disabled_plugins = [\"cri\"]\n",
        &format!("disabled_plugins = [\"cri\"]\n{own}"),
    );
    let config = root.join("etc/containerd/config.toml");
    fs::write(&config, &original).unwrap();
    let mut containerd = Containerd::start(&config, &socket, &state.path().join("containerd.log"));
    // Should every check pass, the image run must not reach for a registry.
    let kubeadm = state.path().join("kubeadm.yaml");
    fs::write(
        &kubeadm,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  imagePullPolicy: Never\n",
    )
    .unwrap();

    let args = [
        "preflight",
        "-v",
        "--root",
        root_arg(root),
        "--cri-socket",
        "unix:///var/run/containerd/containerd.sock",
        "--config",
        kubeadm.to_str().unwrap(),
    ];
    let out = kubestrap(&args);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[ERROR CRI]: container runtime is not running: validate service connection: CRI v1 runtime API is not implemented for endpoint \"unix:///var/run/containerd/containerd.sock\": rpc error: code = Unimplemented desc = unknown service runtime.v1.RuntimeService\n\twhy: /etc/containerd/config.toml line 15: `disabled_plugins = [\"cri\"]` disables containerd's CRI plugin"), "{stderr}");

    let mut fix_args = args.to_vec();
    fix_args.extend(["--fix", "--yes"]);
    let out = kubestrap(&fix_args);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("[fix] updated /etc/containerd/config.toml (backup kept)"),
        "{stderr}"
    );
    let fixed = fs::read_to_string(&config).unwrap();
    assert!(fixed.contains("\ndisabled_plugins = []\n"), "{fixed}");

    containerd.restart();
    containerd.wait_for_cri();
    let out = kubestrap(&args);
    let (_, stderr) = text(&out);
    assert!(
        !stderr.contains("[ERROR CRI]") && !stderr.contains("[ERROR CgroupDriver]"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[preflight] CRI: containerd 1.6"),
        "{stderr}"
    );
    assert!(
        stderr.contains("answers on unix:///var/run/containerd/containerd.sock (runtime.v1)"),
        "{stderr}"
    );

    let out = kubestrap(&["preflight", "--root", root_arg(root), "--undo-fixes"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(fs::read(&config).unwrap(), original.as_bytes());
    assert!(!root.join("var/lib/kubestrap").exists());
    drop(containerd);
}

#[test]
fn kernel_config_is_read_from_boot() {
    let r = checks("kernel-config-missing", "v1.31.0");
    let f = only(&r, "SystemVerification");
    assert_eq!(f.level, Level::Error);
    assert_eq!(
        f.issue.message,
        "unexpected kernel config: CONFIG_MEMCG CONFIG_NETFILTER_XT_TARGET_REDIRECT"
    );
    assert_eq!(
        f.issue.fix,
        ["run a distribution kernel, or rebuild this one with those options (y or m)"]
    );
    let r = checks("no-kernel-config", "v1.31.0");
    let f = only(&r, "SystemVerification");
    assert_eq!(f.level, Level::Warning);
    assert_eq!(
        f.issue.message,
        "failed to parse kernel config: /boot/config-6.1.0-18-amd64 does not exist"
    );
    assert_eq!(
        f.issue.why.as_deref(),
        Some("nor does a readable /proc/config.gz: the kernel's build options cannot be checked")
    );
}

#[test]
fn kernel_config_falls_back_to_proc_config_gz() {
    assert_clean(&checks("proc-config-gz", "v1.31.0"));
    let r = checks("proc-config-gz-missing", "v1.31.0");
    let f = only(&r, "SystemVerification");
    assert_eq!(f.level, Level::Error);
    assert_eq!(
        f.issue.message,
        "unexpected kernel config: CONFIG_MEMCG CONFIG_NETFILTER_XT_TARGET_REDIRECT"
    );
    assert_eq!(
        f.issue.why.as_deref(),
        Some("/proc/config.gz does not enable them")
    );
}

#[test]
fn a_guessed_advertise_address_on_a_multi_homed_host_is_named() {
    let eth1 = ("eth1".to_string(), "192.168.56.10".parse().unwrap());
    let r = checks_with("healthy", "v1.31.0", |h| {
        h.addresses.push(eth1.clone());
        h.addresses
            .push(("docker0".into(), "172.17.0.1".parse().unwrap()));
    });
    let f = only(&r, "AdvertiseAddress");
    assert_eq!(f.level, Level::Warning);
    assert_eq!(
        f.issue.message,
        "using 10.0.0.10 (the default route's interface) as the advertise address; this host also has 192.168.56.10 (eth1)"
    );
    let r = checks_with("healthy", "v1.31.0", |h| {
        h.default_address = Some("10.0.2.15".parse().unwrap());
        h.addresses = vec![("eth0".into(), "10.0.2.15".parse().unwrap()), eth1.clone()];
    });
    let f = only(&r, "AdvertiseAddress");
    assert!(
        f.issue
            .message
            .starts_with("the advertise address 10.0.2.15 is VirtualBox's NAT address")
    );
    assert_eq!(f.issue.fix, ["--apiserver-advertise-address 192.168.56.10"]);
    // An address given explicitly is the user's choice.
    let dir = host_dir("healthy");
    let mut host = fake_for(dir.path());
    host.addresses.push(eth1);
    let root = Root::new(dir.path());
    let overrides = Overrides {
        kubernetes_version: Some("v1.31.0".into()),
        advertise_address: Some("10.0.0.10".into()),
        ..Overrides::default()
    };
    let cfg = config::resolve(Documents::default(), &overrides, &root, &host).unwrap();
    let out = Arc::new(RecordingReporter::default());
    let ctx = Context::new(cfg, root, Box::new(host), Box::new(out), Options::default());
    assert_clean(&preflight::check(&ctx, Role::Init));
}

// ---- images ----

/// The init checks plus the image run of a fixture host, on a scripted machine.
fn images_with(policy: &str, script: impl FnOnce(&mut FakeHost)) -> (Report, Vec<String>) {
    let dir = host_dir("healthy");
    let mut host = fake_for(dir.path());
    script(&mut host);
    let actions = host.actions.clone();
    let root = Root::new(dir.path());
    let overrides = Overrides {
        kubernetes_version: Some("v1.31.0".into()),
        ..Overrides::default()
    };
    let mut cfg = config::resolve(Documents::default(), &overrides, &root, &host).unwrap();
    cfg.init.node_registration.image_pull_policy = policy.into();
    let out = Arc::new(RecordingReporter::default());
    let ctx = Context::new(cfg, root, Box::new(host), Box::new(out), Options::default());
    let report = preflight::check_images(&ctx);
    let actions = actions.lock().unwrap().clone();
    (report, actions)
}

#[test]
fn image_pull_follows_the_pull_policy() {
    // Every image present: nothing pulled.
    let (r, actions) = images_with("IfNotPresent", |_| {});
    assert_clean(&r);
    assert!(actions.is_empty(), "{actions:?}");
    // One absent: only that one pulled.
    let coredns = "registry.k8s.io/coredns/coredns:v1.11.1".to_string();
    let (r, actions) = images_with("IfNotPresent", |h| {
        h.absent_images.insert(coredns.clone(), Ok(coredns.clone()));
    });
    assert_clean(&r);
    assert_eq!(actions, [format!("pull {coredns}")]);
    // Always: every image, in kubeadm's order.
    let (r, actions) = images_with("Always", |_| {});
    assert_clean(&r);
    assert_eq!(
        actions,
        [
            "pull registry.k8s.io/kube-apiserver:v1.31.0",
            "pull registry.k8s.io/kube-controller-manager:v1.31.0",
            "pull registry.k8s.io/kube-scheduler:v1.31.0",
            "pull registry.k8s.io/kube-proxy:v1.31.0",
            "pull registry.k8s.io/coredns/coredns:v1.11.1",
            "pull registry.k8s.io/pause:3.10",
            "pull registry.k8s.io/etcd:3.5.15-0",
        ]
    );
    // Never: not even asked.
    let (r, actions) = images_with("Never", |h| {
        h.absent_images.insert(coredns.clone(), Ok(coredns.clone()));
    });
    assert_clean(&r);
    assert!(actions.is_empty(), "{actions:?}");
    let (r, _) = images_with("Sometimes", |_| {});
    assert_eq!(
        only(&r, "ImagePull").issue.message,
        "unsupported pull policy \"Sometimes\""
    );
    // A failed pull names the image, the registry and three ways out.
    let (r, _) = images_with("IfNotPresent", |h| {
        h.absent_images.insert(
            coredns.clone(),
            Err(cri::CallError::Status {
                code: 2,
                message: "failed to resolve reference".into(),
            }),
        );
    });
    let f = only(&r, "ImagePull");
    assert_eq!(f.level, Level::Error);
    assert_eq!(
        f.issue.message,
        "failed to pull image registry.k8s.io/coredns/coredns:v1.11.1: rpc error: code = Unknown desc = failed to resolve reference"
    );
    assert_eq!(
        f.issue.why.as_deref(),
        Some("the container runtime could not fetch it from registry.k8s.io")
    );
    assert_eq!(f.issue.fix.len(), 3);
    assert!(f.issue.fix[1].contains("--image-repository"));
    assert!(f.issue.fix[2].contains("ctr -n k8s.io images import"));
}

#[test]
fn image_pull_runs_after_the_checks_and_not_in_dry_run() {
    let coredns = "registry.k8s.io/coredns/coredns:v1.11.1".to_string();
    let failing = |h: &mut FakeHost| {
        h.absent_images.insert(
            coredns.clone(),
            Err(cri::CallError::Status {
                code: 2,
                message: "no route".into(),
            }),
        );
    };
    let dir = host_dir("healthy");
    let mut host = fake_for(dir.path());
    failing(&mut host);
    let run = run_on(dir.path(), "v1.31.0", host, Options::default(), false);
    assert!(run.report.get("ImagePull").is_none());
    let failed = run.result.unwrap_err();
    let failed = failed.downcast_ref::<preflight::PreflightFailed>().unwrap();
    assert_eq!(failed.checks, ["ImagePull"]);
    assert!(
        run.lines
            .iter()
            .any(|l| l.contains("Pulling images required for setting up a Kubernetes cluster")),
        "{:?}",
        run.lines
    );
    // Ignored, it is a warning; in a dry run nothing is pulled.
    let mut host = fake_for(dir.path());
    failing(&mut host);
    let opts = Options {
        ignore_preflight_errors: vec!["imagepull".into()],
        ..Options::default()
    };
    assert!(
        run_on(dir.path(), "v1.31.0", host, opts, false)
            .result
            .is_ok()
    );
    let mut host = fake_for(dir.path());
    failing(&mut host);
    let opts = Options {
        dry_run: true,
        ..Options::default()
    };
    let run = run_on(dir.path(), "v1.31.0", host, opts, false);
    assert!(run.result.is_ok());
    assert!(run.actions.is_empty(), "{:?}", run.actions);
}

#[test]
fn image_names_follow_the_repository_and_overrides() {
    let dir = host_dir("healthy");
    let root = Root::new(dir.path());
    let host = fake_for(dir.path());
    let overrides = Overrides {
        kubernetes_version: Some("v1.31.0".into()),
        image_repository: Some("mirror.example:5000/k8s".into()),
        ..Overrides::default()
    };
    let mut cfg = config::resolve(Documents::default(), &overrides, &root, &host).unwrap();
    let images = kubestrap_phases::version::images::all(&cfg);
    assert_eq!(images[4], "mirror.example:5000/k8s/coredns:v1.11.1");
    assert_eq!(images[6], "mirror.example:5000/k8s/etcd:3.5.15-0");
    cfg.cluster.dns.image_repository = Some("dns.example".into());
    cfg.cluster.dns.image_tag = Some("v9".into());
    cfg.cluster.etcd.local = None;
    cfg.cluster.etcd.external = Some(config::ExternalEtcd {
        endpoints: vec!["https://127.0.0.1:2379".into()],
        ca_file: String::new(),
        cert_file: String::new(),
        key_file: String::new(),
    });
    let images = kubestrap_phases::version::images::all(&cfg);
    assert_eq!(images.len(), 6);
    assert_eq!(images[4], "dns.example/coredns:v9");
    assert_eq!(images[5], "mirror.example:5000/k8s/pause:3.10");
}

/// A one-layer docker-archive (made with `tar`; `sha256sum` names the layer) holding `tags`.
fn image_archive(dir: &Path, tags: &[String]) -> PathBuf {
    let work = dir.join("image");
    fs::create_dir_all(work.join("rootfs")).unwrap();
    fs::write(work.join("rootfs/hello"), "hello\n").unwrap();
    let status = Command::new("tar")
        .arg("-cf")
        .arg(work.join("layer.tar"))
        .arg("-C")
        .arg(work.join("rootfs"))
        .arg("hello")
        .status()
        .expect("tar is missing: install the Debian package `tar`");
    assert!(status.success());
    let sum = Command::new("sha256sum")
        .arg(work.join("layer.tar"))
        .output()
        .expect("sha256sum is missing: install the Debian package `coreutils`");
    let digest = String::from_utf8(sum.stdout).unwrap();
    let digest = digest.split_whitespace().next().unwrap();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    fs::write(
        work.join("config.json"),
        format!(
            r#"{{"architecture":"{arch}","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["sha256:{digest}"]}}}}"#
        ),
    )
    .unwrap();
    let tags: Vec<String> = tags.iter().map(|t| format!("\"{t}\"")).collect();
    fs::write(
        work.join("manifest.json"),
        format!(
            r#"[{{"Config":"config.json","RepoTags":[{}],"Layers":["layer.tar"]}}]"#,
            tags.join(",")
        ),
    )
    .unwrap();
    let archive = dir.join("image.tar");
    let status = Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&work)
        .args(["manifest.json", "config.json", "layer.tar"])
        .status()
        .unwrap();
    assert!(status.success());
    archive
}

/// Waits (bounded) until the runtime's CRI ImageService reports `image`.
fn wait_for_cri_image(socket: &Path, image: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let seen = cri::image_present(socket, image, Duration::from_secs(10));
        if seen == Ok(true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the CRI ImageService does not see the imported {image} ({seen:?}): {}",
            fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn real_containerd_pulls_only_what_it_lacks() {
    let dir = host_dir("healthy");
    let root = dir.path();
    let state = tempfile::tempdir().unwrap();
    let socket = root.join("var/run/containerd/containerd.sock");
    fs::create_dir_all(socket.parent().unwrap()).unwrap();
    let config = root.join("etc/containerd/config.toml");
    let healthy = fs::read_to_string(&config).unwrap();
    fs::write(
        &config,
        format!(
            "root = \"{s}/root\"\nstate = \"{s}/state\"\n{healthy}\n[grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n[debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
            s = state.path().display(),
            sock = socket.display()
        ),
    )
    .unwrap();
    let containerd = Containerd::start(&config, &socket, &state.path().join("containerd.log"));

    // Nothing listens on 127.0.0.1:1: a pull from there fails at once.
    let host = fake_for(root);
    let rootfs = Root::new(root);
    let overrides = Overrides {
        kubernetes_version: Some("v1.31.0".into()),
        image_repository: Some("127.0.0.1:1".into()),
        cri_socket: Some("unix:///var/run/containerd/containerd.sock".into()),
        ..Overrides::default()
    };
    let cfg = config::resolve(Documents::default(), &overrides, &rootfs, &host).unwrap();
    let images = kubestrap_phases::version::images::all(&cfg);
    let coredns = "127.0.0.1:1/coredns:v1.11.1";
    assert!(images.iter().any(|i| i == coredns), "{images:?}");
    let preloaded: Vec<String> = images.iter().filter(|i| *i != coredns).cloned().collect();
    let archive = image_archive(state.path(), &preloaded);
    let out = Command::new("ctr")
        .arg("--address")
        .arg(&socket)
        .args(["-n", "k8s.io", "images", "import", "--no-unpack"])
        .arg(&archive)
        .output()
        .expect("ctr is missing: install the Debian package `containerd`");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // containerd's CRI plugin learns of imported images from events, asynchronously: wait until
    // its ImageService sees them, or a busy machine makes them look missing.
    for image in &preloaded {
        wait_for_cri_image(&socket, image, &state.path().join("containerd.log"));
    }

    let out = Arc::new(RecordingReporter::default());
    let ctx = Context::new(
        cfg,
        rootfs,
        Box::new(kubestrap_phases::host::LinuxHost),
        Box::new(out.clone()),
        Options::default(),
    );
    let report = preflight::check_images(&ctx);
    let f = only(&report, "ImagePull");
    assert_eq!(f.level, Level::Error);
    assert!(
        f.issue
            .message
            .starts_with(&format!("failed to pull image {coredns}: rpc error:")),
        "{}",
        f.issue.message
    );
    assert_eq!(
        f.issue.why.as_deref(),
        Some("the container runtime could not fetch it from 127.0.0.1:1")
    );
    // The preloaded images were found, not pulled.
    let lines = out.lines();
    for image in &preloaded {
        assert!(
            lines.contains(&format!("detail [preflight] image {image} exists")),
            "{lines:?}"
        );
    }
    assert_eq!(
        lines.iter().filter(|l| l.contains("pulling")).count(),
        1,
        "{lines:?}"
    );
    drop(containerd);
}

// ---- a real external etcd ----

/// The init checks of a healthy host whose cluster uses the external etcd at `endpoint`, with
/// `identity` (a certificate under /etc/kubernetes/pki) as its client certificate.
fn external_etcd_checks(root: &Path, version: &str, endpoint: &str, identity: &str) -> Report {
    let host = fake_for(root);
    let rootfs = Root::new(root);
    let mut docs = Documents::default();
    docs.cluster.etcd.local = None;
    docs.cluster.etcd.external = Some(config::ExternalEtcd {
        endpoints: vec![endpoint.to_string()],
        ca_file: "/etc/kubernetes/pki/etcd/ca.crt".into(),
        cert_file: format!("/etc/kubernetes/pki/{identity}.crt"),
        key_file: format!("/etc/kubernetes/pki/{identity}.key"),
    });
    let overrides = Overrides {
        kubernetes_version: Some(version.into()),
        ..Overrides::default()
    };
    let cfg = config::resolve(docs, &overrides, &rootfs, &host).unwrap();
    let out = Arc::new(RecordingReporter::default());
    let ctx = Context::new(
        cfg,
        rootfs,
        Box::new(host),
        Box::new(out),
        Options::default(),
    );
    preflight::check(&ctx, Role::Init)
}

#[test]
fn external_etcd_version_is_asked_over_tls_of_a_real_etcd() {
    use crate::real_etcd::{etcd_args, etcd_files, free_port, start_etcd};
    crate::support::require_binary("etcd", "etcd-server");
    let dir = host_dir_for("healthy", "v1.27.0");
    let root = dir.path();
    etcd_files(root, "v1.27.0");
    // The manifest was only needed for etcd's command line; the checks must not see it.
    let args = etcd_args(root, free_port(), free_port(), free_port());
    fs::remove_file(root.join("etc/kubernetes/manifests/etcd.yaml")).unwrap();
    let client = args
        .iter()
        .find_map(|a| a.strip_prefix("--listen-client-urls="))
        .unwrap()
        .to_string();
    let etcd = start_etcd(root, &args);
    let port: u16 = client.rsplit(':').next().unwrap().parse().unwrap();
    // The version is asked with a 5 s timeout: etcd answers only once it has elected itself.
    etcd.wait_healthy(root, port);

    // Debian's etcd (3.4) is new enough for 1.27 (3.2.18)…
    let r = external_etcd_checks(root, "v1.27.0", &client, "apiserver-etcd-client");
    assert!(r.get("ExternalEtcdVersion").is_none(), "{:#?}", r.findings);
    assert!(
        r.get("ExternalEtcdClientCertificates").is_none(),
        "{:#?}",
        r.findings
    );
    // …but not for 1.31 (3.5.11-0).
    let r = external_etcd_checks(root, "v1.31.0", &client, "apiserver-etcd-client");
    let f = only(&r, "ExternalEtcdVersion");
    assert_eq!(f.level, Level::Error);
    assert!(
        f.issue.message.starts_with(
            "this version of kubeadm only supports external etcd version >= 3.5.11-0. Current version: 3.4."
        ),
        "{}",
        f.issue.message
    );
    // A client certificate of another CA is refused by etcd's TLS.
    let r = external_etcd_checks(root, "v1.27.0", &client, "front-proxy-client");
    let f = only(&r, "ExternalEtcdVersion");
    assert!(
        f.issue.message.starts_with(&format!(
            "failed to get the version of the external etcd at {client}: "
        )),
        "{}",
        f.issue.message
    );
    // Missing files: named by ExternalEtcdClientCertificates, the version is not asked.
    let r = external_etcd_checks(root, "v1.27.0", &client, "no-such-client");
    assert!(r.get("ExternalEtcdVersion").is_none(), "{:#?}", r.findings);
    let messages: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.check == "ExternalEtcdClientCertificates")
        .map(|f| f.issue.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "/etc/kubernetes/pki/no-such-client.crt doesn't exist",
            "/etc/kubernetes/pki/no-such-client.key doesn't exist"
        ]
    );
}

#[test]
fn all_in_the_config_file_is_refused_before_1_28() {
    let dir = host_dir("swap-on");
    let config = dir.path().join("kubeadm.yaml");
    fs::write(
        &config,
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nnodeRegistration:\n  ignorePreflightErrors:\n  - all\n",
    )
    .unwrap();
    let run = |version: &str, flag: Option<&str>| {
        let mut args = vec![
            "preflight",
            "--root",
            root_arg(dir.path()),
            "--kubernetes-version",
            version,
            "--config",
            config.to_str().unwrap(),
        ];
        args.extend(flag);
        kubestrap(&args)
    };
    let out = run("v1.27.0", None);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "`nodeRegistration.ignorePreflightErrors`: 'all' cannot be used in configuration file"
        ),
        "{stderr}"
    );
    let out = run("v1.28.0", None);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("[WARNING Swap]"), "{stderr}");
    // The flag may say `all` in any version.
    fs::write(
        &config,
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n",
    )
    .unwrap();
    let out = run("v1.27.0", Some("--ignore-preflight-errors=all"));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
