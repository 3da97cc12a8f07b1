//! `reset` after the file phases of init: what it removes, what it keeps, that init runs again
//! on the same host, that a "no" changes nothing, and that `--dry-run` touches nothing.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use kubestrap_phases::config::{self, Documents, Overrides};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::host::{FakeHost, kubelet_unit};
use kubestrap_phases::runner;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::runner::report::RecordingReporter;
use kubestrap_phases::workflows::{init, reset};

use crate::support::{kubestrap, text, tree};

fn context(base: &Path, host: &FakeHost, yes: bool) -> (Context, Arc<RecordingReporter>) {
    let mut docs = Documents::default();
    docs.init.node_registration.name = Some("node1".into());
    docs.init.node_registration.cri_socket = Some("unix:///run/containerd/containerd.sock".into());
    docs.init.local_api_endpoint.advertise_address = Some("10.20.0.1".into());
    docs.cluster.kubernetes_version = Some("v1.20.2".into());
    let root = Root::new(base);
    let cfg = config::resolve(docs, &Overrides::default(), &root, host).unwrap();
    let out = Arc::new(RecordingReporter {
        yes,
        ..RecordingReporter::default()
    });
    let ctx = Context::new(
        cfg,
        root,
        Box::new(host.clone()),
        Box::new(out.clone()),
        Options::default(),
    );
    (ctx, out)
}

/// Every init phase that writes files (all but preflight and the API server's).
fn init_files(base: &Path, host: &FakeHost) {
    let (mut ctx, _) = context(base, host, true);
    let steps: Vec<_> = runner::plan(init::phases(ctx.cfg.version), None, &[])
        .unwrap()
        .into_iter()
        .filter(|s| {
            [
                "certs/",
                "kubeconfig/",
                "kubelet-start",
                "control-plane/",
                "etcd/",
            ]
            .iter()
            .any(|p| s.path.starts_with(p))
        })
        .collect();
    runner::run(&steps, &mut ctx, false).unwrap();
}

fn put(base: &Path, logical: &str) {
    let path = base.join(logical.trim_start_matches('/'));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, "x").unwrap();
}

fn is_empty_dir(base: &Path, logical: &str) -> bool {
    let path = base.join(logical.trim_start_matches('/'));
    path.is_dir() && fs::read_dir(path).unwrap().next().is_none()
}

/// A root with init's files and etcd data, on a host that is the machine this runs on, not the
/// one under the root (as under --root).
fn initialized_elsewhere() -> (tempfile::TempDir, FakeHost) {
    let dir = tempfile::tempdir().unwrap();
    let host = FakeHost {
        elsewhere: true,
        ..FakeHost::healthy()
    };
    init_files(dir.path(), &host);
    put(dir.path(), "/var/lib/etcd/member/snap/db");
    (dir, host)
}

#[test]
fn reset_empties_what_init_wrote_and_init_runs_again() {
    let (dir, host) = initialized_elsewhere();
    let base = dir.path();
    put(base, "/var/lib/kubelet/pods/uid/volumes/token");
    put(base, "/etc/kubernetes/tmp/kubeadm-backup");
    put(base, "/etc/cni/net.d/10-bridge.conflist");
    assert!(base.join("etc/kubernetes/manifests/etcd.yaml").is_file());

    let (mut ctx, out) = context(base, &host, true);
    let steps = runner::plan(reset::PHASES, None, &[]).unwrap();
    runner::run(&steps, &mut ctx, false).unwrap();

    for folder in [
        "/etc/kubernetes/manifests",
        "/etc/kubernetes/pki",
        "/var/lib/kubelet",
        "/var/lib/etcd",
    ] {
        assert!(is_empty_dir(base, folder), "{folder}: {:?}", tree(base));
    }
    for conf in ["admin", "kubelet", "controller-manager", "scheduler"] {
        assert!(!base.join(format!("etc/kubernetes/{conf}.conf")).exists());
    }
    // Not reset's: the tmp folder (without --cleanup-tmp-dir) and the CNI configuration.
    assert!(base.join("etc/kubernetes/tmp/kubeadm-backup").is_file());
    assert!(base.join("etc/cni/net.d/10-bridge.conflist").is_file());

    // Under --root, the machine's own kubelet is not stopped; what lies under the root is cleaned.
    let actions = host.actions();
    let kubelet_dir = base.join("var/lib/kubelet").canonicalize().unwrap();
    assert!(
        out.lines().iter().any(|l| l
            .contains("not /: skipped `systemctl stop kubelet`, which would change this machine")),
        "{:#?}",
        out.lines()
    );
    assert_eq!(
        actions,
        [
            format!("unmount under {}", kubelet_dir.display()),
            format!(
                "remove pod sandboxes at {}",
                base.join("run/containerd/containerd.sock").display()
            ),
        ]
    );
    let lines = out.lines();
    let has = |text: &str| lines.iter().any(|l| l.contains(text));
    assert!(
        has("Deleted contents of the etcd data directory: /var/lib/etcd"),
        "{lines:?}"
    );
    // etcd's folder again, once the kubelet and the containers are gone (a kubelet still
    // running after remove-etcd-member can restart etcd into it).
    assert!(has(
        "Deleting contents of directories: [/etc/kubernetes/manifests /var/lib/kubelet /etc/kubernetes/pki /var/lib/etcd]"
    ));
    assert!(has(
        "Checked: the manifests, the kubelet's folder, the certificates and the kubeconfigs are gone"
    ));

    // The host takes init again: nothing is refused as existing, and a second reset is harmless.
    init_files(base, &host);
    assert!(base.join("etc/kubernetes/pki/ca.key").is_file());
    let (mut ctx, _) = context(base, &host, true);
    runner::run(&steps, &mut ctx, false).unwrap();
    runner::run(&steps, &mut ctx, false).unwrap();
    assert!(is_empty_dir(base, "/etc/kubernetes/pki"));
}

/// In one reset, an etcd the kubelet restarted after remove-etcd-member emptied its folder (it
/// writes there until its pod is removed) is emptied by cleanup-node, and `--verify` would see
/// it if it were not: the run does not take its own earlier removal for the disk's state.
#[test]
fn an_etcd_restarted_into_its_emptied_folder_is_emptied_again_in_the_same_reset() {
    let (dir, mut host) = initialized_elsewhere();
    let base = dir.path();
    let restarted = base.join("var/lib/etcd/member/wal/0000000000000000-0000000000000000.wal");
    host.pods_write = vec![restarted.clone()];
    let (mut ctx, out) = context(base, &host, true);
    let steps = runner::plan(reset::PHASES, None, &[]).unwrap();
    runner::run(&steps, &mut ctx, false).unwrap();
    assert!(
        !restarted.exists() && is_empty_dir(base, "/var/lib/etcd"),
        "{:?}\n{:#?}",
        tree(base),
        out.lines()
    );
    assert!(
        !kubestrap_phases::phases::reset::leftovers(&ctx)
            .iter()
            .any(|l| l.contains("etcd")),
        "{:?}",
        kubestrap_phases::phases::reset::leftovers(&ctx)
    );
    // What the pods write after the reset is named by `--verify`'s look at the host.
    fs::create_dir_all(restarted.parent().unwrap()).unwrap();
    fs::write(&restarted, "x").unwrap();
    assert!(
        kubestrap_phases::phases::reset::leftovers(&ctx)
            .iter()
            .any(|l| l == "file /var/lib/etcd/member"),
        "{:?}",
        kubestrap_phases::phases::reset::leftovers(&ctx)
    );
}

/// `reset phase cleanup-node` run alone, after `remove-etcd-member` ran in an earlier run,
/// empties the etcd data folder that phase emptied (a kubelet still running in between may have
/// restarted etcd into it); without remove-etcd-member, the etcd data stays.
#[test]
fn cleanup_node_alone_empties_the_etcd_folder_an_earlier_remove_etcd_member_emptied() {
    let (dir, host) = initialized_elsewhere();
    let base = dir.path();
    let phase = |name: &str| {
        let (mut ctx, out) = context(base, &host, true);
        let steps = runner::plan(reset::PHASES, Some(name), &[]).unwrap();
        runner::run(&steps, &mut ctx, true).unwrap();
        out.lines()
    };
    phase("remove-etcd-member");
    assert!(is_empty_dir(base, "/var/lib/etcd"));
    put(base, "/var/lib/etcd/member/wal/restarted");
    let lines = phase("cleanup-node");
    assert!(is_empty_dir(base, "/var/lib/etcd"), "{:?}", tree(base));
    assert!(
        lines.iter().any(|l| l.contains(
            "Deleting contents of directories: [/etc/kubernetes/manifests /var/lib/kubelet /etc/kubernetes/pki /var/lib/etcd]"
        )),
        "{lines:?}"
    );
    assert!(!base.join("var/lib/kubestrap").exists(), "{:?}", tree(base));

    // Skipping remove-etcd-member keeps the data.
    init_files(base, &host);
    put(base, "/var/lib/etcd/member/snap/db");
    phase("cleanup-node");
    assert!(base.join("var/lib/etcd/member/snap/db").is_file());
}

/// What reset cannot remove (an immutable file here) does not stop it: the rest goes, and the
/// end names what is left.
#[test]
fn what_cannot_be_removed_is_named_and_the_rest_goes() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let host = FakeHost::healthy();
    init_files(base, &host);
    let stuck = base.join("etc/kubernetes/pki/stuck");
    fs::write(&stuck, "x").unwrap();
    let chattr = |flag: &str| {
        std::process::Command::new("chattr")
            .arg(flag)
            .arg(&stuck)
            .status()
            .unwrap()
            .success()
    };
    assert!(
        chattr("+i"),
        "`chattr +i` needs root and a filesystem with attributes"
    );
    let (mut ctx, out) = context(base, &host, true);
    let steps = runner::plan(reset::PHASES, None, &[]).unwrap();
    let result = runner::run(&steps, &mut ctx, false);
    assert!(chattr("-i"));
    result.unwrap();
    assert!(!base.join("etc/kubernetes/pki/ca.key").exists());
    assert!(!base.join("etc/kubernetes/admin.conf").exists());
    assert!(is_empty_dir(base, "/etc/kubernetes/manifests"));
    let lines = out.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("still present after the reset: /etc/kubernetes/pki/stuck")),
        "{lines:?}"
    );
}

#[test]
fn answering_no_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let host = FakeHost::healthy();
    init_files(base, &host);
    let before = tree(base);
    let (mut ctx, _) = context(base, &host, false);
    let steps = runner::plan(reset::PHASES, None, &[]).unwrap();
    let err = format!("{:#}", runner::run(&steps, &mut ctx, false).unwrap_err());
    assert!(err.contains("aborted reset operation"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(tree(base), before);
    assert!(host.actions().is_empty());
}

#[test]
fn dry_run_lists_what_it_would_do_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let root = base.to_str().unwrap();
    let config = base.join("init.yaml");
    fs::write(
        &config,
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 10.20.0.1\nnodeRegistration:\n  name: node1\n  criSocket: unix:///run/containerd/containerd.sock\n---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.20.2\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    fs::create_dir_all(base.join("var/lib/etcd/member")).unwrap();
    for phase in ["certs", "kubeconfig", "etcd"] {
        let out = kubestrap(&["init", "phase", phase, "--root", root, "--config", config]);
        assert!(out.status.success(), "{:?}", text(&out));
    }
    let before = tree(base);
    let out = kubestrap(&["reset", "--dry-run", "--force", "--root", root]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(tree(base), before);
    for line in [
        "not /: skipped `systemctl stop kubelet`, which would change this machine, not the one under the root",
        "[reset] Would remove Kubernetes-managed containers",
        "[reset] Would delete contents of the etcd data directory: /var/lib/etcd",
        "[reset] Would delete files: [/etc/kubernetes/admin.conf",
    ] {
        assert!(stderr.contains(line), "{line}\n{stderr}");
    }
    for removed in [
        "/etc/kubernetes/pki/ca.key",
        "/etc/kubernetes/admin.conf",
        "/var/lib/etcd/member",
    ] {
        let line = format!("[dryrun] would remove {removed}\n");
        assert!(stdout.contains(&line), "{line}{stdout}");
    }
    assert!(
        stdout.contains("does not clean CNI configuration"),
        "{stdout}"
    );
}

/// A root with the certificates and local etcd manifest of v1.20.2, for a real etcd.
fn etcd_root() -> tempfile::TempDir {
    crate::support::require_binary("etcd", "etcd-server");
    crate::support::require_binary("etcdctl", "etcd-client");
    let dir = tempfile::tempdir().unwrap();
    crate::real_etcd::etcd_files(dir.path(), "v1.20.2");
    dir
}

/// `reset phase remove-etcd-member` on a root; its console lines.
fn remove_etcd_member(root: &str) -> String {
    let out = kubestrap(&[
        "reset",
        "phase",
        "remove-etcd-member",
        "--force",
        "--root",
        root,
    ]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    stderr
}

/// reset asks the etcd at the manifest's first client URL: make it this test's port.
fn point_manifest_at(base: &Path, client: u16) {
    let manifest = base.join("etc/kubernetes/manifests/etcd.yaml");
    let before = fs::read_to_string(&manifest).unwrap();
    let moved = before.replace(
        "--listen-client-urls=https://127.0.0.1:2379,",
        &format!("--listen-client-urls=https://127.0.0.1:{client},"),
    );
    assert_ne!(moved, before);
    fs::write(&manifest, moved).unwrap();
}

/// remove-etcd-member against a real etcd (Debian `etcd-server`) started from the generated
/// manifest: it asks the member list over TLS with the healthcheck client certificate, finds
/// this member alone, and empties the data folder.
#[test]
fn remove_etcd_member_asks_a_real_etcd() {
    use crate::real_etcd::{etcd_args, free_port, start_etcd};
    let dir = etcd_root();
    let base = dir.path();
    let root = base.to_str().unwrap();
    let (client, peer, metrics) = (free_port(), free_port(), free_port());
    let etcd = start_etcd(base, &etcd_args(base, client, peer, metrics));
    point_manifest_at(base, client);
    etcd.wait_healthy(base, client);
    assert!(base.join("var/lib/etcd/member").is_dir());

    let stderr = remove_etcd_member(root);
    assert!(
        stderr.contains("This node's etcd is the only member of its cluster"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Deleted contents of the etcd data directory: /var/lib/etcd"),
        "{stderr}"
    );
    assert!(is_empty_dir(base, "/var/lib/etcd"));
}

/// A second member `b` of the cluster of the etcd serving `client_a` (peer `peer_a`), on other
/// ports and its own data folder, with the same certificates (they name 127.0.0.1); `add` adds it
/// to the cluster (`member add`) given its peer URL. Returns it started, and its client port.
fn second_member(
    base: &Path,
    peer_a: u16,
    add: impl FnOnce(&str),
) -> (crate::real_etcd::Etcd, u16) {
    use crate::real_etcd::{etcd_args, free_port, start_etcd};
    let (client_b, peer_b) = (free_port(), free_port());
    add(&format!("https://127.0.0.1:{peer_b}"));
    let b_args: Vec<String> = etcd_args(base, client_b, peer_b, free_port())
        .into_iter()
        .map(|arg| match arg.split_once('=') {
            Some(("--name", _)) => "--name=b".into(),
            Some(("--data-dir", _)) => format!("--data-dir={}/var/lib/etcd-b", base.display()),
            Some(("--initial-cluster", _)) => format!(
                "--initial-cluster=etcd-test=https://127.0.0.1:{peer_a},b=https://127.0.0.1:{peer_b}"
            ),
            _ => arg,
        })
        .chain(["--initial-cluster-state=existing".to_string()])
        .collect();
    let b_log = base.join("b");
    fs::create_dir_all(&b_log).unwrap();
    (start_etcd(&b_log, &b_args), client_b)
}

/// `member add` with etcdctl through the member serving `client`.
fn etcdctl_add(base: &Path, client: u16) -> impl FnOnce(&str) + '_ {
    move |peer| {
        let add = crate::real_etcd::etcdctl(
            base,
            client,
            "etcd/healthcheck-client",
            &["member", "add", "b", &format!("--peer-urls={peer}")],
        );
        assert!(add.status.success(), "member add: {}", text(&add).1);
    }
}

/// A healthy real cluster of two members: `a` (this node's, of the files under the root) and `b`,
/// with their client ports.
fn two_members() -> (
    tempfile::TempDir,
    crate::real_etcd::Etcd,
    u16,
    crate::real_etcd::Etcd,
    u16,
) {
    use crate::real_etcd::{etcd_args, free_port, start_etcd};
    let dir = etcd_root();
    let base = dir.path();
    let (client_a, peer_a) = (free_port(), free_port());
    let a = start_etcd(base, &etcd_args(base, client_a, peer_a, free_port()));
    a.wait_healthy(base, client_a);
    let (b, client_b) = second_member(base, peer_a, etcdctl_add(base, client_a));
    b.wait_healthy(base, client_b);
    (dir, a, client_a, b, client_b)
}

/// With a second member, remove-etcd-member takes this node's member out of the cluster before
/// deleting its data, so the other member keeps working alone.
#[test]
fn remove_etcd_member_leaves_a_real_two_member_cluster() {
    use crate::real_etcd::etcdctl;
    let (dir, _a, client_a, b, client_b) = two_members();
    let (base, root) = (dir.path(), dir.path().to_str().unwrap());
    let _b = b;

    point_manifest_at(base, client_a);
    let stderr = remove_etcd_member(root);
    assert!(
        stderr.contains("Removed this node's member") && stderr.contains("from the etcd cluster"),
        "{stderr}"
    );
    let list = etcdctl(
        base,
        client_b,
        "etcd/healthcheck-client",
        &["member", "list"],
    );
    let (members, err) = text(&list);
    assert!(list.status.success(), "member list: {err}");
    assert_eq!(members.lines().count(), 1, "{members}");
    assert!(members.contains(", b, "), "{members}");
}

/// Without --force, reset keeps this node's member when the others would have no quorum
/// without it (here: the other of two members is down), and deletes nothing.
#[test]
fn remove_etcd_member_refuses_to_leave_a_real_cluster_without_quorum() {
    let (dir, _a, client_a, b, _) = two_members();
    let (base, root) = (dir.path(), dir.path().to_str().unwrap());
    drop(b);
    point_manifest_at(base, client_a);
    let out = kubestrap(&["reset", "phase", "remove-etcd-member", "--root", root]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("b (") && stderr.contains("would leave the cluster without quorum"),
        "{stderr}"
    );
    assert!(stderr.contains("kubestrap reset --force"), "{stderr}");
    assert!(base.join("var/lib/etcd/member").is_dir(), "the data went");
}

/// The gateway calls of a control-plane join against real etcd: a learner is added, starts,
/// is promoted once it caught up, and can be removed again.
#[test]
fn a_learner_joins_a_real_cluster_is_promoted_and_removed() {
    use kubestrap_phases::api::etcd_client::ClientTls;
    use kubestrap_phases::api::etcd_cluster::{EtcdCalls, Gateway};
    use std::time::{Duration, Instant};

    use crate::real_etcd::{etcd_args, free_port, start_etcd};
    let dir = etcd_root();
    let base = dir.path();
    let (client_a, peer_a) = (free_port(), free_port());
    let a = start_etcd(base, &etcd_args(base, client_a, peer_a, free_port()));
    a.wait_healthy(base, client_a);
    let pki = base.join("etc/kubernetes/pki");
    let gateway = Gateway {
        endpoints: vec![format!("https://127.0.0.1:{client_a}")],
        tls: ClientTls {
            ca: fs::read(pki.join("etcd/ca.crt")).unwrap(),
            identity: Some((
                fs::read(pki.join("apiserver-etcd-client.crt")).unwrap(),
                fs::read(pki.join("apiserver-etcd-client.key")).unwrap(),
            )),
        },
        timeout: Duration::from_secs(5),
    };
    let mut added = String::new();
    let (b, client_b) = second_member(base, peer_a, |peer| {
        let (id, members) = gateway.add_learner(peer).unwrap();
        let new = members.iter().find(|m| m.id == id).unwrap();
        assert!(new.is_learner && !new.started(), "{new:?}");
        added = id;
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Err(e) = gateway.promote(&added) {
        assert!(
            Instant::now() < deadline,
            "the learner was never promoted: {e:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    b.wait_healthy(base, client_b);
    let (members, _) = gateway.members().unwrap();
    assert_eq!(members.len(), 2);
    assert!(
        members.iter().all(|m| m.started() && !m.is_learner),
        "{members:?}"
    );
    assert!(gateway.healthy(&format!("https://127.0.0.1:{client_b}")));
    // etcd refuses to remove a member that became active only seconds ago.
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = gateway.remove(&added) {
        assert!(
            Instant::now() < deadline,
            "the member was never removed: {e:#}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(gateway.members().unwrap().0.len(), 1);
}

#[test]
fn on_a_systemd_host_kubelet_start_writes_the_drop_in_and_reset_removes_only_kubestraps() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/systemd");
    let copy = |from: &str, to: &str| {
        let to = base.join(to.trim_start_matches('/'));
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(units.join(from), to).unwrap();
    };
    fs::create_dir_all(base.join("run/systemd/system")).unwrap();
    copy("kubelet.service", "/usr/lib/systemd/system/kubelet.service");
    let host = FakeHost::healthy();
    init_files(base, &host);
    let drop_in = base.join(kubelet_unit::DROP_IN.trim_start_matches('/'));
    assert_eq!(
        fs::read_to_string(&drop_in).unwrap(),
        kubelet_unit::drop_in("/usr/bin/kubelet").unwrap()
    );
    assert_eq!(
        host.actions(),
        [
            "systemctl daemon-reload",
            "systemctl enable kubelet.service",
            "systemctl restart kubelet"
        ]
    );

    // kubeadm's package drop-in beside it: reset keeps it, and the package's unit.
    copy(
        "10-kubeadm.conf",
        "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
    );
    let host = FakeHost::healthy();
    let (mut ctx, out) = context(base, &host, true);
    let steps = runner::plan(reset::PHASES, None, &[]).unwrap();
    runner::run(&steps, &mut ctx, false).unwrap();
    assert!(!drop_in.exists(), "{:#?}", out.lines());
    assert!(
        base.join("usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf")
            .is_file()
    );
    assert!(
        base.join("usr/lib/systemd/system/kubelet.service")
            .is_file()
    );
    assert!(
        host.actions()
            .contains(&"systemctl daemon-reload".to_string())
    );

    // With kubeadm's drop-in and the unit enabled, kubelet-start only restarts the kubelet.
    let mut host = FakeHost::healthy();
    host.services.insert("kubelet.service".into(), true);
    init_files(base, &host);
    assert!(!drop_in.exists());
    assert_eq!(host.actions(), ["systemctl restart kubelet"]);
}

fn reset_with(
    base: &Path,
    host: &FakeHost,
    cleanup_network: bool,
) -> (Context, Arc<RecordingReporter>) {
    let (mut ctx, out) = context(base, host, true);
    ctx.opts.cleanup_network = cleanup_network;
    let steps = runner::plan(reset::PHASES, None, &[]).unwrap();
    runner::run(&steps, &mut ctx, false).unwrap();
    (ctx, out)
}

const IPTABLES_SAVE: &str = "*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:MINE - [0:0]
-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
-A PREROUTING -j MINE
COMMIT
";

/// `--cleanup-network`: the CNI files, the plugins' interfaces and the KUBE-* chains with the
/// jumps to them go; another interface and a rule of the user's own stay.
#[test]
fn cleanup_network_removes_the_cluster_network_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let mut host = FakeHost::healthy();
    host.outputs
        .insert("iptables-save".into(), IPTABLES_SAVE.into());
    host.outputs.insert("ip6tables-save".into(), String::new());
    init_files(base, &host);
    put(base, "/etc/cni/net.d/10-bridge.conflist");
    put(base, "/var/lib/cni/networks/cbr0/10.244.0.2");
    for iface in ["cni0", "flannel.1", "eth0", "lo"] {
        fs::create_dir_all(base.join("sys/class/net").join(iface)).unwrap();
    }

    let (_, out) = reset_with(base, &host, true);
    assert!(is_empty_dir(base, "/etc/cni/net.d"));
    assert!(is_empty_dir(base, "/var/lib/cni"));
    let actions = host.actions();
    assert!(
        actions.contains(&"ip link delete cni0".to_string()),
        "{actions:?}"
    );
    assert!(actions.contains(&"ip link delete flannel.1".to_string()));
    assert!(
        !actions
            .iter()
            .any(|a| a.contains("eth0") || a.contains("delete lo"))
    );
    let restore = actions
        .iter()
        .find(|a| a.starts_with("iptables-restore -w --noflush"))
        .expect("the chains are removed");
    assert!(restore.contains("-D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n-F KUBE-SERVICES\n-X KUBE-SERVICES\n"), "{restore}");
    assert!(!restore.contains("MINE"), "{restore}");
    assert!(!actions.iter().any(|a| a.starts_with("ip6tables-restore")));
    assert!(
        out.lines()
            .iter()
            .any(|l| l.contains("1 KUBE-* chains and 1 rules jumping to them from the nat table"))
    );
}

/// `--verify` names each thing left: a listener, a pod in the runtime, a file; nothing on a clean host.
#[test]
fn verify_names_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let mut host = FakeHost::healthy();
    init_files(base, &host);
    let (ctx, _) = reset_with(base, &host, false);
    assert_eq!(
        kubestrap_phases::phases::reset::leftovers(&ctx),
        Vec::<String>::new()
    );

    host.busy_ports = vec![6443];
    host.cri_leftovers = vec!["pod sandbox kube-system/etcd-node1 (abc)".into()];
    put(base, "/etc/kubernetes/manifests/kube-apiserver.yaml");
    put(base, "/run/containerd/containerd.sock");
    let (ctx, _) = context(base, &host, true);
    let left = kubestrap_phases::phases::reset::leftovers(&ctx);
    assert_eq!(
        left,
        [
            "listener on port 6443",
            "pod sandbox kube-system/etcd-node1 (abc)",
            "file /etc/kubernetes/manifests/kube-apiserver.yaml",
        ],
        "{left:?}"
    );
}

/// The sudo user's kubeconfig that trusts the reset cluster's CA is moved aside; one for
/// another cluster stays.
#[test]
fn the_users_kubeconfig_of_this_cluster_is_moved_aside() {
    use kubestrap_phases::phases::kubeconfig::sudo_user::{SudoUser, set_aside_user_kubeconfig};
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let host = FakeHost::healthy();
    init_files(base, &host);
    let ca = fs::read(base.join("etc/kubernetes/pki/ca.crt")).unwrap();
    let admin = fs::read(base.join("etc/kubernetes/admin.conf")).unwrap();
    let user = SudoUser {
        name: "alice".into(),
        home: "/home/alice".into(),
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
    };
    let kubeconfig = base.join("home/alice/.kube/config");
    fs::create_dir_all(kubeconfig.parent().unwrap()).unwrap();
    fs::write(&kubeconfig, &admin).unwrap();
    let (ctx, _) = context(base, &host, true);
    assert_eq!(
        set_aside_user_kubeconfig(&ctx, &user, b"another CA").unwrap(),
        None
    );
    assert!(kubeconfig.is_file());
    let (path, backup) = set_aside_user_kubeconfig(&ctx, &user, &ca)
        .unwrap()
        .unwrap();
    assert_eq!(path, "/home/alice/.kube/config");
    assert!(!kubeconfig.exists());
    assert_eq!(
        fs::read(base.join(backup.trim_start_matches('/'))).unwrap(),
        admin
    );
}

#[test]
fn a_system_folder_as_the_certificates_folder_is_refused_before_anything_happens() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let host = FakeHost::healthy();
    init_files(base, &host);
    put(base, "/etc/hostname");
    let root = base.to_str().unwrap();
    let file = base.join("reset.yaml");
    fs::write(
        &file,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\ncertificatesDir: /etc\n",
    )
    .unwrap();
    let before = tree(base);
    for args in [
        &["reset", "-f", "--cert-dir", "/", "--root", root][..],
        &["reset", "-f", "--cert-dir", "/usr/", "--root", root],
        &[
            "reset",
            "-f",
            "--cert-dir",
            "/etc/kubernetes/pki/../..",
            "--root",
            root,
        ],
        &[
            "reset",
            "-f",
            "--config",
            file.to_str().unwrap(),
            "--root",
            root,
        ],
    ] {
        let out = kubestrap(args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains("is a system folder, not a certificates folder")
                || stderr.contains("climbs with `..`"),
            "{args:?}: {stderr}"
        );
        assert_eq!(tree(base), before, "{args:?} changed the root");
    }
}

/// Under another `--root`, `--cleanup-network` cleans the files under it but deletes no
/// interface and no chain of this machine, saying so for each.
#[test]
fn cleanup_network_under_another_root_runs_nothing_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let mut host = FakeHost {
        elsewhere: true,
        ..FakeHost::healthy()
    };
    host.outputs
        .insert("iptables-save".into(), IPTABLES_SAVE.into());
    host.outputs.insert("ip6tables-save".into(), String::new());
    init_files(base, &host);
    put(base, "/etc/cni/net.d/10-bridge.conflist");
    fs::create_dir_all(base.join("sys/class/net/cni0")).unwrap();

    let (_, out) = reset_with(base, &host, true);
    let actions = host.actions();
    assert!(
        !actions
            .iter()
            .any(|a| a.starts_with("ip ") || a.contains("tables") || a.contains("stop kubelet")),
        "{actions:?}"
    );
    let lines = out.lines();
    for what in ["ip link delete cni0", "iptables-restore (KUBE-* chains)"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("not /: skipped `{what}`"))),
            "{what}: {lines:#?}"
        );
    }
    assert!(is_empty_dir(base, "/etc/cni/net.d"));
}
