use super::*;
use std::time::Duration;

use crate::config::join::{JoinFlags, resolve_join};
use crate::fs::root::Root;
use crate::host::FakeHost;
use crate::runner::report::RecordingReporter;
use crate::version::KubeVersion;

/// A control-plane join of `node2` at 10.0.0.2 into a cluster whose endpoint is `endpoint`.
pub(crate) fn joining(base: &std::path::Path, endpoint: Option<&str>) -> Context {
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
    assert!(ctx.cfg.joins_control_plane());
    assert_eq!(ctx.cfg.advertise_address.to_string(), "10.0.0.2");
    assert_eq!(ctx.cfg.bind_port, 6443);
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
    assert!(!ctx.cfg.joins_control_plane());
    // Would poll 10257/10259 and fail if it waited.
    wait_control_plane(&mut ctx).unwrap();
}
