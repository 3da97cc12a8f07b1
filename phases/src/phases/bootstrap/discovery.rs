//! Discovery (spec §9.3): how a joining node learns the cluster's address and CA, and why it
//! may trust them.
//!
//! By token: `kube-public/cluster-info` is read without trusting the server, its detached JWS
//! `jws-kubeconfig-<token-id>` must verify with the token, its CA must match a pinned public-key
//! hash, and a second read over TLS that trusts only that CA must return the same kubeconfig.
//! Unlike kubeadm, a missing signature is not waited for blindly: the token is shown once to the
//! (by then verified) server, so an unknown or expired token is named at once. While the
//! signature is missing, cluster-info is read again at growing intervals (up to kubeadm's 5 s).
//!
//! What a server not trusted yet sends is read up to [`CLUSTER_INFO_LIMIT`], with no redirect
//! followed, and none of it is shown in an error.
//!
//! By file: a kubeconfig on disk or at an https URL, trusted as it is.
//!
//! Reads nothing under the root and writes nothing: a refusal here changes nothing.

use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::api::http::{Credentials, HttpTransport};
use crate::api::kubeconfig::{Kubeconfig, decode_data};
use crate::api::{Method, Request, Response, Transport, Unreachable};
use crate::config::token_format::Token;
use crate::fs::root::Root;
use crate::host::interrupt::Interrupt;
use crate::pki::{Certificate, ca_cert_hashes};
use crate::runner::report::Reporter;
use crate::runner::wait::{Poll, Wait};

/// Where the public cluster information lives.
pub const CLUSTER_INFO_PATH: &str = "/api/v1/namespaces/kube-public/configmaps/cluster-info";
/// The cluster name in the TLS bootstrap kubeconfig, as kubeadm writes it.
pub const BOOTSTRAP_CLUSTER: &str = "kubernetes";
/// The user name in the TLS bootstrap kubeconfig.
pub const BOOTSTRAP_USER: &str = "tls-bootstrap-token-user";
/// The most read of a cluster-info answer: a kubeconfig with a CA and a signature per token.
pub const CLUSTER_INFO_LIMIT: u64 = 1 << 20;
/// The most read of a discovery file, as of a config file.
pub const DISCOVERY_FILE_LIMIT: u64 = 1 << 20;
/// The longest pause between two reads of cluster-info while its signature is missing
/// (kubeadm's discovery retry interval).
const MAX_POLL: Duration = Duration::from_secs(5);

/// The kubeconfig (YAML) a joining node bootstraps with, as discovery made it: the join's own
/// state (see [`crate::runner::context::Context::state`]), for its API client and kubelet-start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapKubeconfig(pub String);

/// What discovery found: the server to talk to and the CA that signs its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub server: String,
    pub ca_pem: Vec<u8>,
}

impl Discovered {
    /// The TLS bootstrap kubeconfig (`bootstrap-kubelet.conf`): this cluster, authenticated with
    /// the bootstrap token.
    pub fn bootstrap_kubeconfig(&self, token: &Token) -> Result<Kubeconfig> {
        let ca = std::str::from_utf8(&self.ca_pem).context("the cluster CA is not PEM text")?;
        Ok(Kubeconfig::new(
            BOOTSTRAP_CLUSTER,
            &self.server,
            ca,
            BOOTSTRAP_USER,
            crate::api::kubeconfig::User {
                token: Some(token.to_string()),
                ..Default::default()
            },
        ))
    }
}

/// How discovery reaches the API server: first without trusting it, then trusting one CA.
pub trait Connect {
    /// A transport that accepts any server certificate (for the first, untrusted read).
    fn insecure(&self, server: &str) -> Result<Box<dyn Transport>>;
    /// A transport that trusts only `ca_pem`, presenting `token` when given.
    fn verified(
        &self,
        server: &str,
        ca_pem: &[u8],
        token: Option<&str>,
    ) -> Result<Box<dyn Transport>>;
}

/// HTTPS with rustls.
pub struct Https;

impl Connect for Https {
    fn insecure(&self, server: &str) -> Result<Box<dyn Transport>> {
        Ok(Box::new(
            HttpTransport::local_insecure(server)?.with_limit(CLUSTER_INFO_LIMIT),
        ))
    }

    fn verified(
        &self,
        server: &str,
        ca_pem: &[u8],
        token: Option<&str>,
    ) -> Result<Box<dyn Transport>> {
        Ok(Box::new(
            HttpTransport::new(Credentials {
                server: server.to_string(),
                ca_pem: ca_pem.to_vec(),
                identity_pem: None,
                token: token.map(str::to_string),
            })?
            .with_limit(CLUSTER_INFO_LIMIT),
        ))
    }
}

/// Token discovery's settings.
#[derive(Debug, Clone)]
pub struct TokenDiscovery {
    /// `host:port` of the API server.
    pub endpoint: String,
    pub token: Token,
    /// `sha256:<hex>` each (see [`crate::config::join::parse_pin`]).
    pub pins: Vec<String>,
    /// `--discovery-token-unsafe-skip-ca-verification`: trust the CA cluster-info names.
    pub unsafe_skip_ca_verification: bool,
    /// The whole of discovery may take this long (`discovery.timeout`).
    pub timeout: Duration,
    /// How long an endpoint where nothing answers is tried before giving up.
    pub unreachable_timeout: Duration,
    /// The first pause between reads of cluster-info while its signature is not there yet;
    /// each next one is twice as long, up to 5 s.
    pub poll: Duration,
    /// Ends the waits when the run is asked to stop.
    pub interrupt: Interrupt,
}

/// The `https://` URL of a `host:port` endpoint.
pub fn endpoint_url(endpoint: &str) -> String {
    format!("https://{}", endpoint.trim_start_matches("https://"))
}

/// Discovery by token, reporting under `[discovery]`.
pub fn by_token(
    d: &TokenDiscovery,
    connect: &dyn Connect,
    out: &dyn Reporter,
    now: SystemTime,
) -> Result<Discovered> {
    let server = endpoint_url(&d.endpoint);
    let insecure = connect.insecure(&server)?;
    let started = Instant::now();
    let sig_key = format!("jws-kubeconfig-{}", d.token.id);
    out.status(
        "discovery",
        &format!("Reading the cluster-info ConfigMap from {server} (not trusted yet)"),
    );
    let mut token_checked = false;
    let (kubeconfig, ca_pem, sig, pinned) = Wait::new(
        out,
        d.interrupt,
        "discovery",
        format!(
            "Waiting for kube-controller-manager to sign cluster-info for token ID {:?}",
            d.token.id
        ),
        d.poll,
        d.timeout,
    )
    .since(started)
    .backoff(MAX_POLL)
    .until(|| {
        let data = read_cluster_info(insecure.as_ref(), &server, d, out, started)?;
        let Some(kubeconfig) = data.get("kubeconfig").and_then(Value::as_str) else {
            bail!(
                "the cluster-info ConfigMap at {server} has no `kubeconfig` key, so this API server is not set up for joining by token\n\nhint: on the control-plane node, run `kubestrap init phase bootstrap-token`"
            );
        };
        let ca_pem = single_cluster_ca(kubeconfig, &server)?;
        // Pin first: nothing (not even the token) is sent to a server not known to be the one.
        let pinned = check_pins(&ca_pem, &d.pins, d.unsafe_skip_ca_verification, &server)?;
        check_clock(&ca_pem, now)?;
        if let Some(sig) = data.get(&sig_key).and_then(Value::as_str) {
            return Ok(Poll::Ready((
                kubeconfig.to_string(),
                ca_pem,
                sig.to_string(),
                pinned,
            )));
        }
        if pinned && !token_checked {
            check_token_known(connect, &server, &ca_pem, &d.token)?;
            token_checked = true;
        }
        Ok(Poll::Pending(String::new()))
    })?
    .or_else(|_| {
        anyhow::anyhow!(
            "the cluster-info ConfigMap at {server} still holds no signature for token ID {:?} after {:?}: kube-controller-manager signs it for every valid token with the signing usage\n\nhint: check that kube-controller-manager runs on the control plane, and that the token has the \"signing\" usage (`kubestrap token list`); `kubestrap token create --print-join-command` makes one that does",
            d.token.id,
            d.timeout
        )
    })?;
    verify_signature(&kubeconfig, &sig, &d.token)?;
    // The signer drops the signatures of expired or deleted tokens only eventually.
    if pinned && !token_checked {
        check_token_known(connect, &server, &ca_pem, &d.token)?;
    }
    let verified = connect.verified(&server, &ca_pem, None)?;
    let again = read_verified(verified.as_ref(), &server)?;
    if again.get("kubeconfig").and_then(Value::as_str) != Some(kubeconfig.as_str()) {
        bail!(
            "the cluster-info read again over TLS trusting only the cluster CA differs from the first read from {server}, so kubestrap cannot trust this API server"
        );
    }
    let how = if pinned {
        "its CA matches the pinned public key"
    } else {
        "CA not verified (--discovery-token-unsafe-skip-ca-verification)"
    };
    out.status(
        "discovery",
        &format!(
            "Cluster info signature verified with token ID {:?}; {how}",
            d.token.id
        ),
    );
    Ok(Discovered { server, ca_pem })
}

/// GETs cluster-info over the untrusted connection and returns its `data`. Trying again
/// while nothing answers, up to `unreachable_timeout`.
fn read_cluster_info(
    insecure: &dyn Transport,
    server: &str,
    d: &TokenDiscovery,
    out: &dyn Reporter,
    started: Instant,
) -> Result<serde_json::Map<String, Value>> {
    let req = Request::new(Method::Get, CLUSTER_INFO_PATH);
    let limit = d.unreachable_timeout.min(d.timeout);
    let resp = Wait::new(
        out,
        d.interrupt,
        "discovery",
        format!("Reading the cluster-info ConfigMap from {server}"),
        Duration::from_millis(200),
        limit,
    )
    .since(started)
    .quiet()
    .until(|| match insecure.send(&req) {
        Ok(resp) if resp.status >= 500 || resp.status == 429 => Ok(Poll::Pending(format!(
            "the API server at {server} keeps answering {} to the cluster-info read",
            status_line(resp.status)
        ))),
        Ok(resp) => Ok(Poll::Ready(resp)),
        Err(e) if e.downcast_ref::<Unreachable>().is_some() => Ok(Poll::Pending(format!(
            "nothing answers at {server}: the API server did not answer within {} ({} sets the limit): {e:#}\n\nhint: check the address and port in the join command; on the control-plane node, `kubectl get --raw /healthz` shows whether the API server runs, and a firewall must let this node reach port {}",
            crate::config::duration::format(limit),
            crate::api::SET_BY_CONFIG,
            server.rsplit(':').next().unwrap_or("6443")
        ))),
        Err(e) => Err(e.context(format!(
            "failed to read the cluster-info ConfigMap from {server}"
        ))),
    })?
    .or_else(anyhow::Error::msg)?;
    config_map_data(&resp, server)
}

/// `403 Forbidden`: a status with its standard reason. What the server wrote in the body is not
/// shown: before the CA is verified, it may be anyone's.
fn status_line(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_string()
}

fn config_map_data(resp: &Response, server: &str) -> Result<serde_json::Map<String, Value>> {
    match resp.status {
        200 => {}
        300..=399 => bail!(
            "the API server at {server} answered the cluster-info read with {}, a redirect, which kubestrap does not follow\n\nhint: join with the address of the API server itself",
            status_line(resp.status)
        ),
        404 => bail!(
            "the API server at {server} has no kube-public/cluster-info ConfigMap, so it is not set up for joining by token\n\nhint: on the control-plane node, run `kubestrap init phase bootstrap-token`"
        ),
        401 | 403 => bail!(
            "the API server at {server} refuses anonymous reads of kube-public/cluster-info ({})\n\nhint: the API server needs anonymous authentication and the `kubeadm:bootstrap-signer-clusterinfo` Role; `kubestrap init phase bootstrap-token` creates the Role",
            status_line(resp.status)
        ),
        other => bail!(
            "reading cluster-info from {server} failed: {}",
            status_line(other)
        ),
    }
    let cm: Value = serde_json::from_slice(&resp.body)
        .with_context(|| format!("the cluster-info answer of {server} is not JSON"))?;
    Ok(cm
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default())
}

fn read_verified(verified: &dyn Transport, server: &str) -> Result<serde_json::Map<String, Value>> {
    let resp = verified
        .send(&Request::new(Method::Get, CLUSTER_INFO_PATH))
        .with_context(|| {
            format!("failed to read cluster-info again from {server} trusting only the cluster CA")
        })?;
    config_map_data(&resp, server)
}

/// The CA PEM of the one cluster in cluster-info's kubeconfig.
fn single_cluster_ca(kubeconfig: &str, server: &str) -> Result<Vec<u8>> {
    let kc = Kubeconfig::parse(kubeconfig)
        .with_context(|| format!("the kubeconfig in cluster-info at {server} does not parse"))?;
    let [cluster] = kc.clusters.as_slice() else {
        bail!(
            "expected the kubeconfig in the cluster-info ConfigMap at {server} to have a single cluster, but it had {}",
            kc.clusters.len()
        );
    };
    let data = cluster
        .cluster
        .certificate_authority_data
        .as_deref()
        .with_context(|| {
            format!("the cluster in cluster-info at {server} has no certificate-authority-data")
        })?;
    decode_data(data)
}

/// Checks the CA against the pins; `Ok(false)` when unpinned on purpose.
fn check_pins(ca_pem: &[u8], pins: &[String], unsafe_skip: bool, server: &str) -> Result<bool> {
    let actual = ca_cert_hashes(ca_pem)
        .with_context(|| format!("the CA in cluster-info at {server} is not usable"))?;
    if pins.is_empty() {
        if unsafe_skip {
            return Ok(false);
        }
        bail!(
            "no --discovery-token-ca-cert-hash given: without it, kubestrap cannot tell this cluster from an impostor\n\nhint: pass --discovery-token-ca-cert-hash {} (check it on the control plane with `kubestrap token create --print-join-command`), or accept the risk with --discovery-token-unsafe-skip-ca-verification",
            actual[0]
        );
    }
    if actual.iter().any(|a| pins.iter().any(|p| p == a)) {
        return Ok(true);
    }
    bail!(
        "the cluster CA of {server} does not match the pinned public key\n  expected (--discovery-token-ca-cert-hash): {}\n  actual (CA in cluster-info):               {}\n\nhint: this may be another cluster than the one meant (or one re-initialised since the join command was printed); on its control-plane node, `kubestrap token create --print-join-command` prints the current command",
        pins.join(", "),
        actual.join(", ")
    );
}

/// Refuses a CA that this machine's clock says is not valid: TLS would fail later in a way
/// that hides the cause.
fn check_clock(ca_pem: &[u8], now: SystemTime) -> Result<()> {
    let text = std::str::from_utf8(ca_pem).context("the cluster CA is not PEM text")?;
    for block in pem::parse_many(text).context("the cluster CA is not valid PEM")? {
        let ca = Certificate::from_der(block.contents())?;
        if let Some(problem) = ca.period_problem(now) {
            let shown = time::OffsetDateTime::from(now)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            bail!(
                "this machine's clock says {shown}, and by it the cluster CA is not valid ({problem})\n\nhint: set the clock right (e.g. `timedatectl set-ntp true`, or `date -s` with the control plane's time), then join again"
            );
        }
    }
    Ok(())
}

/// Checks the detached JWS the bootstrap signer wrote (HS256 keyed by the token secret).
pub fn verify_signature(content: &str, detached: &str, token: &Token) -> Result<()> {
    let mismatch = || {
        anyhow::anyhow!(
            "the cluster-info signature for token ID {:?} does not verify with the given token's secret, so kubestrap cannot trust this API server\n\nhint: check the token for a typo; on a control-plane node, `kubestrap token list` shows the tokens",
            token.id
        )
    };
    let Some((header_b64, sig_b64)) = detached.split_once("..") else {
        return Err(mismatch());
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(mismatch)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256")
        || header.get("kid").and_then(Value::as_str) != Some(token.id.as_str())
    {
        return Err(mismatch());
    }
    let sig = URL_SAFE_NO_PAD.decode(sig_b64).map_err(|_| mismatch())?;
    let input = format!("{header_b64}.{}", URL_SAFE_NO_PAD.encode(content));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.secret.as_bytes());
    ring::hmac::verify(&key, input.as_bytes(), &sig).map_err(|_| mismatch())
}

/// Asks the (verified) API server whether it knows the token: a bootstrap token the server
/// rejects gets 401 on any request.
fn check_token_known(
    connect: &dyn Connect,
    server: &str,
    ca_pem: &[u8],
    token: &Token,
) -> Result<()> {
    let t = connect.verified(server, ca_pem, Some(&token.to_string()))?;
    let resp = t
        .send(&Request::new(Method::Get, "/version"))
        .with_context(|| format!("failed to check the bootstrap token at {server}"))?;
    if resp.status == 401 {
        bail!(
            "token {:?} is unknown to the cluster or has expired (or lacks the \"authentication\" usage)\n\nhint: on a control-plane node run `kubestrap token create --print-join-command`",
            token.id
        );
    }
    Ok(())
}

/// Discovery by a kubeconfig file or https URL. Without credentials in it, the TLS bootstrap
/// token is added. Returns the kubeconfig to bootstrap with.
pub fn by_file(
    text: &str,
    source: &str,
    tls_bootstrap_token: Option<&Token>,
) -> Result<Kubeconfig> {
    let mut kc = Kubeconfig::parse(text)
        .with_context(|| format!("the discovery file `{source}` is not a kubeconfig"))?;
    let root = Root::new("/nonexistent");
    // Embedded data only: file references would point into the machine that wrote it.
    let creds = Credentials::parse_text(&root, text).with_context(|| {
        format!("the discovery file `{source}` must embed its CA (certificate-authority-data)")
    })?;
    let has_credentials = creds.identity_pem.is_some() || creds.token.is_some();
    if !has_credentials {
        let Some(token) = tls_bootstrap_token else {
            bail!(
                "the discovery file `{source}` holds no credentials for the TLS bootstrap\n\nhint: pass --tls-bootstrap-token (or --token) with a bootstrap token of the cluster"
            );
        };
        let ca = String::from_utf8(creds.ca_pem).context("the cluster CA is not PEM text")?;
        kc = Kubeconfig::new(
            BOOTSTRAP_CLUSTER,
            &creds.server,
            &ca,
            BOOTSTRAP_USER,
            crate::api::kubeconfig::User {
                token: Some(token.to_string()),
                ..Default::default()
            },
        );
    }
    Ok(kc)
}

/// The text of a discovery file: a path, or an https URL checked against the system's CAs
/// (no redirect followed); at most [`DISCOVERY_FILE_LIMIT`] bytes.
pub fn read_location(location: &str) -> Result<String> {
    let bytes = if location.starts_with("https://") {
        crate::api::http::download(location, DISCOVERY_FILE_LIMIT)
            .with_context(|| format!("failed to download the discovery file {location}"))?
    } else {
        return crate::config::discovery_file::read(location);
    };
    String::from_utf8(bytes)
        .with_context(|| format!("the discovery file `{location}` is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::kubeconfig::cluster_info as cluster_info_kubeconfig;
    use crate::phases::bootstrap::token::detached_signature;

    #[test]
    fn signature_of_the_real_signer_verifies_and_another_token_does_not() {
        let fixture: Value = serde_json::from_str(include_str!(
            "../../../../fixtures/api/cluster-info-signed-by-kube-controller-manager.json"
        ))
        .unwrap();
        let token = Token::parse(fixture["token"].as_str().unwrap()).unwrap();
        let content = fixture["kubeconfig"].as_str().unwrap();
        let sig = fixture["jws-kubeconfig-abcdef"].as_str().unwrap();
        verify_signature(content, sig, &token).unwrap();
        let other = Token::parse("abcdef.ffffffffffffffff").unwrap();
        let err = verify_signature(content, sig, &other)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not verify"), "{err}");
        // Same secret, content changed by someone in between.
        assert!(verify_signature(&format!("{content} "), sig, &token).is_err());
        // A signature made with another token's ID and secret.
        let mallory = Token::parse("zzzzzz.0123456789abcdef").unwrap();
        assert!(verify_signature(content, &detached_signature(content, &mallory), &token).is_err());
        assert!(verify_signature(content, "garbage", &token).is_err());
    }

    #[test]
    fn file_discovery_adds_the_token_only_when_it_has_no_credentials() {
        let text = cluster_info_kubeconfig("https://10.0.0.1:6443", b"CA PEM");
        let err = by_file(&text, "f", None).unwrap_err().to_string();
        assert!(err.contains("--tls-bootstrap-token"), "{err}");
        let token = Token::parse("abcdef.0123456789abcdef").unwrap();
        let kc = by_file(&text, "f", Some(&token)).unwrap();
        assert_eq!(
            kc.current_user().unwrap().token.as_deref(),
            Some("abcdef.0123456789abcdef")
        );
        assert_eq!(
            kc.current_cluster().unwrap().server,
            "https://10.0.0.1:6443"
        );
    }
}
