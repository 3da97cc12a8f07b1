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

const JOIN_HEAD: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n";
const TOKEN_DISCOVERY: &str = "discovery:\n  bootstrapToken:\n    apiServerEndpoint: 10.0.0.1:6443\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\n";

/// What a command refuses, `config validate` refuses, with the same words; the command writes
/// nothing.
#[test]
fn config_validate_refuses_what_the_commands_refuse() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let r = root.to_str().unwrap();
    let init_head = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  name: n1\n  criSocket: unix:///run/containerd/containerd.sock\nlocalAPIEndpoint:\n  advertiseAddress: 10.0.0.1\n";
    let cases: Vec<(&str, String, &str, Vec<&str>)> = vec![
        (
            "endpoint.yaml",
            format!("{init_head}---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: CP.Example.com:6443\n"),
            "must be lower-case",
            vec!["init", "phase", "certs", "all"],
        ),
        (
            "certdir.yaml",
            format!("{init_head}---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificatesDir: /etc/kubernetes/../pki\n"),
            "climbs with `..`",
            vec!["init", "phase", "certs", "all"],
        ),
        (
            "skip.yaml",
            format!("{init_head}skipPhases: [addon/kube-proxy, bogus]\n"),
            "`skipPhases[1]`: unknown phase `bogus`",
            vec!["init", "phase", "certs", "all"],
        ),
        (
            "token-expires.yaml",
            format!("{init_head}bootstrapTokens:\n- token: abcdef.0123456789abcdef\n  expires: tomorrow\n"),
            "`bootstrapTokens[0].expires`: \"tomorrow\" is not a date",
            vec!["init", "phase", "certs", "all"],
        ),
        (
            "token-ids.yaml",
            format!("{init_head}bootstrapTokens:\n- token: abcdef.0123456789abcdef\n- token: abcdef.fedcba9876543210\n"),
            "is also the ID of bootstrapTokens[0]",
            vec!["init", "phase", "certs", "all"],
        ),
        (
            "join-node.yaml",
            format!("{JOIN_HEAD}{TOKEN_DISCOVERY}nodeRegistration:\n  name: n1\n  criSocket: unix:///run/containerd/containerd.sock\n  imagePullPolicy: Sometimes\n  taints:\n  - key: a b\n    effect: Sometimes\ncontrolPlane:\n  localAPIEndpoint:\n    advertiseAddress: 10.0.0.300\n    bindPort: 70000\n"),
            "`controlPlane.localAPIEndpoint.advertiseAddress`: ip address \"10.0.0.300\" is not valid",
            vec!["join"],
        ),
        (
            "reset-skip.yaml",
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\nskipPhases: [cleanup-nodes]\n".to_string(),
            "`skipPhases[0]`: unknown phase `cleanup-nodes`",
            vec![],
        ),
    ];
    for (name, body, says, command) in cases {
        let path = write(tmp.path(), name, &body);
        let out = kubestrap_bounded(tmp.path(), &["config", "validate", "--config", &path]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{name}: {stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
        if command.is_empty() {
            continue;
        }
        let mut args = command.clone();
        args.extend(["--config", &path, "--root", r]);
        let out = kubestrap_bounded(tmp.path(), &args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{name}: {stderr}");
        assert_eq!(tree(&root), Vec::<String>::new(), "{name}");
    }
    // The same node problems, all at once, from `config validate` and `join`.
    let path = tmp.path().join("join-node.yaml");
    let out = kubestrap_bounded(
        tmp.path(),
        &["config", "validate", "--config", path.to_str().unwrap()],
    );
    let (_, stderr) = text(&out);
    for says in [
        "`controlPlane.localAPIEndpoint.bindPort`: port number 70000 is not valid",
        "`nodeRegistration.imagePullPolicy`: \"Sometimes\" is not one of Always, IfNotPresent, Never",
        "`nodeRegistration.taints[0].effect`",
        "`nodeRegistration.taints[0].key`: \"a b\" is not a valid taint key",
    ] {
        assert!(stderr.contains(says), "{says}: {stderr}");
    }
    // kubeadm defaults an empty usages (and groups) list.
    let path = write(
        tmp.path(),
        "usages.yaml",
        &format!(
            "{init_head}bootstrapTokens:\n- token: abcdef.0123456789abcdef\n  usages: []\n  groups: []\n"
        ),
    );
    let out = kubestrap_bounded(tmp.path(), &["config", "validate", "--config", &path]);
    assert!(out.status.success(), "{}", text(&out).1);
}

/// A discovery kubeconfig is refused before anything is sent when its server is not https or
/// its CA is not a CA certificate; by `config validate` and by `join` alike.
#[test]
fn discovery_files_need_an_https_server_and_a_ca_certificate() {
    use base64::Engine as _;
    use kubestrap_phases::pki::{self, AltNames, CertRequest, KeyAlgorithm, Usage};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let now = std::time::SystemTime::now();
    let request = |is_ca: bool| CertRequest {
        common_name: if is_ca {
            "kubernetes".into()
        } else {
            "leaf".into()
        },
        organizations: Vec::new(),
        alt_names: AltNames::default(),
        usages: if is_ca {
            Vec::new()
        } else {
            vec![Usage::ClientAuth]
        },
        is_ca,
        leaf_basic_constraints: true,
        not_before: now,
        not_after: now + std::time::Duration::from_secs(3600),
    };
    let ca_key = pki::new_key(KeyAlgorithm::EcdsaP256).unwrap();
    let ca = pki::sign(&request(true), &ca_key, None).unwrap();
    let leaf_key = pki::new_key(KeyAlgorithm::EcdsaP256).unwrap();
    let leaf = pki::sign(&request(false), &leaf_key, Some((&ca, &ca_key))).unwrap();
    let kubeconfig = |server: &str, ca_pem: &str| {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\ncontexts:\n- name: k\n  context: {{cluster: k, user: u}}\ncurrent-context: k\nusers:\n- name: u\n  user: {{token: abcdef.0123456789abcdef}}\n",
            base64::engine::general_purpose::STANDARD.encode(ca_pem)
        )
    };
    for (name, body, says) in [
        (
            "http.conf",
            kubeconfig("http://127.0.0.1:6443", &ca.pem()),
            "is not an https:// URL",
        ),
        (
            "not-pem.conf",
            kubeconfig("https://127.0.0.1:6443", "just text"),
            "is not a PEM certificate",
        ),
        (
            "leaf.conf",
            kubeconfig("https://127.0.0.1:6443", &leaf.pem()),
            "which is not a CA",
        ),
        (
            "key.conf",
            kubeconfig("https://127.0.0.1:6443", ca_key.pem()),
            "holds a private key",
        ),
    ] {
        let file = write(tmp.path(), name, &body);
        let config = write(
            tmp.path(),
            &format!("{name}.yaml"),
            &format!(
                "{JOIN_HEAD}discovery:\n  file:\n    kubeConfigPath: {file}\nnodeRegistration:\n  name: n1\n  criSocket: unix:///run/containerd/containerd.sock\n"
            ),
        );
        let out = kubestrap_bounded(tmp.path(), &["config", "validate", "--config", &config]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{name}: {stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
        let out = kubestrap_bounded(
            tmp.path(),
            &[
                "join",
                "--discovery-file",
                &file,
                "--node-name",
                "n1",
                "--cri-socket",
                "unix:///run/containerd/containerd.sock",
                "--root",
                root.to_str().unwrap(),
            ],
        );
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{name}: {stderr}");
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert_eq!(tree(&root), Vec::<String>::new(), "{name}");
    }
    // The right file passes validation.
    let good = write(
        tmp.path(),
        "good.conf",
        &kubeconfig("https://127.0.0.1:6443", &ca.pem()),
    );
    let config = write(
        tmp.path(),
        "good.yaml",
        &format!("{JOIN_HEAD}discovery:\n  file:\n    kubeConfigPath: {good}\n"),
    );
    let out = kubestrap_bounded(tmp.path(), &["config", "validate", "--config", &config]);
    assert!(out.status.success(), "{}", text(&out).1);
}

/// Addresses and names: a multicast or broadcast advertise address, an image repository that is
/// no reference, and version suffixes (kept, as kubeadm keeps them).
#[test]
fn addresses_names_and_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let r = root.to_str().unwrap();
    for (args, says) in [
        (
            vec![
                "init",
                "phase",
                "certs",
                "apiserver",
                "--apiserver-advertise-address",
                "224.0.0.1",
                "--node-name",
                "n1",
            ],
            "is a multicast address",
        ),
        (
            vec![
                "init",
                "phase",
                "certs",
                "apiserver",
                "--apiserver-advertise-address",
                "255.255.255.255",
                "--node-name",
                "n1",
            ],
            "is the broadcast address",
        ),
        (
            vec![
                "config",
                "images",
                "list",
                "--image-repository",
                "MyRegistry",
                "--kubernetes-version",
                "v1.30.0",
            ],
            "invalid image repository format \"MyRegistry\"",
        ),
        (
            vec![
                "config",
                "images",
                "list",
                "--image-repository",
                "registry.example.com/K8s",
                "--kubernetes-version",
                "v1.30.0",
            ],
            "the path part \"K8s\"",
        ),
    ] {
        let mut args = args.clone();
        args.extend(["--root", r]);
        let out = kubestrap_bounded(tmp.path(), &args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(tree(&root), Vec::<String>::new());
    }
    for (version, tag) in [
        ("v1.30.0-rc.0", "v1.30.0-rc.0"),
        ("v1.30.1+build.7", "v1.30.1_build.7"),
    ] {
        let out = kubestrap_bounded(
            tmp.path(),
            &[
                "config",
                "images",
                "list",
                "--kubernetes-version",
                version,
                "--root",
                r,
            ],
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{version}: {stderr}");
        assert!(
            stdout.contains(&format!("registry.k8s.io/kube-apiserver:{tag}\n")),
            "{version}: {stdout}"
        );
    }
}

/// Certificates: an already-expired client certificate is refused; `check-expiration` fails on
/// a folder that holds nothing, is a file, or pairs a certificate with another key.
#[test]
fn certificate_checks_that_used_to_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let r = root.to_str().unwrap();
    let out = kubestrap_bounded(
        tmp.path(),
        &[
            "init",
            "phase",
            "certs",
            "all",
            "--root",
            r,
            "--node-name",
            "n1",
            "--apiserver-advertise-address",
            "10.0.0.1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    for period in ["0", "1ns", "59s"] {
        let out = kubestrap_bounded(
            tmp.path(),
            &[
                "kubeconfig",
                "user",
                "--client-name",
                "x",
                "--validity-period",
                period,
                "--root",
                r,
            ],
        );
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{period}: {stderr}");
        assert!(stderr.contains("less than a minute"), "{period}: {stderr}");
        assert!(stdout.is_empty(), "{period}: no credential is printed");
    }
    // Only the certificates: the kubeconfigs are missing, which fails a monitoring check.
    let out = kubestrap_bounded(tmp.path(), &["certs", "check-expiration", "--root", r]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stdout.contains("Missing: admin.conf, controller-manager.conf, scheduler.conf."),
        "{stdout}"
    );
    let pki = root.join("etc/kubernetes/pki");
    std::fs::copy(
        pki.join("front-proxy-client.key"),
        pki.join("apiserver.key"),
    )
    .unwrap();
    let out = kubestrap_bounded(tmp.path(), &["certs", "check-expiration", "--root", r]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`/etc/kubernetes/pki/apiserver.key` is not the key of its certificate"),
        "{stderr}"
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(empty.join("etc/kubernetes/pki")).unwrap();
    std::fs::write(empty.join("file"), "").unwrap();
    for (cert_dir, says) in [
        (
            "/etc/kubernetes/pki",
            "holds none of the cluster's certificates",
        ),
        ("/file", "is a file, not a folder"),
        ("/missing", "cannot be read"),
    ] {
        let out = kubestrap_bounded(
            tmp.path(),
            &[
                "certs",
                "check-expiration",
                "--cert-dir",
                cert_dir,
                "--root",
                empty.to_str().unwrap(),
            ],
        );
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{cert_dir}: {stderr}");
        assert!(stderr.contains(says), "{cert_dir}: {stderr}");
    }
}

/// Component configs are checked by value: what the kubelet or kube-proxy refuses at start is
/// refused before anything is written.
#[test]
fn component_values_the_components_refuse() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let path = write(
        tmp.path(),
        "components.yaml",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: 10.244.0.0/16\n---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: -5\ncgroupDriver: foo\nclusterDNS: [10.0.0.300]\nimageGCHighThresholdPercent: 50\nimageGCLowThresholdPercent: 60\n---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvsx\nbindAddress: everywhere\n",
    );
    let out = kubestrap_bounded(tmp.path(), &["config", "validate", "--config", &path]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    for says in [
        "components.yaml:8:1: `maxPods` in KubeletConfiguration: -5 must not be a negative number",
        "`cgroupDriver` in KubeletConfiguration: \"foo\" is not one of cgroupfs, systemd",
        "`clusterDNS` in KubeletConfiguration: \"10.0.0.300\" is not an IP address",
        "`imageGCLowThresholdPercent` in KubeletConfiguration: 60 must be less than imageGCHighThresholdPercent (50)",
        "`mode` in KubeProxyConfiguration: \"ipvsx\" is not one of iptables, ipvs",
        "`bindAddress` in KubeProxyConfiguration: \"everywhere\" is not an IP address",
    ] {
        assert!(stderr.contains(says), "{says}: {stderr}");
    }
    let out = kubestrap_bounded(
        tmp.path(),
        &["init", "--config", &path, "--root", root.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out).1);
    assert_eq!(tree(&root), Vec::<String>::new());
    // clusterCIDR must hold the pod subnet.
    let path = write(
        tmp.path(),
        "cidr.yaml",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: 10.244.0.0/16\n---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclusterCIDR: 192.168.0.0/16\n",
    );
    let out = kubestrap_bounded(tmp.path(), &["config", "validate", "--config", &path]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("does not hold the pod subnet 10.244.0.0/16"),
        "{stderr}"
    );
}

/// Messages that said too little: a YAML float where a version goes, positions in flow style;
/// and what kubeadm accepts (merge keys, `!!binary`) is accepted.
#[test]
fn yaml_messages_and_what_kubeadm_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let head = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n";
    let float = write(
        tmp.path(),
        "float.yaml",
        &format!("{head}kubernetesVersion: 1.20\n"),
    );
    let out = kubestrap_bounded(tmp.path(), &["config", "validate", "--config", &float]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("float.yaml:3:1: `kubernetesVersion`") && stderr.contains("quote it"),
        "{stderr}"
    );
    let flow = write(
        tmp.path(),
        "flow.yaml",
        "{apiVersion: kubeadm.k8s.io/v1beta4, kind: ClusterConfiguration,\n  networking: {podSubnet: bogus}}\n",
    );
    let out = kubestrap_bounded(tmp.path(), &["config", "validate", "--config", &flow]);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains("flow.yaml:2:16: `networking.podSubnet`"),
        "{stderr}"
    );
    let accepted = write(
        tmp.path(),
        "merge.yaml",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: !!binary YWJjZGVmLjAxMjM0NTY3ODlhYmNkZWY=\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nx-common: &common\n  extraArgs:\n  - name: v\n    value: \"2\"\napiServer:\n  <<: *common\n  certSANs: [a.example]\n",
    );
    let out = kubestrap_bounded(tmp.path(), &["config", "validate", "--config", &accepted]);
    let (_, stderr) = text(&out);
    // `x-common` is no kubeadm field (kubeadm says so too); the merge and the token are read.
    assert!(stderr.contains("unknown field `x-common`"), "{stderr}");
    assert!(
        !stderr.contains("<<") && !stderr.contains("bootstrapTokens"),
        "{stderr}"
    );
}
