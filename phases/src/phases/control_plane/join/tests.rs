use super::*;
use crate::api::etcd_cluster::fake::FakeEtcd;
use crate::config::join::{JoinFlags, resolve_join};
use crate::fs::root::Root;
use crate::host::FakeHost;
use crate::host::interrupt::{Interrupt, Interrupted};
use crate::runner::report::RecordingReporter;
use crate::version::KubeVersion;

/// A control-plane join of `node2` at 10.0.0.2 into a cluster whose endpoint is `endpoint`.
fn joining(base: &std::path::Path, endpoint: Option<&str>) -> Context {
    let root = Root::new(base);
    let host = FakeHost::healthy();
    let flags = JoinFlags {
        endpoint: Some("10.0.0.1:6443".into()),
        token: Some("abcdef.0123456789abcdef".into()),
        ca_cert_hashes: vec![format!("sha256:{}", "a".repeat(64))],
        cri_socket: Some("unix:///run/containerd/containerd.sock".into()),
        node_name: Some("node2".into()),
        control_plane: true,
        apiserver_advertise_address: Some("10.0.0.2".into()),
        ..JoinFlags::default()
    };
    let mut cfg = resolve_join(Default::default(), &flags, &root, &host).unwrap();
    cfg.version = KubeVersion::parse("v1.20.2").unwrap();
    cfg.cluster.kubernetes_version = Some("v1.20.2".into());
    cfg.cluster.control_plane_endpoint = endpoint.map(str::to_string);
    Context::new(
        cfg,
        root,
        Box::new(host),
        Box::new(RecordingReporter::default()),
        Default::default(),
    )
}

#[test]
fn flags_make_a_control_plane_join_with_this_node_s_address() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = joining(dir.path(), None);
    assert!(is_control_plane(&ctx));
    assert_eq!(ctx.cfg.advertise_address.to_string(), "10.0.0.2");
    assert_eq!(ctx.cfg.bind_port, 6443);
    assert_eq!(peer_url(&ctx), "https://10.0.0.2:2380");
}

#[test]
fn no_control_plane_endpoint_or_no_shared_certificates_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = joining(dir.path(), None);
    let err = check_can_join(&ctx).unwrap_err().to_string();
    assert!(
        err.contains("doesn't have a stable controlPlaneEndpoint"),
        "{err}"
    );
    assert!(err.contains("--control-plane-endpoint"), "{err}");

    let mut ctx = joining(dir.path(), Some("10.0.0.1:6443"));
    let err = check_can_join(&ctx).unwrap_err().to_string();
    for f in ["ca.key", "sa.pub", "front-proxy-ca.crt", "etcd/ca.key"] {
        assert!(err.contains(&format!("/etc/kubernetes/pki/{f}")), "{err}");
    }
    assert!(err.contains("--certificate-key"), "{err}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "a refusal wrote something"
    );
    // With the key the files come from the kubeadm-certs Secret instead.
    ctx.cfg.join.as_mut().unwrap().certificate_key = Some("0".repeat(64));
    check_can_join(&ctx).unwrap();
}

/// The shared CAs and service-account key, as the first control-plane node made them.
fn shared_cas(ctx: &mut Context) {
    for phase in crate::phases::certs::PHASES {
        if ["ca", "front-proxy-ca", "etcd-ca", "sa"].contains(&phase.name) {
            (phase.run.unwrap())(ctx).unwrap();
        }
    }
}

#[test]
fn this_node_s_certificates_come_from_the_shared_cas() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = joining(dir.path(), Some("10.0.0.1:6443"));
    shared_cas(&mut ctx);
    check_can_join(&ctx).unwrap();
    let ca = std::fs::read(dir.path().join("etc/kubernetes/pki/ca.crt")).unwrap();
    prepare_certs(&mut ctx).unwrap();
    prepare_kubeconfig(&mut ctx).unwrap();
    let pki = dir.path().join("etc/kubernetes/pki");
    assert_eq!(
        std::fs::read(pki.join("ca.crt")).unwrap(),
        ca,
        "the CA was replaced"
    );
    for leaf in [
        "apiserver",
        "apiserver-kubelet-client",
        "front-proxy-client",
        "etcd/server",
        "etcd/peer",
        "etcd/healthcheck-client",
        "apiserver-etcd-client",
    ] {
        assert!(pki.join(format!("{leaf}.crt")).exists(), "{leaf}");
    }
    let apiserver = crate::pki::read_cert(&ctx.root, "/etc/kubernetes/pki/apiserver.crt").unwrap();
    assert!(apiserver.dns_names.contains(&"node2".to_string()));
    assert!(apiserver.ips.contains(&"10.0.0.2".parse().unwrap()));
    assert!(apiserver.ips.contains(&"10.0.0.1".parse().unwrap()));
    let peer = crate::pki::read_cert(&ctx.root, "/etc/kubernetes/pki/etcd/peer.crt").unwrap();
    assert!(peer.ips.contains(&"10.0.0.2".parse().unwrap()));
    let admin = std::fs::read_to_string(dir.path().join("etc/kubernetes/admin.conf")).unwrap();
    assert!(admin.contains("server: https://10.0.0.1:6443"), "{admin}");
    for f in ["controller-manager.conf", "scheduler.conf"] {
        assert!(dir.path().join("etc/kubernetes").join(f).exists(), "{f}");
    }
    assert!(!dir.path().join("etc/kubernetes/kubelet.conf").exists());
}

fn etcd_manifest(base: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(base.join("etc/kubernetes/manifests/etcd.yaml")).ok()
}

#[test]
fn the_member_joins_as_a_learner_and_is_promoted_once_started() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = joining(dir.path(), Some("10.0.0.1:6443"));
    let etcd = FakeEtcd::healthy(&[("1", "node1", "10.0.0.1")]);
    etcd.new_members_start.set(true);
    add_member(&mut ctx, &etcd).unwrap();
    let manifest = etcd_manifest(dir.path()).unwrap();
    assert!(
        manifest
            .contains("--initial-cluster=node1=https://10.0.0.1:2380,node2=https://10.0.0.2:2380"),
        "{manifest}"
    );
    assert!(
        manifest.contains("--initial-cluster-state=existing"),
        "{manifest}"
    );
    let members = etcd.members.borrow().clone();
    assert_eq!(members.len(), 2);
    assert!(members.iter().all(|m| m.started() && !m.is_learner));
    let added = ctx.state::<AddedMember>().cloned();
    assert_eq!(
        added.as_ref().map(|a| a.others.clone()),
        Some(vec!["https://10.0.0.1:2379".to_string()])
    );
    // A failure later in the join takes the member out again, and its pod and data.
    remove_added(&ctx, &etcd, added.as_ref().unwrap()).unwrap();
    assert_eq!(etcd.members.borrow().len(), 1);
    assert_eq!(etcd_manifest(dir.path()), None);
}

#[test]
fn a_join_interrupted_while_its_member_starts_stops_and_the_member_is_removed_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = joining(dir.path(), Some("10.0.0.1:6443"));
    ctx.interrupt = Interrupt::private();
    // The new member never starts: without the signal the join would wait its full 180 s.
    let etcd = FakeEtcd::healthy(&[("1", "node1", "10.0.0.1")]);
    ctx.interrupt.raise(signal_hook::consts::SIGINT);
    let err = add_member(&mut ctx, &etcd).unwrap_err();
    assert_eq!(
        Interrupted::find(&err).map(|i| i.name()),
        Some("SIGINT".to_string()),
        "{err:#}"
    );
    assert_eq!(etcd.members.borrow().len(), 2);
    let added = ctx.state::<AddedMember>().cloned();
    // The undo of a failed join, which the interrupted one takes: etcd refuses the first
    // removal, and the undo tries again although the run is interrupted.
    etcd.refused_removals.set(1);
    remove_added(&ctx, &etcd, &added.unwrap()).unwrap();
    assert_eq!(etcd.members.borrow().len(), 1);
    assert_eq!(etcd_manifest(dir.path()), None);
}

#[test]
fn a_pending_or_unhealthy_member_or_this_address_already_a_member_is_refused_before_the_add() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = joining(dir.path(), Some("10.0.0.1:6443"));
    let pending = FakeEtcd::healthy(&[("1", "node1", "10.0.0.1")]);
    pending
        .members
        .borrow_mut()
        .push(crate::api::etcd_cluster::fake::member("42", "", "10.0.0.3"));
    let err = add_member(&mut ctx, &pending).unwrap_err().to_string();
    assert!(
        err.contains("42 at https://10.0.0.3:2380 (added, never started)"),
        "{err}"
    );
    let sick = FakeEtcd::healthy(&[("1", "node1", "10.0.0.1"), ("3", "node3", "10.0.0.3")]);
    sick.up.borrow_mut().remove("https://10.0.0.3:2379");
    let err = add_member(&mut ctx, &sick).unwrap_err().to_string();
    assert!(err.contains("node3 (3) do not answer"), "{err}");
    let again = FakeEtcd::healthy(&[("1", "node1", "10.0.0.1"), ("2", "node2", "10.0.0.2")]);
    let err = add_member(&mut ctx, &again).unwrap_err().to_string();
    assert!(err.contains("belongs to etcd member node2 (2)"), "{err}");
    for etcd in [&pending, &sick, &again] {
        assert!(etcd.members.borrow().iter().all(|m| !m.is_learner));
    }
    assert_eq!(etcd_manifest(dir.path()), None);
    assert_eq!(ctx.state::<AddedMember>(), None);
}

#[test]
fn a_member_that_never_starts_times_out_with_the_place_to_look() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = joining(dir.path(), Some("10.0.0.1:6443"));
    let etcd = FakeEtcd::healthy(&[("1", "node1", "10.0.0.1")]);
    let (id, _) = etcd.add_learner("https://10.0.0.2:2380").unwrap();
    let err = wait_and_promote(&ctx, &etcd, &id, Duration::from_millis(10))
        .unwrap_err()
        .to_string();
    assert!(err.contains("it has not started"), "{err}");
    assert!(err.contains("crictl ps -a --name etcd"), "{err}");
}

#[test]
fn a_dry_run_reports_the_etcd_steps_and_reaches_no_etcd() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = joining(dir.path(), Some("10.0.0.1:6443"));
    ctx.opts.dry_run = true;
    // Nothing answers at the cluster: a real attempt would fail.
    check_etcd(&mut ctx).unwrap();
    join_etcd(&mut ctx).unwrap();
    assert_eq!(etcd_manifest(dir.path()), None);
    assert_eq!(ctx.state::<AddedMember>(), None);
}

/// A loopback HTTP server answering 500 to its first `failures` requests, then 200.
fn health_server(failures: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let status = if n < failures {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
        }
    });
    url
}

#[test]
fn wait_control_plane_waits_for_every_local_component() {
    use crate::phases::control_plane::wait::wait_healthy;
    let dir = tempfile::tempdir().unwrap();
    let ctx = joining(dir.path(), Some("cp.example:6443"));
    let checks = [
        ("kube-apiserver", health_server(0), "/livez"),
        ("kube-scheduler", health_server(3), "/healthz"),
    ];
    wait_healthy(&ctx, &checks, Duration::from_secs(30)).unwrap();

    // Nothing listens on a port just released: the component is named after the timeout.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let checks = [
        ("kube-apiserver", health_server(0), "/livez"),
        ("kube-controller-manager", closed, "/healthz"),
    ];
    let err = wait_healthy(&ctx, &checks, Duration::from_millis(500)).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("kube-controller-manager"), "{text}");
    assert!(!text.contains("kube-apiserver"), "{text}");
}

#[test]
fn a_worker_has_no_control_plane_to_wait_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = joining(dir.path(), Some("cp.example:6443"));
    if let Some(join) = ctx.cfg.join.as_mut() {
        join.control_plane = false;
    }
    assert!(!is_control_plane(&ctx));
    // Would poll 10257/10259 and fail if it waited.
    wait_control_plane(&mut ctx).unwrap();
}
