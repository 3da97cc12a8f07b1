//! etcd's HTTP API: `GET /version` and calls of its v3 JSON gateway (member list and remove),
//! over the same reqwest transport as the API server, with the CA and client certificate given.

use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::Value;

use crate::api::http::{Credentials, HttpTransport};
use crate::api::{Method, Request, Response, Transport};

/// The CA and, when both are set, client certificate and key (PEM) to reach etcd with.
#[derive(Clone)]
pub struct ClientTls {
    pub ca: Vec<u8>,
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// The most read of one answer of etcd: member lists, health and version are a few KiB.
pub const ETCD_ANSWER_LIMIT: u64 = 4 << 20;

/// A client of one etcd endpoint (`https://…` needs a CA; `http://…` uses none).
pub struct EtcdClient {
    pub(super) transport: HttpTransport,
}

impl EtcdClient {
    /// A client of `endpoint` with a connect and a per-request timeout.
    pub fn new(
        endpoint: &str,
        tls: Option<&ClientTls>,
        connect: Duration,
        total: Duration,
    ) -> Result<Self> {
        let transport = if endpoint.starts_with("https://") {
            let tls = tls.ok_or_else(|| anyhow!("no caFile to verify {endpoint} with"))?;
            let identity_pem = tls.identity.as_ref().map(|(cert, key)| {
                let mut pem = cert.clone();
                pem.push(b'\n');
                pem.extend_from_slice(key);
                pem
            });
            let creds = Credentials {
                server: endpoint.trim_end_matches('/').to_string(),
                ca_pem: tls.ca.clone(),
                identity_pem,
                token: None,
            };
            HttpTransport::with_timeouts(creds, connect, total)?
        } else if endpoint.starts_with("http://") {
            HttpTransport::plain_with_timeouts(endpoint, connect, total)?
        } else {
            bail!("{endpoint:?} is neither an http:// nor an https:// URL");
        };
        Ok(EtcdClient {
            transport: transport.with_limit(ETCD_ANSWER_LIMIT),
        })
    }

    /// The endpoint's URL.
    pub fn endpoint(&self) -> String {
        self.transport.endpoint()
    }

    /// `etcdserver` of `GET /version` (`{"etcdserver":"3.5.16","etcdcluster":"3.5.0"}`).
    pub fn version(&self) -> Result<String> {
        let resp = self
            .transport
            .send(&Request::new(Method::Get, "/version"))?;
        server_version(&resp)
    }

    /// A request without a body (`GET /health`).
    pub fn send(&self, method: Method, path: &str) -> Result<Response> {
        self.transport
            .send(&Request::new(method, path))
            .with_context(|| format!("etcd at {} did not answer {path}", self.endpoint()))
    }

    /// One call of the JSON gateway (`/v3/cluster/member/list`, …).
    pub fn post(&self, path: &str, body: &Value) -> Result<Response> {
        let req = Request::new(Method::Post, path).with_json("application/json", body);
        self.transport
            .send(&req)
            .with_context(|| format!("etcd at {} did not answer {path}", self.endpoint()))
    }
}

/// The JSON of a successful answer to `path`.
pub fn answer(resp: &Response, path: &str) -> Result<Value> {
    if resp.status != 200 {
        bail!("etcd answered {path} with {}: {}", resp.status, resp.text());
    }
    serde_json::from_slice(&resp.body)
        .with_context(|| format!("etcd's answer to {path} is not JSON"))
}

fn server_version(resp: &Response) -> Result<String> {
    let body = resp.text();
    if resp.status != 200 {
        bail!("GET /version answered {}: {}", resp.status, body.trim());
    }
    let json: Value = serde_json::from_str(body.trim())
        .with_context(|| format!("GET /version answered {:?}, not etcd's JSON", body.trim()))?;
    json.get("etcdserver")
        .and_then(Value::as_str)
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
        let ok = Response {
            status: 200,
            body: br#"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#.to_vec(),
        };
        assert_eq!(server_version(&ok).unwrap(), "3.4.23");
        let missing = Response {
            status: 404,
            body: b"404 page not found".to_vec(),
        };
        assert!(server_version(&missing).is_err());
        assert_eq!(numeric("3.5.11-0"), Some((3, 5, 11)));
        assert_eq!(numeric("v3.2.18"), Some((3, 2, 18)));
        assert_eq!(numeric("x"), None);
    }

    #[test]
    fn https_needs_a_ca_and_other_schemes_are_refused() {
        let t = Duration::from_secs(1);
        let err = EtcdClient::new("https://127.0.0.1:2379", None, t, t)
            .err()
            .unwrap();
        assert!(err.to_string().contains("no caFile"), "{err}");
        assert!(EtcdClient::new("unix:///x", None, t, t).is_err());
        assert!(EtcdClient::new("http://127.0.0.1:2379", None, t, t).is_ok());
    }
}
