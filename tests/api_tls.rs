//! A TLS round trip of the HTTP transport: a rustls server on 127.0.0.1 that requires a client
//! certificate, certificates made by openssl, and the kubeconfig shapes the transport reads.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kubestrap_phases::api::http::HttpTransport;
use kubestrap_phases::api::objects::ConfigMap;
use kubestrap_phases::api::{Client, ObjectRef, Retry};
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::runner::report::RecordingReporter;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::support;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a serving certificate for 127.0.0.1 and a client certificate, all signed by the CA.
fn pki(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={ca}"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.crt"),
        ],
    );
    for (name, subj, ext) in [
        (
            "server",
            "/CN=kube-apiserver",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        (
            "client",
            "/O=system:masters/CN=kubernetes-admin",
            "extendedKeyUsage=clientAuth\n",
        ),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                subj,
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
    }
}

/// Serves one connection: answers any request with a ConfigMap and returns the request line.
fn serve_once(dir: &Path) -> (u16, std::thread::JoinHandle<Option<String>>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.join("ca.crt")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(dir.join("server.crt"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().ok()?;
        let mut conn = rustls::ServerConnection::new(Arc::new(config)).ok()?;
        let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
        let mut reader = BufReader::new(&mut tls);
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let mut header = String::new();
        while reader.read_line(&mut header).ok()? > 2 {
            header.clear();
        }
        let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cluster-info","namespace":"kube-public"},"data":{"kubeconfig":"x"}}"#;
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(resp.as_bytes()).ok()?;
        tls.flush().ok()?;
        let _ = tls.read(&mut [0u8; 1]);
        Some(line.trim().to_string())
    });
    (port, handle)
}

fn kubeconfig(dir: &Path, port: u16, ca_file: &str) -> String {
    let b64 = |f: &str| STANDARD.encode(std::fs::read(dir.join(f)).unwrap());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: https://127.0.0.1:{port}\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: admin\n  name: admin@kubernetes\ncurrent-context: admin@kubernetes\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(ca_file),
        b64("client.crt"),
        b64("client.key"),
    )
}

#[test]
fn the_http_transport_speaks_mutual_tls_with_the_kubeconfig_credentials() {
    support::require_binary("openssl", "openssl");
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path(), "ca");
    let (port, server) = serve_once(dir.path());
    std::fs::create_dir_all(dir.path().join("etc/kubernetes")).unwrap();
    std::fs::write(
        dir.path().join("etc/kubernetes/admin.conf"),
        kubeconfig(dir.path(), port, "ca.crt"),
    )
    .unwrap();
    let root = Root::new(dir.path());
    let transport = HttpTransport::from_kubeconfig(&root, "/etc/kubernetes/admin.conf").unwrap();
    let client = Client::new(Box::new(transport), Retry::immediate());
    let out = RecordingReporter::default();
    let target = ObjectRef::new("v1", "ConfigMap", Some("kube-public"), "cluster-info").unwrap();
    let cm: ConfigMap = client.with(&out).get(&target).unwrap().unwrap();
    assert_eq!(cm.data["kubeconfig"], "x");
    assert_eq!(
        server.join().unwrap().as_deref(),
        Some("GET /api/v1/namespaces/kube-public/configmaps/cluster-info HTTP/1.1")
    );
}

#[test]
fn a_server_signed_by_another_ca_is_refused_naming_object_and_endpoint() {
    support::require_binary("openssl", "openssl");
    let dir = tempfile::tempdir().unwrap();
    pki(dir.path(), "ca");
    // A second CA that did not sign the server: what a stale kubeconfig holds after a re-init.
    openssl(
        dir.path(),
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=old",
            "-keyout", "old.key", "-out", "old.crt",
        ],
    );
    let (port, _server) = serve_once(dir.path());
    std::fs::create_dir_all(dir.path().join("etc/kubernetes")).unwrap();
    std::fs::write(
        dir.path().join("etc/kubernetes/admin.conf"),
        kubeconfig(dir.path(), port, "old.crt"),
    )
    .unwrap();
    let root = Root::new(dir.path());
    let transport = HttpTransport::from_kubeconfig(&root, "/etc/kubernetes/admin.conf").unwrap();
    let client = Client::new(Box::new(transport), Retry::immediate());
    let out = RecordingReporter::default();
    let target = ObjectRef::new("v1", "ConfigMap", Some("kube-public"), "cluster-info").unwrap();
    let err = format!(
        "{:#}",
        client.with(&out).get::<ConfigMap>(&target).unwrap_err()
    );
    assert!(
        err.contains(&format!(
            "failed to read ConfigMap `kube-public/cluster-info` at https://127.0.0.1:{port}"
        )),
        "{err}"
    );
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}
