//! Hostile and careless input: no panic, no write outside `--root`, bounded memory and output,
//! and `config validate` agreeing with the commands.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{kubestrap_bounded, text, tree};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/config")
        .join(name)
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

#[test]
fn config_migrate_writes_under_the_root_and_over_kubeadm_configurations_only() {
    let tmp = tempfile::tempdir().unwrap();
    let old = fixture("v1beta3-full.yaml");
    let old = old.to_str().unwrap();
    let victim = write(tmp.path(), "hosts", "127.0.0.1 localhost\n");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let migrate = |extra: &[&str]| {
        let mut args = vec!["config", "migrate", "--old-config", old];
        args.extend_from_slice(extra);
        kubestrap_bounded(tmp.path(), &args)
    };
    // A file that is not a kubeadm configuration is not replaced.
    let out = migrate(&["--new-config", &victim]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out).1);
    assert!(
        text(&out).1.contains("is not a kubeadm configuration"),
        "{}",
        text(&out).1
    );
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "127.0.0.1 localhost\n"
    );
    // Under --root the file lands below the root, whatever it names.
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let out = migrate(&["--new-config", &victim, "--root", root.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out).1);
    let below = root.join(victim.trim_start_matches('/'));
    assert!(
        std::fs::read_to_string(&below)
            .unwrap()
            .contains("kubeadm.k8s.io/v1beta4")
    );
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "127.0.0.1 localhost\n"
    );
    // A relative path is taken from the current folder, below the root too.
    let out = migrate(&["--new-config", "new.yaml", "--root", root.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out).1);
    let cwd = tmp.path().canonicalize().unwrap();
    assert!(
        root.join(cwd.strip_prefix("/").unwrap())
            .join("new.yaml")
            .is_file()
    );
    assert!(!tmp.path().join("new.yaml").exists());
    // An earlier kubeadm configuration is replaced and keeps its mode; --force replaces anything.
    let earlier = write(
        tmp.path(),
        "kubeadm.yaml",
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n",
    );
    std::fs::set_permissions(&earlier, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = migrate(&["--new-config", &earlier]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(
        std::fs::read_to_string(&earlier)
            .unwrap()
            .contains("v1beta4")
    );
    let mode = std::fs::metadata(&earlier).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let out = migrate(&["--new-config", &victim, "--force"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(
        std::fs::read_to_string(&victim)
            .unwrap()
            .contains("v1beta4")
    );
}

#[test]
fn an_empty_root_is_an_error_not_the_current_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let old = fixture("v1beta3-full.yaml");
    let out = kubestrap_bounded(
        tmp.path(),
        &[
            "config",
            "migrate",
            "--old-config",
            old.to_str().unwrap(),
            "--new-config",
            "/etc/new.yaml",
            "--root",
            "",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    assert!(text(&out).1.contains("--root"), "{}", text(&out).1);
    let out = kubestrap_bounded(tmp.path(), &["init", "phase", "certs", "ca", "--root", ""]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    assert_eq!(tree(tmp.path()), Vec::<String>::new());
}

/// Every duration a command takes, too long for Go: refused as kubeadm refuses it (exit 3),
/// never a panic, nothing written.
#[test]
fn durations_past_go_s_longest_are_refused_not_panicked_on() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let r = root.to_str().unwrap();
    let cfg = |field: &str, value: &str| {
        write(
            tmp.path(),
            &format!("{field}.yaml"),
            &format!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nencryptionAlgorithm: ECDSA-P256\n{field}: {value}\n"
            ),
        )
    };
    for too_long in ["2562048h", "99999999999999999999h", "9223372036854775808ns"] {
        let cert = cfg("certificateValidityPeriod", too_long);
        let ca = cfg("caCertificateValidityPeriod", too_long);
        for args in [
            vec!["token", "create", "--ttl", too_long],
            vec![
                "init",
                "phase",
                "certs",
                "ca",
                "--root",
                r,
                "--token-ttl",
                too_long,
            ],
            vec![
                "kubeconfig",
                "user",
                "--client-name",
                "x",
                "--validity-period",
                too_long,
                "--root",
                r,
            ],
            vec![
                "init", "phase", "certs", "ca", "--root", r, "--config", &cert,
            ],
            vec!["init", "phase", "certs", "ca", "--root", r, "--config", &ca],
            vec!["config", "validate", "--config", &cert],
        ] {
            let out = kubestrap_bounded(tmp.path(), &args);
            let (_, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
            assert!(
                stderr.contains("longer than 2562047h47m16.854775807s"),
                "{args:?}: {stderr}"
            );
            assert_eq!(tree(&root), Vec::<String>::new(), "{args:?}");
        }
    }
    // The longest one kubeadm accepts works: a CA valid for 292 years.
    let ca = cfg("caCertificateValidityPeriod", "2562047h47m16.854775807s");
    let out = kubestrap_bounded(
        tmp.path(),
        &["init", "phase", "certs", "ca", "--root", r, "--config", &ca],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let pem = std::fs::read_to_string(root.join("etc/kubernetes/pki/ca.crt")).unwrap();
    let cert = kubestrap_phases::pki::Certificate::from_pem(&pem).unwrap();
    let years = cert
        .not_after
        .duration_since(std::time::SystemTime::now())
        .unwrap()
        .as_secs()
        / (365 * 86400);
    assert_eq!(years, 292);
}

/// `--config /dev/zero`, a FIFO without a writer, a folder: refused before a byte is read, by
/// every command that reads a file a user names.
#[test]
fn pseudo_files_are_refused_without_reading_them() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo.yaml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let fifo = fifo.to_str().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("dev")).unwrap();
    let r = root.to_str().unwrap();
    let patches = tmp.path().join("patches");
    std::fs::create_dir(&patches).unwrap();
    nix::unistd::mkfifo(
        &patches.join("kube-apiserver.yaml"),
        nix::sys::stat::Mode::S_IRWXU,
    )
    .unwrap();
    for file in ["/dev/zero", fifo] {
        for args in [
            vec!["config", "validate", "--config", file],
            vec!["config", "migrate", "--old-config", file],
            vec!["config", "images", "list", "--config", file],
            vec!["init", "--config", file, "--root", r],
            vec!["join", "--config", file, "--root", r],
            vec!["reset", "--config", file, "--root", r, "--force"],
            vec![
                "join",
                "--discovery-file",
                file,
                "--tls-bootstrap-token",
                "abcdef.0123456789abcdef",
                "--root",
                r,
                "--node-name",
                "n1",
            ],
            vec!["token", "list", "--kubeconfig", file],
        ] {
            let out = kubestrap_bounded(tmp.path(), &args);
            let (_, stderr) = text(&out);
            assert!(!out.status.success(), "{args:?}: {stderr}");
            assert!(
                stderr.contains("not a regular file")
                    || stderr.contains("a character device")
                    || stderr.contains("a FIFO"),
                "{args:?}: {stderr}"
            );
        }
    }
    // Under the root too: --kubeconfig maps there.
    nix::unistd::mkfifo(&root.join("dev/zero"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let out = kubestrap_bounded(
        tmp.path(),
        &["token", "list", "--kubeconfig", "/dev/zero", "--root", r],
    );
    assert!(text(&out).1.contains("a FIFO"), "{}", text(&out).1);
    let out = kubestrap_bounded(
        tmp.path(),
        &[
            "init",
            "phase",
            "control-plane",
            "apiserver",
            "--patches",
            patches.to_str().unwrap(),
            "--root",
            r,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out).1);
    assert!(text(&out).1.contains("a FIFO"), "{}", text(&out).1);
}

/// Aliases that expand a small file a millionfold, and a file of thousands of bad values: a
/// short answer (exit 3) within 1 GiB of memory.
#[test]
fn yaml_that_amplifies_is_refused_with_a_short_answer() {
    let tmp = tempfile::tempdir().unwrap();
    // Billion laughs: nine levels of nine aliases (9^9 strings).
    let mut laughs = String::from(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: x\napiServer:\n  certSANs: &l0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for level in 1..9 {
        laughs.push_str(&format!(
            "x{level}: &l{level} [{}]\n",
            vec![format!("*l{}", level - 1); 9].join(",")
        ));
    }
    // Wide: one anchor of 20 000 items, aliased 3 000 times (60 million values).
    let wide = format!(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nclusterDNS: &a [{}]\nallowedUnsafeSysctls: [{}]\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n",
        vec!["1"; 20_000].join(","),
        vec!["*a"; 3_000].join(",")
    );
    // No alias at all, but 100 000 values of the wrong type, each a problem.
    let many = format!(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nclusterDNS: [{}]\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n",
        vec!["[1]"; 100_000].join(",")
    );
    for (name, body, says) in [
        (
            "laughs.yaml",
            laughs,
            "document contains excessive aliasing",
        ),
        ("wide.yaml", wide, "document contains excessive aliasing"),
        (
            "many.yaml",
            many,
            "99951 more problems in the KubeletConfiguration are not listed",
        ),
    ] {
        let path = write(tmp.path(), name, &body);
        for args in [
            vec!["config", "validate", "--config", &path],
            vec![
                "init",
                "--config",
                &path,
                "--root",
                tmp.path().to_str().unwrap(),
            ],
        ] {
            let out = kubestrap_bounded(tmp.path(), &args);
            let (_, stderr) = text(&out);
            assert_eq!(
                out.status.code(),
                Some(3),
                "{name}: {}",
                &stderr[..stderr.len().min(2000)]
            );
            assert!(
                stderr.contains(says),
                "{name}: {}",
                &stderr[..stderr.len().min(2000)]
            );
            assert!(
                stderr.len() < 64 * 1024,
                "{name}: {} bytes of error",
                stderr.len()
            );
        }
    }
}
