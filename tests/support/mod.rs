//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::hash::{BuildHasher, RandomState};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;

/// Runs the kubestrap binary with these arguments (the caller's `KUBECONFIG` left out).
pub fn kubestrap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubestrap"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("failed to run kubestrap")
}

/// Runs kubestrap with `args` and the flags of a test node: `--root ROOT`, name `n1`, address
/// 10.0.0.1.
pub fn kubestrap_on(root: &Path, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend([
        "--root",
        root.to_str().unwrap(),
        "--node-name",
        "n1",
        "--apiserver-advertise-address",
        "10.0.0.1",
    ]);
    kubestrap(&all)
}

/// `kubestrap init` into a folder, the phases that act on this machine or a cluster skipped
/// (the caller's `KUBECONFIG` left out).
pub fn init_files_only(root: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubestrap"));
    cmd.args(["init", "--root"])
        .arg(root)
        .args([
            "--node-name",
            "n1",
            "--apiserver-advertise-address",
            "10.0.0.1",
            "--kubernetes-version",
            "v1.20.2",
            "--cri-socket",
            "unix:///run/containerd/containerd.sock",
            "--skip-phases",
            "preflight,kubelet-start,wait-control-plane,upload-config,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command",
        ])
        .env_remove("KUBECONFIG");
    cmd
}

/// stdout and stderr of a run as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under a folder, as sorted relative paths.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Fails the test, naming the Debian package, when a real component is missing.
pub fn require_binary(name: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{name}` is not installed: run `apt-get install {package}` (or `.ci/run`, which installs it)"
    );
}

/// Compares a written text with its golden file; with `UPDATE_GOLDEN=1` rewrites the golden file.
pub fn assert_golden(golden: &Path, actual: &str, what: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(golden, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(golden).unwrap_or_else(|e| {
        panic!(
            "missing golden file {}: {e}; run with UPDATE_GOLDEN=1",
            golden.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{what} differs from {} (UPDATE_GOLDEN=1 refreshes it; review the diff)",
        golden.display()
    );
}

/// Runs `kubernetes-validate --strict` on files against a Kubernetes version's schemas (`1.25.0`);
/// `Some(report)` when it finds a problem. Fails the test when the tool is missing.
pub fn kubernetes_validate(schema: &str, files: &[std::path::PathBuf]) -> Option<String> {
    let probe = Command::new("kubernetes-validate")
        .arg("--version")
        .output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "kubernetes-validate is not installed: run `pip install kubernetes-validate`"
    );
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet", "-k", schema])
        .args(files)
        .output()
        .expect("failed to run kubernetes-validate");
    (!out.status.success()).then(|| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A loopback port for a server a test starts. Never the same one twice in this process (tests
/// run in parallel threads); between the well-known ports of Kubernetes (10250-10259, 2379) and
/// its NodePorts (30000-32767), and below the kernel's ephemeral range: an outgoing connection (a
/// client of another test) cannot take it between this check and the server's bind.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    const LOWEST: u16 = 20000;
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let end = ephemeral_start.min(30000);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    if end > LOWEST + 1000 {
        let span = u32::from(end - LOWEST);
        // A random start, so that test processes running side by side spread out.
        let start = (RandomState::new().hash_one(std::process::id()) % u64::from(span)) as u32;
        for i in 0..span {
            let port = LOWEST + ((start + i) % span) as u16;
            if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
                handed_out.insert(port);
                return port;
            }
        }
    }
    // No room there: let the kernel choose.
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// Runs kubestrap in `cwd` with its address space limited to 1 GiB (an input that makes it
/// allocate without bound ends it, instead of the machine) and killed after two minutes (an
/// input that makes it wait forever fails the test instead of hanging it).
pub fn kubestrap_bounded(cwd: &Path, args: &[&str]) -> Output {
    let child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_kubestrap"))
        .args(args)
        .current_dir(cwd)
        .env_remove("KUBECONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("failed to run kubestrap");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let timed_out = finished
            .recv_timeout(std::time::Duration::from_secs(120))
            .is_err();
        if timed_out {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
        timed_out
    });
    let out = child.wait_with_output().unwrap();
    let _ = done.send(());
    assert!(
        !watchdog.join().unwrap(),
        "kubestrap {args:?} did not end within two minutes"
    );
    out
}
