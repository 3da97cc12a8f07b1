//! The certificates kubeadm renews (leaves under `certificatesDir` and the client certificates
//! embedded in kubeconfigs), their CAs, and how long each is still valid
//! (`certs check-expiration`).

use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use serde::Serialize;
use time::OffsetDateTime;

use crate::api::kubeconfig::{Kubeconfig, decode_data};
use crate::fs::paths;
use crate::phases::certs::{Cert, ca_name, externally_managed};
use crate::phases::kubeconfig::File;
use crate::pki::{self, Certificate};
use crate::runner::context::Context;

/// A certificate due within this time is marked for renewal.
pub const RENEW_WITHIN: Duration = Duration::from_secs(30 * 24 * 3600);

/// The kubelet's current client certificate (rotated by the kubelet itself).
pub const KUBELET_CLIENT_CERT: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";

/// A certificate `certs renew` can renew: a leaf file or the client certificate of a kubeconfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewable {
    Leaf(Cert),
    Kubeconfig(File),
}

impl Renewable {
    /// Every renewable certificate of this configuration, sorted by name as kubeadm lists them
    /// (no etcd ones with an external etcd; super-admin.conf from 1.29).
    pub fn all(ctx: &Context) -> Vec<Renewable> {
        let external_etcd = ctx.cfg.cluster.etcd.external.is_some();
        let mut all: Vec<Renewable> = Cert::ALL
            .into_iter()
            .filter(|c| {
                c.signer().is_some() && !(external_etcd && c.signer() == Some(Cert::EtcdCa))
            })
            .map(Renewable::Leaf)
            .collect();
        all.extend(
            [File::Admin, File::ControllerManager, File::Scheduler]
                .into_iter()
                .map(Renewable::Kubeconfig),
        );
        if ctx.profile().super_admin {
            all.push(Renewable::Kubeconfig(File::SuperAdmin));
        }
        all.sort_by_key(|r| r.name());
        all
    }

    /// kubeadm's name: `apiserver`, `etcd-server`, `admin.conf`, …
    pub fn name(self) -> String {
        match self {
            Renewable::Leaf(c) => c.base().replace('/', "-"),
            Renewable::Kubeconfig(f) => f.name().to_string(),
        }
    }

    /// kubeadm's long name, used in `renewed` and `MISSING!` lines.
    pub fn long_name(self) -> &'static str {
        match self {
            Renewable::Leaf(c) => match c {
                Cert::Apiserver => "certificate for serving the Kubernetes API",
                Cert::ApiserverKubeletClient => {
                    "certificate for the API server to connect to kubelet"
                }
                Cert::FrontProxyClient => "certificate for the front proxy client",
                Cert::EtcdServer => "certificate for serving etcd",
                Cert::EtcdPeer => "certificate for etcd nodes to communicate with each other",
                Cert::EtcdHealthcheckClient => {
                    "certificate for liveness probes to healthcheck etcd"
                }
                Cert::ApiserverEtcdClient => "certificate the apiserver uses to access etcd",
                Cert::Ca | Cert::FrontProxyCa | Cert::EtcdCa => "certificate authority",
            },
            Renewable::Kubeconfig(f) => match f {
                File::Admin => {
                    "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself"
                }
                File::SuperAdmin => {
                    "certificate embedded in the kubeconfig file for the super-admin"
                }
                File::ControllerManager => {
                    "certificate embedded in the kubeconfig file for the controller manager to use"
                }
                File::Scheduler => {
                    "certificate embedded in the kubeconfig file for the scheduler manager to use"
                }
                File::Kubelet => "certificate embedded in the kubeconfig file for the kubelet",
            },
        }
    }

    /// The CA that signs it.
    pub fn signer(self) -> Cert {
        match self {
            Renewable::Leaf(c) => c.signer().unwrap_or(c),
            Renewable::Kubeconfig(_) => Cert::Ca,
        }
    }

    /// The logical path of the file holding it.
    pub fn path(self, ctx: &Context) -> String {
        match self {
            Renewable::Leaf(c) => pki::pair_paths(ctx.cert_dir(), c.base()).0,
            Renewable::Kubeconfig(f) => paths::kubeconfig(f.name()),
        }
    }

    /// The control-plane static pod that reads it, which must restart to use a new one.
    pub fn component(self) -> Option<&'static str> {
        match self {
            Renewable::Leaf(Cert::EtcdServer | Cert::EtcdPeer) => Some("etcd"),
            Renewable::Leaf(
                Cert::Apiserver
                | Cert::ApiserverKubeletClient
                | Cert::ApiserverEtcdClient
                | Cert::FrontProxyClient,
            ) => Some("kube-apiserver"),
            Renewable::Kubeconfig(File::ControllerManager) => Some("kube-controller-manager"),
            Renewable::Kubeconfig(File::Scheduler) => Some("kube-scheduler"),
            _ => None,
        }
    }

    /// The certificate as it is on disk now; `None` when its file does not exist.
    pub fn read(self, ctx: &Context) -> Result<Option<Certificate>> {
        let path = self.path(ctx);
        if !ctx.root.exists(&path) {
            return Ok(None);
        }
        match self {
            Renewable::Leaf(_) => pki::read_cert(&ctx.root, &path).map(Some),
            Renewable::Kubeconfig(_) => kubeconfig_client_cert(ctx, &path).map(Some),
        }
    }

    /// Parses a kubeadm name (`apiserver`, `etcd-server`, `admin.conf`) for this configuration.
    pub fn find(ctx: &Context, name: &str) -> Option<Renewable> {
        Renewable::all(ctx).into_iter().find(|r| r.name() == name)
    }
}

/// The client certificate embedded in (or referenced by) a kubeconfig's current user.
pub fn kubeconfig_client_cert(ctx: &Context, path: &str) -> Result<Certificate> {
    let text = ctx.root.read_to_string(path)?;
    let config = Kubeconfig::parse(&text).with_context(|| format!("failed to parse `{path}`"))?;
    let user = config
        .current_user()
        .with_context(|| format!("`{path}`: its current context names no user"))?;
    let pem = match (&user.client_certificate_data, &user.client_certificate) {
        (Some(data), _) => decode_data(data).with_context(|| format!("`{path}`"))?,
        (None, Some(file)) => read_following_links(ctx, file)?,
        (None, None) => anyhow::bail!("`{path}`: its user has no client certificate"),
    };
    Certificate::from_pem(&String::from_utf8_lossy(&pem))
        .with_context(|| format!("failed to parse the client certificate of `{path}`"))
}

/// Reads a file whose absolute symlinks (the kubelet's `kubelet-client-current.pem`) point
/// inside the root, not out of it.
fn read_following_links(ctx: &Context, path: &str) -> Result<Vec<u8>> {
    let mut path = path.to_string();
    for _ in 0..8 {
        let physical = ctx.root.physical(&path)?;
        match std::fs::read_link(&physical) {
            Ok(target) if target.is_absolute() => path = target.display().to_string(),
            Ok(target) => {
                let parent = std::path::Path::new(&path)
                    .parent()
                    .unwrap_or(std::path::Path::new("/"));
                path = parent.join(target).display().to_string();
            }
            Err(_) => return ctx.root.read(&path),
        }
    }
    anyhow::bail!("`{path}`: too many levels of symbolic links")
}

/// How a certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum State {
    Valid,
    /// Valid for less than [`RENEW_WITHIN`].
    ExpiresSoon,
    Expired,
    Missing,
}

impl State {
    fn of(cert: Option<&Certificate>, now: SystemTime) -> State {
        match cert {
            None => State::Missing,
            Some(c) if c.not_after <= now => State::Expired,
            Some(c) if c.not_after <= now + RENEW_WITHIN => State::ExpiresSoon,
            Some(_) => State::Valid,
        }
    }

    /// Whether it wants `certs renew`.
    pub fn needs_renewal(self) -> bool {
        matches!(self, State::ExpiresSoon | State::Expired)
    }
}

/// One row of `check-expiration`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Expiration {
    pub name: String,
    /// RFC 3339; absent when the file is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    /// Seconds left (negative once expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub residual_seconds: Option<i64>,
    /// The signing CA's name (empty for kubeconfigs, as kubeadm prints them).
    pub certificate_authority: String,
    pub externally_managed: bool,
    pub state: State,
}

/// The kubelet's own client certificate and whether the kubelet rotates it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletClient {
    pub path: String,
    #[serde(flatten)]
    pub expiration: Expiration,
    /// `rotateCertificates` of the kubelet's config.yaml.
    pub rotation: bool,
}

/// Everything `check-expiration` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub certificates: Vec<Expiration>,
    pub certificate_authorities: Vec<Expiration>,
    pub kubelet_client: KubeletClient,
}

impl Summary {
    /// Whether any certificate has expired or expires within [`RENEW_WITHIN`].
    pub fn needs_renewal(&self) -> bool {
        self.certificates
            .iter()
            .chain(&self.certificate_authorities)
            .chain(std::iter::once(&self.kubelet_client.expiration))
            .any(|e| e.state.needs_renewal())
    }

    /// The cluster's certificates this node lacks. `super-admin.conf` exists only on the node
    /// where init ran (a control-plane node that joined has none), and the kubelet's own comes
    /// later, from its TLS bootstrap; neither is counted.
    pub fn missing(&self) -> Vec<&str> {
        self.certificates
            .iter()
            .chain(&self.certificate_authorities)
            .filter(|e| e.state == State::Missing && e.name != "super-admin.conf")
            .map(|e| e.name.as_str())
            .collect()
    }
}

fn row(
    name: String,
    cert: Option<&Certificate>,
    authority: String,
    external: bool,
    now: SystemTime,
) -> Expiration {
    Expiration {
        name,
        expiration_date: cert.map(|c| rfc3339(c.not_after)),
        residual_seconds: cert.map(|c| residual(c.not_after, now)),
        certificate_authority: authority,
        externally_managed: external,
        state: State::of(cert, now),
    }
}

/// Seconds from `now` to `t`, negative when `t` is past.
fn residual(t: SystemTime, now: SystemTime) -> i64 {
    match t.duration_since(now) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Why the key beside a certificate is not its key, if it is not (a missing key is an external
/// CA's way, not a mismatch).
fn key_mismatch(ctx: &Context, cert: Cert, parsed: &Certificate) -> Result<Option<String>> {
    let (_, key_path) = pki::pair_paths(ctx.cert_dir(), cert.base());
    if !ctx.root.exists(&key_path) {
        return Ok(None);
    }
    let key = pki::read_key(&ctx.root, &key_path)?;
    Ok((!parsed.matches_key(&key)).then(|| {
        format!("`{key_path}` is not the key of its certificate: the two do not belong together")
    }))
}

/// Reads every renewable certificate, the CAs and the kubelet's client certificate; fails when
/// the folder is not one, holds none of them, or a key does not match its certificate.
pub fn check_expiration(ctx: &Context, now: SystemTime) -> Result<Summary> {
    let dir = ctx.cert_dir();
    let hint = "\n\nhint: pass --cert-dir with the folder that holds the cluster's certificates (kubeadm's is /etc/kubernetes/pki), or --root with the folder that stands for `/`";
    match std::fs::metadata(ctx.root.physical(dir)?) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => anyhow::bail!("the certificates folder `{dir}` is a file, not a folder{hint}"),
        Err(e) => anyhow::bail!("the certificates folder `{dir}` cannot be read: {e}{hint}"),
    }
    let mut mismatched = Vec::new();
    let mut certificates = Vec::new();
    let mut cas: Vec<Cert> = Vec::new();
    for item in Renewable::all(ctx) {
        let cert = item.read(ctx)?;
        if let (Renewable::Leaf(c), Some(cert)) = (item, &cert)
            && let Some(problem) = key_mismatch(ctx, c, cert)?
        {
            mismatched.push(problem);
        }
        let ca = item.signer();
        if !cas.contains(&ca) {
            cas.push(ca);
        }
        let authority = match item {
            Renewable::Leaf(_) => ca_name(ca),
            Renewable::Kubeconfig(_) => String::new(),
        };
        certificates.push(row(
            item.name(),
            cert.as_ref(),
            authority,
            externally_managed(ctx, ca),
            now,
        ));
    }
    cas.sort_by_key(|c| ca_name(*c));
    let mut certificate_authorities = Vec::new();
    for ca in cas {
        let (crt, _) = pki::pair_paths(ctx.cert_dir(), ca.base());
        let cert = if ctx.root.exists(&crt) {
            Some(pki::read_cert(&ctx.root, &crt)?)
        } else {
            None
        };
        if let Some(cert) = &cert
            && let Some(problem) = key_mismatch(ctx, ca, cert)?
        {
            mismatched.push(problem);
        }
        certificate_authorities.push(row(
            ca_name(ca),
            cert.as_ref(),
            String::new(),
            externally_managed(ctx, ca),
            now,
        ));
    }
    if certificates
        .iter()
        .chain(&certificate_authorities)
        .all(|e| e.state == State::Missing)
    {
        anyhow::bail!(
            "the certificates folder `{dir}` holds none of the cluster's certificates{hint}"
        );
    }
    if !mismatched.is_empty() {
        anyhow::bail!(
            "{}\n\nhint: a certificate is used with its own key only: put the right key beside it, or renew the certificate (`kubestrap certs renew <name>`; a CA cannot be renewed, it needs its own key back)",
            mismatched.join("\n")
        );
    }
    // A missing certificate is a row marked MISSING, as the cluster's own are.
    let cert = if ctx.root.exists(KUBELET_CLIENT_CERT) {
        let pem = read_following_links(ctx, KUBELET_CLIENT_CERT)?;
        Some(
            Certificate::from_pem(&String::from_utf8_lossy(&pem))
                .with_context(|| format!("failed to parse `{KUBELET_CLIENT_CERT}`"))?,
        )
    } else {
        None
    };
    let kubelet_client = KubeletClient {
        path: KUBELET_CLIENT_CERT.to_string(),
        expiration: row(
            "kubelet-client-current.pem".into(),
            cert.as_ref(),
            "ca".into(),
            externally_managed(ctx, Cert::Ca),
            now,
        ),
        rotation: kubelet_rotates(ctx),
    };
    Ok(Summary {
        certificates,
        certificate_authorities,
        kubelet_client,
    })
}

/// Whether the kubelet's config.yaml turns client certificate rotation on.
fn kubelet_rotates(ctx: &Context) -> bool {
    ctx.root
        .read_to_string(paths::KUBELET_CONFIG)
        .ok()
        .and_then(|t| serde_yaml::from_str::<serde_yaml::Value>(&t).ok())
        .and_then(|v| {
            v.get("rotateCertificates")
                .and_then(serde_yaml::Value::as_bool)
        })
        .unwrap_or(false)
}

/// kubeadm's RESIDUAL TIME: `364d`, `9y`, `5h`, `<invalid>` once expired.
pub fn short_duration(seconds: i64) -> String {
    match seconds {
        s if s < -1 => "<invalid>".into(),
        s if s < 0 => "0s".into(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s if s < 365 * 24 * 3600 => format!("{}d", s / (24 * 3600)),
        s => format!("{}y", s / (365 * 24 * 3600)),
    }
}

/// kubeadm's EXPIRES column: `Dec 03, 2027 16:04 UTC`.
pub fn expires_text(rfc3339: &str) -> String {
    let Ok(t) = OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
    else {
        return rfc3339.to_string();
    };
    let format =
        time::macros::format_description!("[month repr:short] [day], [year] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_time_reads_like_kubeadms() {
        assert_eq!(short_duration(364 * 24 * 3600 + 5), "364d");
        assert_eq!(short_duration(9 * 365 * 24 * 3600 + 100), "9y");
        assert_eq!(short_duration(47 * 3600), "47h");
        assert_eq!(short_duration(-3600), "<invalid>");
        assert_eq!(short_duration(30), "30s");
    }

    #[test]
    fn expiry_dates_read_like_kubeadms() {
        assert_eq!(
            expires_text("2027-12-03T16:04:05Z"),
            "Dec 03, 2027 16:04 UTC"
        );
    }
}
