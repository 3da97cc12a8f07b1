//! The version an external etcd member reports on `GET /version`, over TLS with the configured
//! CA and client certificate: one small HTTP/1.1 request on rustls, no HTTP client library.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
    ServerName,
};

/// The PEM files of `etcd.external`, read.
pub struct ClientTls {
    pub ca: Vec<u8>,
    /// Certificate and key, when both are set.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// `etcdserver` of `GET <endpoint>/version`.
pub fn server_version(
    endpoint: &str,
    tls: Option<&ClientTls>,
    timeout: Duration,
) -> Result<String> {
    let uri: http::Uri = endpoint
        .parse()
        .with_context(|| format!("{endpoint:?} is not a URL"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => bail!("{endpoint:?} is neither an http:// nor an https:// URL"),
    };
    let host = uri
        .host()
        .ok_or_else(|| anyhow!("{endpoint:?} names no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .ok_or_else(|| anyhow!("{host} has no address"))?;
    let tcp = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to {addr}"))?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    let request = format!(
        "GET /version HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        uri.authority().map(|a| a.as_str()).unwrap_or(&host)
    );
    let response = if https {
        let tls = tls.ok_or_else(|| anyhow!("no caFile to verify {endpoint} with"))?;
        let config = client_config(tls)?;
        let name = ServerName::try_from(host.clone())
            .with_context(|| format!("{host} is not a valid TLS server name"))?;
        let conn = rustls::ClientConnection::new(Arc::new(config), name)?;
        exchange(rustls::StreamOwned::new(conn, tcp), &request)?
    } else {
        exchange(tcp, &request)?
    };
    parse_response(&response)
}

fn client_config(tls: &ClientTls) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(&tls.ca).context("caFile")? {
        roots.add(cert).context("caFile")?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    Ok(match &tls.identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(certificates(cert).context("certFile")?, private_key(key)?)
            .context("certFile and keyFile do not make a client identity")?,
        None => builder.with_no_client_auth(),
    })
}

fn certificates(pem_text: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = pem::parse_many(pem_text)?
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| CertificateDer::from(p.into_contents()))
        .collect();
    if certs.is_empty() {
        bail!("no PEM certificate in the file");
    }
    Ok(certs)
}

fn private_key(pem_text: &[u8]) -> Result<PrivateKeyDer<'static>> {
    for p in pem::parse_many(pem_text).context("keyFile")? {
        let key = match p.tag() {
            "PRIVATE KEY" => PrivatePkcs8KeyDer::from(p.into_contents()).into(),
            "RSA PRIVATE KEY" => PrivatePkcs1KeyDer::from(p.into_contents()).into(),
            "EC PRIVATE KEY" => PrivateSec1KeyDer::from(p.into_contents()).into(),
            _ => continue,
        };
        return Ok(key);
    }
    bail!("keyFile: no PEM private key in the file")
}

/// Sends the request and reads until the server closes (a missing TLS close_notify is no error).
fn exchange(mut stream: impl Read + Write, request: &str) -> Result<Vec<u8>> {
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(response)
}

/// `HTTP/1.1 200 OK … {"etcdserver":"3.5.16","etcdcluster":"3.5.0"}`.
fn parse_response(response: &[u8]) -> Result<String> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP answer"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("GET /version answered {status:?}");
    }
    let json: serde_json::Value = serde_json::from_str(body.trim())
        .with_context(|| format!("GET /version answered {:?}, not etcd's JSON", body.trim()))?;
    json.get("etcdserver")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            anyhow!(
                "GET /version answered no etcdserver version: {}",
                body.trim()
            )
        })
}

/// `3.5.11-0` → (3, 5, 11); the suffix of kubeadm's image tags does not count.
pub fn numeric(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.trim_start_matches('v').split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_etcds_answer_and_versions() {
        let answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 44\r\n\r\n{\"etcdserver\":\"3.4.23\",\"etcdcluster\":\"3.4.0\"}";
        assert_eq!(parse_response(answer).unwrap(), "3.4.23");
        assert!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
        assert_eq!(numeric("3.5.11-0"), Some((3, 5, 11)));
        assert_eq!(numeric("v3.2.18"), Some((3, 2, 18)));
        assert_eq!(numeric("x"), None);
    }
}
