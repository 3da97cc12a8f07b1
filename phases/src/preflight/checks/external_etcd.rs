//! External etcd: its version is one this Kubernetes supports.

use std::time::Duration;

use crate::api::etcd_client::{self, ClientTls, EtcdClient};
use crate::preflight::{Issue, Probe};
use crate::version::KubeVersion;

/// The oldest external etcd kubeadm accepts (`MinExternalEtcdVersion`): 3.2.18 until 1.27,
/// 3.4.13-4 from 1.28 (PR #118733), 3.5.11-0 from 1.31.
pub(super) fn min_external_etcd(v: KubeVersion) -> &'static str {
    if v.at_least(31) {
        "3.5.11-0"
    } else if v.at_least(28) {
        "3.4.13-4"
    } else {
        "3.2.18"
    }
}

/// How long one endpoint may take to answer `GET /version`.
pub(super) const ETCD_TIMEOUT: Duration = Duration::from_secs(5);

/// kubeadm's `ExternalEtcdVersion`: every endpoint answers `/version` with a version kubeadm supports.
pub(super) fn external_etcd_version(p: &Probe, etcd: &crate::config::ExternalEtcd) -> Vec<Issue> {
    let min = min_external_etcd(p.ctx.cfg.version);
    let read = |f: &str| p.ctx.root.read(f).map_err(|e| format!("{e:#}"));
    let tls = if etcd.ca_file.is_empty() {
        None
    } else {
        let identity = if etcd.cert_file.is_empty() || etcd.key_file.is_empty() {
            Ok(None)
        } else {
            read(&etcd.cert_file).and_then(|c| read(&etcd.key_file).map(|k| Some((c, k))))
        };
        match read(&etcd.ca_file).and_then(|ca| identity.map(|identity| (ca, identity))) {
            Ok((ca, identity)) => Some(ClientTls { ca, identity }),
            // The files' own check names the missing one.
            Err(_) => return vec![],
        }
    };
    let mut issues = Vec::new();
    for endpoint in &etcd.endpoints {
        let version = EtcdClient::new(endpoint, tls.as_ref(), ETCD_TIMEOUT, ETCD_TIMEOUT)
            .and_then(|etcd| etcd.version());
        match version {
            Ok(version) => {
                let old = match (
                    etcd_client::numeric(&version),
                    etcd_client::numeric(min),
                ) {
                    (Some(have), Some(want)) => have < want,
                    _ => true,
                };
                if old {
                    issues.push(
                        Issue::error(format!("this version of kubeadm only supports external etcd version >= {min}. Current version: {version}"))
                            .why(format!("the API server of Kubernetes {} relies on etcd features and fixes of {min}", p.ctx.cfg.version))
                            .fix(format!("upgrade the etcd cluster at {endpoint} to {min} or newer")),
                    );
                }
            }
            Err(e) => issues.push(
                Issue::error(format!("failed to get the version of the external etcd at {endpoint}: {e:#}"))
                    .why("kubestrap asks each endpoint for GET /version with etcd.external's caFile, certFile and keyFile")
                    .fix(format!("check that etcd serves clients on {endpoint} and trusts the client certificate (its --trusted-ca-file), and that caFile signed its serving certificate")),
            ),
        }
    }
    issues
}
