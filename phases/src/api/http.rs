//! The real transport: reqwest (blocking, rustls) with the CA and client certificate of a
//! kubeconfig file under the root.
//!
//! Every answer is read up to a limit that fits its server, checked as it streams, and no client
//! follows a redirect: a 3xx is an answer like any other, which the callers refuse.

use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use reqwest::blocking::{ClientBuilder, Response as Answer};

use crate::api::kubeconfig::{Kubeconfig, decode_data};
use crate::api::{Method, Request, Response, Transport, Unreachable};
use crate::fs::bounded::{read_at_most, show_size};
use crate::fs::root::Root;

/// The most read of one answer of the API server: lists of a large cluster's pods or secrets fit.
pub const API_ANSWER_LIMIT: u64 = 64 << 20;
/// The most read of one answer of a health endpoint (`ok`, or a list of checks).
pub const HEALTH_ANSWER_LIMIT: u64 = 1 << 20;

/// What a kubeconfig says about how to reach and authenticate to its current cluster.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub server: String,
    /// PEM of the cluster CA.
    pub ca_pem: Vec<u8>,
    /// PEM of the client certificate followed by its key.
    pub identity_pem: Option<Vec<u8>>,
    pub token: Option<String>,
}

fn data_or_file(
    root: &Root,
    data: &Option<String>,
    file: &Option<String>,
) -> Result<Option<Vec<u8>>> {
    if let Some(d) = data {
        return decode_data(d).map(Some);
    }
    match file {
        Some(f) => root.read(f).map(Some),
        None => Ok(None),
    }
}

impl Credentials {
    /// Reads the current context of a kubeconfig under the root.
    pub fn load(root: &Root, path: &str) -> Result<Self> {
        let bytes = root.read_bounded(path, crate::api::kubeconfig::MAX_KUBECONFIG_BYTES)?;
        let text =
            String::from_utf8(bytes).with_context(|| format!("`{path}` is not UTF-8 text"))?;
        Self::parse_text(root, &text).with_context(|| format!("failed to use kubeconfig `{path}`"))
    }

    /// Reads the current context of a kubeconfig's text; file references resolve under the root.
    pub fn parse_text(root: &Root, text: &str) -> Result<Self> {
        let kc = Kubeconfig::parse(text).context("not a kubeconfig")?;
        let cluster = kc
            .current_cluster()
            .or_else(|| kc.clusters.first().map(|c| &c.cluster))
            .context("it names no cluster")?;
        let user = kc
            .current_user()
            .or_else(|| kc.users.first().map(|u| &u.user))
            .cloned()
            .unwrap_or_default();
        let ca_pem = data_or_file(
            root,
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        )?
        .context("its cluster has no certificate authority")?;
        let cert = data_or_file(
            root,
            &user.client_certificate_data,
            &user.client_certificate,
        )?;
        let key = data_or_file(root, &user.client_key_data, &user.client_key)?;
        let identity_pem = match (cert, key) {
            (Some(mut c), Some(k)) => {
                c.push(b'\n');
                c.extend_from_slice(&k);
                Some(c)
            }
            (None, None) => None,
            _ => bail!(
                "its user has a client certificate without a key, or a key without a certificate"
            ),
        };
        Ok(Credentials {
            server: cluster.server.trim_end_matches('/').to_string(),
            ca_pem,
            identity_pem,
            token: user.token,
        })
    }
}

/// reqwest over rustls, trusting only the kubeconfig's CA.
pub struct HttpTransport {
    server: String,
    token: Option<String>,
    client: reqwest::blocking::Client,
    /// The most bytes read of one answer.
    limit: u64,
}

/// Every client's settings: no proxy (the cluster's addresses are reached directly), and no
/// redirect followed, so nothing (a token, a client certificate, trust) goes to a server other
/// than the one named.
fn client_builder() -> ClientBuilder {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
}

/// The body of an answer to `request` (`GET https://…`), refused as soon as it grows past
/// `limit`; the error names the request and the limit, never what the server sent.
fn read_body(answer: Answer, limit: u64, request: &str) -> Result<Vec<u8>> {
    let too_large = || {
        anyhow!(
            "the answer to {request} is larger than {}, the most kubestrap reads from this server: not read further",
            show_size(limit)
        )
    };
    if answer.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    read_at_most(answer, limit)
        .with_context(|| format!("failed to read the answer to {request}"))?
        .ok_or_else(too_large)
}

/// GETs `url` trusting the system's CAs, following no redirect and reading at most `limit`
/// bytes (5 s to connect, 30 s in all).
pub fn download(url: &str, limit: u64) -> Result<Vec<u8>> {
    let client = client_builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .context("failed to set up an HTTPS client")?;
    let answer = client
        .get(url)
        .send()
        .with_context(|| format!("failed to connect to {url}"))?;
    let status = answer.status();
    if status.is_redirection() {
        bail!("{url} answered {status}: redirects are not followed");
    }
    if !status.is_success() {
        bail!("{url} answered {status}");
    }
    read_body(answer, limit, &format!("GET {url}"))
}

impl HttpTransport {
    /// A transport for a kubeconfig file under the root.
    pub fn from_kubeconfig(root: &Root, path: &str) -> Result<Self> {
        Self::new(Credentials::load(root, path)?)
            .with_context(|| format!("failed to build an API client from `{path}`"))
    }

    /// A transport for these credentials (5 s to connect, 30 s per request).
    pub fn new(creds: Credentials) -> Result<Self> {
        Self::with_timeouts(creds, Duration::from_secs(5), Duration::from_secs(30))
    }

    /// A transport for these credentials with its own connect and per-request timeouts.
    pub fn with_timeouts(creds: Credentials, connect: Duration, total: Duration) -> Result<Self> {
        let cas = reqwest::Certificate::from_pem_bundle(&creds.ca_pem)
            .context("the certificate authority is not valid PEM")?;
        let mut builder = client_builder()
            .tls_certs_only(cas)
            .connect_timeout(connect)
            .timeout(total);
        if let Some(pem) = &creds.identity_pem {
            builder = builder.identity(
                reqwest::Identity::from_pem(pem)
                    .context("the client certificate or key is not valid PEM")?,
            );
        }
        Ok(HttpTransport {
            server: creds.server,
            token: creds.token,
            client: builder.build().context("failed to set up TLS")?,
            limit: API_ANSWER_LIMIT,
        })
    }

    /// The same transport reading at most `limit` bytes of an answer.
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = limit;
        self
    }

    /// A transport to a health endpoint on 127.0.0.1 served with a self-signed certificate (the
    /// controller-manager's and scheduler's), as the kubelet's own probes reach them.
    pub fn local_insecure(server: &str) -> Result<Self> {
        let client = client_builder()
            .tls_danger_accept_invalid_certs(true)
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .context("failed to set up an HTTPS client")?;
        Ok(HttpTransport {
            server: server.trim_end_matches('/').to_string(),
            token: None,
            client,
            limit: HEALTH_ANSWER_LIMIT,
        })
    }

    /// A plain-HTTP transport (the kubelet's healthz on 127.0.0.1): 2 s to connect, 5 s per
    /// request.
    pub fn plain(server: &str) -> Result<Self> {
        Self::plain_with_timeouts(server, Duration::from_secs(2), Duration::from_secs(5))
    }

    /// A plain-HTTP transport with its own connect and per-request timeouts.
    pub fn plain_with_timeouts(server: &str, connect: Duration, total: Duration) -> Result<Self> {
        let client = client_builder()
            .connect_timeout(connect)
            .timeout(total)
            .build()
            .context("failed to set up an HTTP client")?;
        Ok(HttpTransport {
            server: server.trim_end_matches('/').to_string(),
            token: None,
            client,
            limit: HEALTH_ANSWER_LIMIT,
        })
    }
}

/// The certificate (DER) a TLS server presents at `url`, which must verify against `ca_pem` for
/// the URL's host: what clients of that server really get, whatever the files on disk say.
pub fn served_certificate(url: &str, ca_pem: &[u8]) -> Result<Vec<u8>> {
    let cas = reqwest::Certificate::from_pem_bundle(ca_pem)
        .context("the certificate authority is not valid PEM")?;
    // Not redirected: the certificate is the one of the server at `url`.
    let client = client_builder()
        .tls_certs_only(cas)
        .tls_info(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .context("failed to set up TLS")?;
    let response = client
        .get(url)
        .send()
        .with_context(|| format!("failed to connect to {url} over TLS"))?;
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .map(<[u8]>::to_vec)
        .with_context(|| format!("{url} presented no certificate"))
}

impl HttpTransport {
    /// Sends a request and hands back the status and the body as it arrives, unread, for an
    /// answer too large to hold at once (an etcd snapshot): the reader bounds what it takes.
    pub fn stream(&self, req: &Request) -> Result<(u16, impl std::io::Read + use<>)> {
        let resp = self.start(req)?;
        Ok((resp.status().as_u16(), resp))
    }

    /// Sends a request; the answer's body is still to be read.
    fn start(&self, req: &Request) -> Result<Answer> {
        let url = format!("{}{}", self.server, req.path);
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut rb = self
            .client
            .request(method, &url)
            .header("Accept", "application/json")
            .header(
                "User-Agent",
                concat!("kubestrap/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(token) = &self.token {
            rb = rb.bearer_auth(token);
        }
        if let Some(ct) = req.content_type {
            rb = rb.header("Content-Type", ct);
        }
        if let Some(body) = &req.body {
            rb = rb.body(body.clone());
        }
        let resp = rb.send().map_err(|e| {
            // reqwest's top-level message hides the cause (refused, certificate unknown, …).
            let mut msg = e.to_string();
            let mut passing = e.is_timeout();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                // Refused, reset, timed out: the server may be starting. A certificate the
                // other side refuses is no I/O error, and trying again cannot fix it.
                passing |= s.downcast_ref::<std::io::Error>().is_some_and(|io| {
                    use std::io::ErrorKind::*;
                    matches!(
                        io.kind(),
                        ConnectionRefused
                            | ConnectionReset
                            | ConnectionAborted
                            | NotConnected
                            | BrokenPipe
                            | TimedOut
                            | UnexpectedEof
                    )
                });
                src = s.source();
            }
            if passing {
                Unreachable(msg).into()
            } else {
                anyhow::anyhow!(msg)
            }
        })?;
        Ok(resp)
    }
}

impl Transport for HttpTransport {
    fn send(&self, req: &Request) -> Result<Response> {
        let resp = self.start(req)?;
        let status = resp.status().as_u16();
        let request = format!("{} {}{}", req.method, self.server, req.path);
        let body = read_body(resp, self.limit, &request)?;
        Ok(Response { status, body })
    }

    fn endpoint(&self) -> String {
        self.server.clone()
    }

    fn concurrent(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_current_context() {
        let root = Root::new("/nonexistent");
        let text = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: Q0E=\n    server: https://10.0.0.1:6443/\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: admin\n  name: admin@kubernetes\ncurrent-context: admin@kubernetes\nusers:\n- name: admin\n  user:\n    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n";
        let c = Credentials::parse_text(&root, text).unwrap();
        assert_eq!(c.server, "https://10.0.0.1:6443");
        assert_eq!(c.ca_pem, b"CA");
        assert_eq!(c.identity_pem.unwrap(), b"CERT\nKEY");
    }
}
