//! The `certs` phases: the `/etc/kubernetes/pki` tree (CAs, leaves, the service-account key pair).
//!
//! Each certificate is reused when it exists and is valid, generated when it does not, and refused
//! with the reason and the fix when it exists but does not fit (wrong CA, missing SAN, expired).

pub mod download;
pub mod upload;

pub use download::{key_opens, run as download_certs};
pub use upload::{REUPLOAD, refuse_external_ca, run as upload_certs, shared_files};

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};

use crate::config::net;
use crate::pki::{self, AltNames, Authority, CertRequest, Certificate, KeyAlgorithm, Usage};
use crate::runner::Phase;
use crate::runner::context::Context;

/// kubeadm backdates certificates by this much to allow small clock jumps.
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// The certificates of the `certs` phase, in kubeadm's order (`sa` is a key pair, not here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cert {
    Ca,
    Apiserver,
    ApiserverKubeletClient,
    FrontProxyCa,
    FrontProxyClient,
    EtcdCa,
    EtcdServer,
    EtcdPeer,
    EtcdHealthcheckClient,
    ApiserverEtcdClient,
}

impl Cert {
    /// Every certificate, in generation order.
    pub const ALL: [Cert; 10] = [
        Cert::Ca,
        Cert::Apiserver,
        Cert::ApiserverKubeletClient,
        Cert::FrontProxyCa,
        Cert::FrontProxyClient,
        Cert::EtcdCa,
        Cert::EtcdServer,
        Cert::EtcdPeer,
        Cert::EtcdHealthcheckClient,
        Cert::ApiserverEtcdClient,
    ];

    /// The file name under `certificatesDir` without extension, also its console name.
    pub fn base(self) -> &'static str {
        match self {
            Cert::Ca => "ca",
            Cert::Apiserver => "apiserver",
            Cert::ApiserverKubeletClient => "apiserver-kubelet-client",
            Cert::FrontProxyCa => "front-proxy-ca",
            Cert::FrontProxyClient => "front-proxy-client",
            Cert::EtcdCa => "etcd/ca",
            Cert::EtcdServer => "etcd/server",
            Cert::EtcdPeer => "etcd/peer",
            Cert::EtcdHealthcheckClient => "etcd/healthcheck-client",
            Cert::ApiserverEtcdClient => "apiserver-etcd-client",
        }
    }

    /// The CA that signs this certificate; `None` for a CA.
    pub fn signer(self) -> Option<Cert> {
        match self {
            Cert::Ca | Cert::FrontProxyCa | Cert::EtcdCa => None,
            Cert::Apiserver | Cert::ApiserverKubeletClient => Some(Cert::Ca),
            Cert::FrontProxyClient => Some(Cert::FrontProxyCa),
            Cert::EtcdServer
            | Cert::EtcdPeer
            | Cert::EtcdHealthcheckClient
            | Cert::ApiserverEtcdClient => Some(Cert::EtcdCa),
        }
    }

    /// Whether kubeadm skips this certificate with an external etcd (whose client
    /// certificate the user provides).
    fn is_etcd(self) -> bool {
        matches!(
            self,
            Cert::EtcdCa
                | Cert::EtcdServer
                | Cert::EtcdPeer
                | Cert::EtcdHealthcheckClient
                | Cert::ApiserverEtcdClient
        )
    }

    fn common_name(self, ctx: &Context) -> String {
        match self {
            Cert::Ca => "kubernetes",
            Cert::Apiserver => "kube-apiserver",
            Cert::ApiserverKubeletClient => "kube-apiserver-kubelet-client",
            Cert::FrontProxyCa => "front-proxy-ca",
            Cert::FrontProxyClient => "front-proxy-client",
            Cert::EtcdCa => "etcd-ca",
            Cert::EtcdServer | Cert::EtcdPeer => return ctx.cfg.node_name.clone(),
            Cert::EtcdHealthcheckClient => "kube-etcd-healthcheck-client",
            Cert::ApiserverEtcdClient => "kube-apiserver-etcd-client",
        }
        .to_string()
    }

    fn organizations(self, ctx: &Context) -> Vec<String> {
        let profile = ctx.profile();
        match self {
            Cert::ApiserverKubeletClient => vec![profile.admin_group.to_string()],
            Cert::EtcdHealthcheckClient | Cert::ApiserverEtcdClient
                if profile.etcd_clients_in_masters =>
            {
                vec!["system:masters".to_string()]
            }
            _ => Vec::new(),
        }
    }

    fn usages(self) -> Vec<Usage> {
        match self {
            Cert::Ca | Cert::FrontProxyCa | Cert::EtcdCa => Vec::new(),
            Cert::Apiserver => vec![Usage::ServerAuth],
            Cert::EtcdServer | Cert::EtcdPeer => vec![Usage::ServerAuth, Usage::ClientAuth],
            Cert::ApiserverKubeletClient
            | Cert::FrontProxyClient
            | Cert::EtcdHealthcheckClient
            | Cert::ApiserverEtcdClient => vec![Usage::ClientAuth],
        }
    }

    fn alt_names(self, ctx: &Context) -> Result<AltNames> {
        let local = ctx.cfg.cluster.etcd.local.as_ref();
        Ok(match self {
            // kubeadm names a CA by its common name.
            Cert::Ca | Cert::FrontProxyCa | Cert::EtcdCa => AltNames {
                dns: vec![self.common_name(ctx)],
                ips: Vec::new(),
            },
            Cert::Apiserver => apiserver_alt_names(ctx)?,
            Cert::EtcdServer => etcd_alt_names(ctx, local.map_or(&[][..], |l| &l.server_cert_sans)),
            Cert::EtcdPeer => etcd_alt_names(ctx, local.map_or(&[][..], |l| &l.peer_cert_sans)),
            _ => AltNames::default(),
        })
    }

    /// The certificate kubeadm would make, signed by `ca` (ignored for a CA).
    pub fn request(self, ctx: &Context, ca: Option<&Certificate>) -> Result<CertRequest> {
        let (not_before, not_after) = match ca {
            Some(ca) if self.signer().is_some() => leaf_validity(ctx, ca)?,
            _ => ca_validity(ctx)?,
        };
        Ok(CertRequest {
            common_name: self.common_name(ctx),
            organizations: self.organizations(ctx),
            alt_names: self.alt_names(ctx)?,
            usages: self.usages(),
            is_ca: self.signer().is_none(),
            leaf_basic_constraints: ctx.profile().leaf_basic_constraints,
            not_before,
            not_after,
        })
    }
}

/// The key type for new keys: `encryptionAlgorithm`, or ECDSA with the old `PublicKeysECDSA` gate.
pub fn key_algorithm(ctx: &Context) -> Result<KeyAlgorithm> {
    let cluster = &ctx.cfg.cluster;
    if cluster.feature_gates.get("PublicKeysECDSA") == Some(&true) {
        return Ok(KeyAlgorithm::EcdsaP256);
    }
    KeyAlgorithm::parse(&cluster.encryption_algorithm)
}

fn period(ctx: &Context, ca: bool) -> Result<Duration> {
    let cluster = &ctx.cfg.cluster;
    let (field, value) = if ca {
        (
            "caCertificateValidityPeriod",
            &cluster.ca_certificate_validity_period,
        )
    } else {
        (
            "certificateValidityPeriod",
            &cluster.certificate_validity_period,
        )
    };
    crate::config::duration::parse(value).with_context(|| format!("invalid `{field}`"))
}

/// A new CA's validity: from the start (1.28+: backdated 5 minutes) for `caCertificateValidityPeriod`.
pub fn ca_validity(ctx: &Context) -> Result<(SystemTime, SystemTime)> {
    let profile = ctx.profile();
    let start = ctx.started;
    let not_before = if profile.ca_backdate {
        start - BACKDATE
    } else {
        start
    };
    // Until 1.30 the end was counted from "now", since 1.31 from NotBefore.
    let from = if profile.leaf_validity_from_start {
        not_before
    } else {
        start
    };
    Ok((
        not_before,
        crate::config::duration::later(from, period(ctx, true)?)?,
    ))
}

/// A new leaf's validity: ≤1.30 from the CA's NotBefore, 1.31+ from the start − 5 minutes; it
/// ends `certificateValidityPeriod` after the start.
pub fn leaf_validity(ctx: &Context, ca: &Certificate) -> Result<(SystemTime, SystemTime)> {
    let start = ctx.started;
    let not_before = if ctx.profile().leaf_validity_from_start {
        start - BACKDATE
    } else {
        ca.not_before
    };
    let not_after = crate::config::duration::later(start, period(ctx, false)?)?;
    warn_if_outlives(ctx, ca, not_after);
    Ok((not_before, not_after))
}

/// A certificate that ends after its CA stops verifying when the CA ends: say so.
pub fn warn_if_outlives(ctx: &Context, ca: &Certificate, not_after: SystemTime) {
    if not_after > ca.not_after {
        ctx.out.warn(
            "certs",
            &format!(
                "a certificate valid until {} is signed by the CA {:?}, which expires on {}: it stops verifying then; give the CA a longer caCertificateValidityPeriod or the certificate a shorter one",
                pki::rfc3339(not_after),
                ca.common_name,
                pki::rfc3339(ca.not_after)
            ),
        );
    }
}

/// The first address of the (first) service CIDR: the `kubernetes` service IP.
pub fn first_service_ip(subnets: &str) -> Result<IpAddr> {
    net::service_ip(subnets, 1)
}

/// Adds user SANs: an IP address is an IP SAN, anything else a DNS SAN (the config validation
/// already refused what is neither).
fn append_sans(alt: &mut AltNames, sans: &[String]) {
    for san in sans {
        match san.parse::<IpAddr>() {
            Ok(ip) => alt.ips.push(ip),
            Err(_) => alt.dns.push(san.clone()),
        }
    }
}

/// The apiserver serving certificate's names.
pub fn apiserver_alt_names(ctx: &Context) -> Result<AltNames> {
    let cfg = &ctx.cfg;
    let domain = &cfg.cluster.networking.dns_domain;
    let mut alt = AltNames {
        dns: vec![
            cfg.node_name.clone(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            format!("kubernetes.default.svc.{domain}"),
        ],
        ips: vec![
            first_service_ip(&cfg.cluster.networking.service_subnet)?,
            cfg.advertise_address,
        ],
    };
    if let Some(endpoint) = cfg
        .cluster
        .control_plane_endpoint
        .as_deref()
        .filter(|e| !e.is_empty())
    {
        let (host, _) = net::parse_control_plane_endpoint(endpoint)?;
        match host.parse::<IpAddr>() {
            Ok(ip) => alt.ips.push(ip),
            Err(_) => alt.dns.push(host),
        }
    }
    append_sans(&mut alt, &cfg.cluster.api_server.cert_sans);
    Ok(alt.normalized())
}

fn etcd_alt_names(ctx: &Context, extra: &[String]) -> AltNames {
    let mut alt = AltNames {
        dns: vec![ctx.cfg.node_name.clone(), "localhost".into()],
        ips: vec![
            ctx.cfg.advertise_address,
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ],
    };
    append_sans(&mut alt, extra);
    alt.normalized()
}

fn external_etcd(ctx: &Context) -> bool {
    ctx.cfg.cluster.etcd.external.is_some()
}

/// How to get rid of a pair that does not fit.
fn replace_hint(crt: &str, key: &str) -> String {
    format!(
        "\n\nhint: remove `{crt}` and `{key}` so kubestrap generates a new pair, or run `kubestrap reset` to start over"
    )
}

/// The key the certs phase `name` will generate: one for each pair (or `sa` key) not there yet.
/// A configuration error is left for the phase itself to report.
fn new_key(ctx: &Context, name: &str) -> Option<KeyAlgorithm> {
    let dir = ctx.cert_dir();
    let present = if name == "sa" {
        ctx.root.exists(format!("{dir}/sa.key"))
    } else {
        let cert = Cert::ALL
            .into_iter()
            .find(|c| c.base().replace('/', "-") == name)?;
        let (crt, key) = pki::pair_paths(dir, cert.base());
        let skipped = cert.is_etcd() && external_etcd(ctx);
        skipped || ctx.root.exists(&crt) || ctx.root.exists(&key)
    };
    if present {
        return None;
    }
    key_algorithm(ctx).ok()
}

/// How to get a CA certificate back whose key is still there. Removing the key too would make a
/// new CA, which on a running cluster invalidates every certificate, kubeconfig and node signed
/// by the old one: that is the last resort, for a host that serves no cluster.
fn lost_ca_hint(ctx: &Context, base: &str, crt: &str, key_path: &str) -> String {
    let admin = crate::fs::paths::kubeconfig("admin.conf");
    let restore = if base == "ca" && ctx.root.exists(&admin) {
        format!(
            "restore it from the copy every kubeconfig holds: `kubectl config view --kubeconfig {admin} --raw -o jsonpath='{{.clusters[0].cluster.certificate-authority-data}}' | base64 -d > {crt}`"
        )
    } else {
        format!("copy `{crt}` back from a backup or from another control-plane node")
    };
    format!(
        "\n\nhint: {restore}. Only on a host that serves no cluster, remove `{key_path}` so kubestrap generates a new CA: on a running cluster a new CA invalidates every certificate, kubeconfig and node signed by the old one"
    )
}

/// Creates or reuses a CA.
fn ensure_ca(ctx: &Context, cert: Cert) -> Result<()> {
    let base = cert.base();
    if cert.is_etcd() && external_etcd(ctx) {
        ctx.out.status(
            "certs",
            &format!("External etcd mode: Skipping {base} certificate authority generation"),
        );
        return Ok(());
    }
    let dir = ctx.cert_dir();
    let (crt, key_path) = pki::pair_paths(dir, base);
    if ctx.root.exists(&crt) {
        let ca = pki::load_ca(&ctx.root, dir, base)?;
        check_signing_period(&ca.cert, base)?;
        let keyless = if ca.key.is_some() { "" } else { "keyless " };
        ctx.out.status(
            "certs",
            &format!("Using existing {base} {keyless}certificate authority"),
        );
        return Ok(());
    }
    if ctx.root.exists(&key_path) {
        bail!(
            "found `{key_path}` but not `{crt}`{}",
            lost_ca_hint(ctx, base, &crt, &key_path)
        );
    }
    ctx.out
        .status("certs", &format!("Generating {base:?} certificate and key"));
    let req = cert.request(ctx, None)?;
    let key = pki::new_key(key_algorithm(ctx)?)?;
    let signed = pki::sign(&req, &key, None)
        .with_context(|| format!("unable to create self-signed {base} certificate"))?;
    pki::write_pair(&ctx.root, dir, base, &signed, &key)
}

/// Checks an existing leaf pair against its CA and the names it must carry.
pub fn check_existing(ctx: &Context, base: &str, ca: &Certificate, want: &AltNames) -> Result<()> {
    let (crt, key_path) = pki::pair_paths(ctx.cert_dir(), base);
    let hint = replace_hint(&crt, &key_path);
    let csr = format!("{}/{base}.csr", ctx.cert_dir());
    if ctx.root.exists(&key_path) && !ctx.root.exists(&crt) && ctx.root.exists(&csr) {
        bail!(
            "found `{key_path}` and `{csr}` but not `{crt}`\n\nhint: sign `{csr}` with the {} CA and save the certificate as `{crt}` (external CA), or remove `{key_path}` and `{csr}` so kubestrap generates a new pair",
            ca_name_of(base)
        );
    }
    for (present, missing) in [(&crt, &key_path), (&key_path, &crt)] {
        if !ctx.root.exists(missing) {
            bail!("found `{present}` but not `{missing}`{hint}");
        }
    }
    let cert = pki::read_cert(&ctx.root, &crt)?;
    let key = pki::read_key(&ctx.root, &key_path)?;
    if !cert.is_signed_by(ca) {
        bail!(
            "certificate {base} is not signed by corresponding CA (`{crt}` was issued by another CA){hint}"
        );
    }
    if !cert.matches_key(&key) {
        bail!("`{key_path}` is not the private key of `{crt}`{hint}");
    }
    let missing = cert.missing_sans(want);
    if !missing.is_empty() {
        bail!(
            "certificate {base} is invalid: it lacks the subject alternative names {}{hint}",
            missing.join(", ")
        );
    }
    if let Some(problem) = cert.period_problem(SystemTime::now()) {
        bail!("certificate {base} cannot be used: {problem}{hint}");
    }
    Ok(())
}

/// The CA that signs the leaf with file name `base`, as kubeadm names it.
fn ca_name_of(base: &str) -> String {
    ca_name(
        Cert::ALL
            .into_iter()
            .find(|c| c.base() == base)
            .and_then(Cert::signer)
            .unwrap_or(Cert::Ca),
    )
}

/// kubeadm's name of a CA: `ca`, `front-proxy-ca`, `etcd-ca`.
pub fn ca_name(ca: Cert) -> String {
    ca.base().replace("etcd/ca", "etcd-ca")
}

/// Whether a CA's key is absent (an external CA signs its certificates).
pub fn externally_managed(ctx: &Context, ca: Cert) -> bool {
    let (crt, key) = pki::pair_paths(ctx.cert_dir(), ca.base());
    ctx.root.exists(crt) && !ctx.root.exists(key)
}

/// Loads the CA that signs `cert`, naming the phase that makes it when it is missing.
fn signer(ctx: &Context, cert: Cert) -> Result<(Cert, Authority)> {
    let ca = cert.signer().context("a CA has no signer")?;
    let (crt, _) = pki::pair_paths(ctx.cert_dir(), ca.base());
    if !ctx.root.exists(&crt) {
        bail!(
            "`{crt}` does not exist to sign the {} certificate\n\nhint: run `kubestrap init phase certs {}` first, or pass --root to the folder that holds it",
            cert.base(),
            phase_name(ca)
        );
    }
    let authority = pki::load_ca(&ctx.root, ctx.cert_dir(), ca.base())
        .with_context(|| format!("failure loading {} certificate authority", ca.base()))?;
    check_signing_period(&authority.cert, ca.base())?;
    Ok((ca, authority))
}

/// Refuses a CA outside its validity window, for every phase that signs with one (what it signs
/// would not verify), and says when the machine's clock is the likely cause.
pub fn check_signing_period(ca: &Certificate, name: &str) -> Result<()> {
    let now = SystemTime::now();
    let Some(problem) = ca.period_problem(now) else {
        return Ok(());
    };
    let clock = pki::rfc3339(now);
    let hint = if now < ca.not_before {
        format!(
            "this machine's clock says {clock}, earlier than the CA was made: the clock is most likely behind. Check it (`date`; `timedatectl status` for NTP), then run this again"
        )
    } else {
        format!(
            "this machine's clock says {clock}: if that is wrong, set it right (`date`; `timedatectl status` for NTP) and run this again; if it is right, the CA has expired, and a cluster needs a new one (`kubestrap reset`, then `kubestrap init`)"
        )
    };
    bail!("certificate authority {name} cannot sign: {problem}\n\nhint: {hint}")
}

/// The phase that makes a CA.
fn phase_name(ca: Cert) -> &'static str {
    match ca {
        Cert::EtcdCa => "etcd-ca",
        other => other.base(),
    }
}

/// Creates or reuses a leaf certificate.
pub fn ensure_leaf(ctx: &Context, cert: Cert) -> Result<()> {
    let base = cert.base();
    if cert.is_etcd() && external_etcd(ctx) {
        ctx.out.status(
            "certs",
            &format!("External etcd mode: Skipping {base} certificate generation"),
        );
        return Ok(());
    }
    let dir = ctx.cert_dir();
    let (ca, authority) = signer(ctx, cert)?;
    let req = cert.request(ctx, Some(&authority.cert))?;
    let (crt, key_path) = pki::pair_paths(dir, base);
    if ctx.root.exists(&crt) || ctx.root.exists(&key_path) {
        check_existing(ctx, base, &authority.cert, &req.alt_names)?;
        ctx.out.status(
            "certs",
            &format!("Using existing {base} certificate and key on disk"),
        );
        return Ok(());
    }
    let Some(ca_key) = &authority.key else {
        let (_, ca_key) = pki::pair_paths(dir, ca.base());
        bail!(
            "`{crt}` does not exist and `{ca_key}` is not there to sign it (external CA mode: every certificate must be provided)\n\nhint: create `{crt}` and `{key_path}` with your CA, or place `{ca_key}` next to its certificate so kubestrap can sign"
        );
    };
    ctx.out
        .status("certs", &format!("Generating {base:?} certificate and key"));
    let key = pki::new_key(key_algorithm(ctx)?)?;
    let signed = pki::sign(&req, &key, Some((&authority.cert, ca_key)))
        .with_context(|| format!("unable to sign the {base} certificate"))?;
    pki::write_pair(&ctx.root, dir, base, &signed, &key)?;
    if req.usages.contains(&Usage::ServerAuth) {
        ctx.out.status(
            "certs",
            &format!(
                "{base} serving cert is signed for {}",
                req.alt_names.describe()
            ),
        );
    }
    Ok(())
}

fn ca(ctx: &mut Context) -> Result<()> {
    ctx.out.status(
        "certs",
        &format!("Using certificateDir folder {:?}", ctx.cert_dir()),
    );
    ensure_ca(ctx, Cert::Ca)
}

fn apiserver(ctx: &mut Context) -> Result<()> {
    ensure_leaf(ctx, Cert::Apiserver)
}

fn apiserver_kubelet_client(ctx: &mut Context) -> Result<()> {
    ensure_leaf(ctx, Cert::ApiserverKubeletClient)
}

fn front_proxy_ca(ctx: &mut Context) -> Result<()> {
    ensure_ca(ctx, Cert::FrontProxyCa)
}

fn front_proxy_client(ctx: &mut Context) -> Result<()> {
    ensure_leaf(ctx, Cert::FrontProxyClient)
}

fn etcd_ca(ctx: &mut Context) -> Result<()> {
    ensure_ca(ctx, Cert::EtcdCa)
}

fn etcd_server(ctx: &mut Context) -> Result<()> {
    ensure_leaf(ctx, Cert::EtcdServer)
}

fn etcd_peer(ctx: &mut Context) -> Result<()> {
    ensure_leaf(ctx, Cert::EtcdPeer)
}

fn etcd_healthcheck_client(ctx: &mut Context) -> Result<()> {
    ensure_leaf(ctx, Cert::EtcdHealthcheckClient)
}

fn apiserver_etcd_client(ctx: &mut Context) -> Result<()> {
    ensure_leaf(ctx, Cert::ApiserverEtcdClient)
}

/// The service-account token signing key pair: `sa.key` (0600) and `sa.pub` (0600, like kubeadm).
fn sa(ctx: &mut Context) -> Result<()> {
    let dir = ctx.cert_dir();
    let (key_path, pub_path) = (format!("{dir}/sa.key"), format!("{dir}/sa.pub"));
    if ctx.root.exists(&key_path) {
        let key = pki::read_key(&ctx.root, &key_path).map_err(|e| {
            e.context(format!(
                "the existing service-account key is unusable\n\nhint: remove `{key_path}` and `{pub_path}` so kubestrap generates a new pair"
            ))
        })?;
        ctx.out.status("certs", "Using the existing \"sa\" key");
        if !ctx.root.exists(&pub_path) {
            ctx.root
                .write_secret(&pub_path, key.public_key_pem().as_bytes())?;
        }
        return Ok(());
    }
    ctx.out
        .status("certs", "Generating \"sa\" key and public key");
    let key = pki::new_key(key_algorithm(ctx)?)?;
    ctx.root.write_secret(&key_path, key.pem().as_bytes())?;
    ctx.root
        .write_secret(&pub_path, key.public_key_pem().as_bytes())
}

const NEEDS_CA: &[(&str, &str)] = &[("pki/ca.crt", "certs/ca")];
const NEEDS_FRONT_PROXY_CA: &[(&str, &str)] = &[("pki/front-proxy-ca.crt", "certs/front-proxy-ca")];

/// The sub-phases of `certs`, in kubeadm's order. The etcd leaves declare no required file: with
/// an external etcd they are skipped and their CA never exists; [`signer`] names the missing CA.
pub static PHASES: &[Phase] = &[
    Phase::leaf(
        "ca",
        "Generate the self-signed Kubernetes CA to provision identities for other Kubernetes components",
        ca,
    )
    .new_key(new_key),
    Phase::leaf(
        "apiserver",
        "Generate the certificate for serving the Kubernetes API",
        apiserver,
    )
    .requires(NEEDS_CA)
    .new_key(new_key),
    Phase::leaf(
        "apiserver-kubelet-client",
        "Generate the certificate for the API server to connect to kubelet",
        apiserver_kubelet_client,
    )
    .requires(NEEDS_CA)
    .new_key(new_key),
    Phase::leaf(
        "front-proxy-ca",
        "Generate the self-signed CA to provision identities for front proxy",
        front_proxy_ca,
    )
    .new_key(new_key),
    Phase::leaf(
        "front-proxy-client",
        "Generate the certificate for the front proxy client",
        front_proxy_client,
    )
    .requires(NEEDS_FRONT_PROXY_CA)
    .new_key(new_key),
    Phase::leaf(
        "etcd-ca",
        "Generate the self-signed CA to provision identities for etcd",
        etcd_ca,
    )
    .new_key(new_key),
    Phase::leaf(
        "etcd-server",
        "Generate the certificate for serving etcd",
        etcd_server,
    )
    .new_key(new_key),
    Phase::leaf(
        "etcd-peer",
        "Generate the certificate for etcd nodes to communicate with each other",
        etcd_peer,
    )
    .new_key(new_key),
    Phase::leaf(
        "etcd-healthcheck-client",
        "Generate the certificate for liveness probes to healthcheck etcd",
        etcd_healthcheck_client,
    )
    .new_key(new_key),
    Phase::leaf(
        "apiserver-etcd-client",
        "Generate the certificate the apiserver uses to access etcd",
        apiserver_etcd_client,
    )
    .new_key(new_key),
    Phase::leaf(
        "sa",
        "Generate a private key for signing service account tokens along with its public key",
        sa,
    )
    .new_key(new_key),
];
