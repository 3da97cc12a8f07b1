//! Servers not trusted yet: a TLS server on 127.0.0.1 that streams an endless body, redirects
//! or answers with a body of its own. Discovery reads at most its limit, follows no redirect and
//! never shows what such a server sent; the binary's https discovery file likewise.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use kubestrap_phases::config::token_format::Token;
use kubestrap_phases::host::interrupt::Interrupt;
use kubestrap_phases::phases::bootstrap::discovery::{self, Https, TokenDiscovery};
use kubestrap_phases::pki::{self, AltNames, CertRequest, KeyAlgorithm, PrivateKey, Usage};
use kubestrap_phases::runner::report::RecordingReporter;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::support::text;

/// Written again and again as the body: it must never appear in an error.
const MARKER: &str = "SERVER-BODY-MARKER ";
/// An endless body stops here, so a client that reads everything still ends.
const SERVER_CAP: usize = 64 << 20;

/// A CA (PEM) and a serving certificate and key (PEM) for 127.0.0.1 signed by it.
fn serving_pki() -> (String, String, String) {
    let now = SystemTime::now() - Duration::from_secs(60);
    let day = Duration::from_secs(86400);
    let ca_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let ca = pki::sign(
        &CertRequest {
            common_name: "untrusted-ca".into(),
            organizations: vec![],
            alt_names: AltNames::default(),
            usages: vec![],
            is_ca: true,
            leaf_basic_constraints: false,
            not_before: now,
            not_after: now + day,
        },
        &ca_key,
        None,
    )
    .unwrap();
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let cert = pki::sign(
        &CertRequest {
            common_name: "untrusted".into(),
            organizations: vec![],
            alt_names: AltNames {
                dns: vec![],
                ips: vec!["127.0.0.1".parse().unwrap()],
            },
            usages: vec![Usage::ServerAuth],
            is_ca: false,
            leaf_basic_constraints: true,
            not_before: now,
            not_after: now + day,
        },
        &key,
        Some((&ca, &ca_key)),
    )
    .unwrap();
    (ca.pem(), cert.pem(), key.pem().to_string())
}

/// What the server answers to the one request it serves.
enum Answer {
    /// 200 without a length, then `MARKER` until the client goes away or `SERVER_CAP`.
    Endless,
    /// 302 to this URL.
    Redirect(String),
    /// This status with `MARKER` as its body.
    Status(u16),
}

/// Serves one TLS connection on 127.0.0.1 with `answer`; joining gives the body bytes it
/// managed to send. Its reads and writes time out, so it ends by itself.
fn serve(cert_pem: &str, key_pem: &str, answer: Answer) -> (u16, JoinHandle<usize>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs: Vec<CertificateDer> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let Some(mut tcp) = accept_within(&listener, Duration::from_secs(30)) else {
            return 0;
        };
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        tcp.set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
        let mut reader = BufReader::new(&mut tls);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 2 {
            line.clear();
        }
        let head = match &answer {
            Answer::Endless => {
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                    .to_string()
            }
            Answer::Redirect(to) => format!(
                "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            Answer::Status(code) => format!(
                "HTTP/1.1 {code} Whatever\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{MARKER}",
                MARKER.len()
            ),
        };
        if tls.write_all(head.as_bytes()).is_err() {
            return 0;
        }
        let mut sent = 0;
        if let Answer::Endless = answer {
            let chunk = MARKER.repeat(4096);
            while sent < SERVER_CAP && tls.write_all(chunk.as_bytes()).is_ok() {
                sent += chunk.len();
            }
        }
        let _ = tls.flush();
        sent
    });
    (port, handle)
}

/// The first connection to `listener` within `limit`, if any.
fn accept_within(listener: &TcpListener, limit: Duration) -> Option<std::net::TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let started = Instant::now();
    while started.elapsed() < limit {
        match listener.accept() {
            Ok((tcp, _)) => {
                tcp.set_nonblocking(false).unwrap();
                return Some(tcp);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(_) => return None,
        }
    }
    None
}

fn settings(port: u16) -> TokenDiscovery {
    TokenDiscovery {
        endpoint: format!("127.0.0.1:{port}"),
        token: Token::parse("abcdef.0123456789abcdef").unwrap(),
        pins: vec![format!("sha256:{}", "a".repeat(64))],
        unsafe_skip_ca_verification: false,
        timeout: Duration::from_secs(20),
        unreachable_timeout: Duration::from_secs(5),
        poll: Duration::from_millis(20),
        interrupt: Interrupt::default(),
    }
}

/// Token discovery against the server on `port`; its refusal with the causes.
fn discovery_refusal(port: u16) -> String {
    let err = discovery::by_token(
        &settings(port),
        &Https,
        &RecordingReporter::default(),
        SystemTime::now(),
    )
    .unwrap_err();
    format!("{err:#}")
}

#[test]
fn an_endless_cluster_info_is_cut_at_the_limit_naming_server_and_limit() {
    let (_, cert, key) = serving_pki();
    let (port, server) = serve(&cert, &key, Answer::Endless);
    let err = discovery_refusal(port);
    let sent = server.join().unwrap();
    assert!(
        err.contains(&format!("https://127.0.0.1:{port}")) && err.contains("larger than 1 MiB"),
        "{err}"
    );
    assert!(!err.contains(MARKER.trim()), "the body is shown: {err}");
    // What the server got out is the limit plus what the sockets and buffers on the way hold,
    // far from the whole stream.
    assert!(sent < (17 << 20), "the server sent {sent} bytes");
}

#[test]
fn a_redirect_of_the_untrusted_read_is_not_followed() {
    let (_, cert, key) = serving_pki();
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!(
        "https://127.0.0.1:{}{}",
        elsewhere.local_addr().unwrap().port(),
        discovery::CLUSTER_INFO_PATH
    );
    let (port, server) = serve(&cert, &key, Answer::Redirect(target));
    let err = discovery_refusal(port);
    server.join().unwrap();
    assert!(err.contains("302 Found"), "{err}");
    assert!(err.contains("does not follow"), "{err}");
    // A client that followed would have connected by now: the kernel queues the connection.
    elsewhere.set_nonblocking(true).unwrap();
    assert!(
        matches!(elsewhere.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock),
        "the redirect was followed"
    );
}

#[test]
fn what_an_untrusted_server_writes_is_not_shown() {
    for code in [403, 404, 418] {
        let (_, cert, key) = serving_pki();
        let (port, server) = serve(&cert, &key, Answer::Status(code));
        let err = discovery_refusal(port);
        server.join().unwrap();
        assert!(!err.contains(MARKER.trim()), "the body is shown: {err}");
        if code != 404 {
            assert!(err.contains(&code.to_string()), "{err}");
        }
    }
}

/// `kubestrap join --dry-run` with an https discovery file, trusting `ca_pem` as the system's CAs.
fn join_with_discovery_file(url: &str, ca_pem: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, ca_pem).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubestrap"))
        .args(["join", "--dry-run", "--discovery-file", url])
        .args(["--tls-bootstrap-token", "abcdef.0123456789abcdef"])
        .arg("--root")
        .arg(dir.path())
        .env("SSL_CERT_FILE", &ca)
        .env_remove("SSL_CERT_DIR")
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    text(&out)
}

#[test]
fn an_https_discovery_file_is_read_up_to_its_limit_and_not_redirected() {
    let (ca, cert, key) = serving_pki();
    let (port, server) = serve(&cert, &key, Answer::Endless);
    let url = format!("https://127.0.0.1:{port}/cluster-info.yaml");
    let (_, err) = join_with_discovery_file(&url, &ca);
    let sent = server.join().unwrap();
    assert!(
        err.contains(&url) && err.contains("larger than 1 MiB"),
        "{err}"
    );
    assert!(!err.contains(MARKER.trim()), "the body is shown: {err}");
    assert!(sent < (17 << 20), "the server sent {sent} bytes");

    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!(
        "https://127.0.0.1:{}/cluster-info.yaml",
        elsewhere.local_addr().unwrap().port()
    );
    let (port, server) = serve(&cert, &key, Answer::Redirect(target));
    let url = format!("https://127.0.0.1:{port}/cluster-info.yaml");
    let (_, err) = join_with_discovery_file(&url, &ca);
    server.join().unwrap();
    assert!(
        err.contains("302 Found: redirects are not followed"),
        "{err}"
    );
    elsewhere.set_nonblocking(true).unwrap();
    assert!(
        matches!(elsewhere.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock),
        "the redirect was followed"
    );
}
