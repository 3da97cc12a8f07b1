//! Keys and certificates: generation, signing, PEM files, loading and checking existing ones.
//!
//! Keys are written the way kubeadm writes them (`RSA PRIVATE KEY` PKCS#1, `EC PRIVATE KEY` SEC1,
//! `PUBLIC KEY` PKIX) and certificates are built from a [`CertRequest`] that the `certs` and
//! `kubeconfig` phases fill per Kubernetes version.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::SystemTime;

use anyhow::{Context as _, Result, anyhow, bail};
use aws_lc_rs::encoding::AsDer;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
    SerialNumber,
};
use ring::rand::SecureRandom;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::fs::root::Root;

/// The key types of `ClusterConfiguration.encryptionAlgorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EcdsaP256,
}

impl KeyAlgorithm {
    /// Every accepted spelling, as the config API names them.
    pub const NAMES: &'static [&'static str] = &["RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256"];

    /// Parses an `encryptionAlgorithm` value.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "RSA-2048" => KeyAlgorithm::Rsa2048,
            "RSA-3072" => KeyAlgorithm::Rsa3072,
            "RSA-4096" => KeyAlgorithm::Rsa4096,
            "ECDSA-P256" => KeyAlgorithm::EcdsaP256,
            other => bail!(
                "`encryptionAlgorithm`: {other:?} is not supported; use one of {}",
                Self::NAMES.join(", ")
            ),
        })
    }

    /// The config API name (`RSA-2048`).
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "RSA-2048",
            KeyAlgorithm::Rsa3072 => "RSA-3072",
            KeyAlgorithm::Rsa4096 => "RSA-4096",
            KeyAlgorithm::EcdsaP256 => "ECDSA-P256",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A private key with the PEM text it is stored as.
pub struct PrivateKey {
    pair: KeyPair,
    pem: String,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey").finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// A new random key.
    pub fn generate(alg: KeyAlgorithm) -> Result<Self> {
        let rsa = |size| {
            let pair = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size)?;
            // A PKCS#8 RSA key wraps the PKCS#1 RSAPrivateKey that kubeadm writes.
            let pkcs1 = pkcs8_inner_key(pair.serialized_der())
                .context("generated RSA key has an unexpected encoding")?;
            let pem = encode_pem("RSA PRIVATE KEY", pkcs1);
            anyhow::Ok(PrivateKey { pair, pem })
        };
        let key = match alg {
            KeyAlgorithm::Rsa2048 => rsa(rcgen::RsaKeySize::_2048),
            KeyAlgorithm::Rsa3072 => rsa(rcgen::RsaKeySize::_3072),
            KeyAlgorithm::Rsa4096 => rsa(rcgen::RsaKeySize::_4096),
            KeyAlgorithm::EcdsaP256 => {
                let pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
                let ec = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    pair.serialized_der(),
                )
                .map_err(|e| anyhow!("{e}"))?;
                let sec1 = ec.private_key().as_der().map_err(|e| anyhow!("{e}"))?;
                let pem = encode_pem("EC PRIVATE KEY", sec1.as_ref());
                Ok(PrivateKey { pair, pem })
            }
        };
        key.with_context(|| format!("failed to generate a {alg} key"))
    }

    /// Parses a PEM key: `RSA PRIVATE KEY`, `EC PRIVATE KEY` (P-256) or PKCS#8 `PRIVATE KEY`.
    pub fn from_pem(text: &str) -> Result<Self> {
        let block = pem::parse(text).context("not a PEM private key")?;
        let pair = match block.tag() {
            "RSA PRIVATE KEY" => KeyPair::from_pem_and_sign_algo(text, &rcgen::PKCS_RSA_SHA256),
            "EC PRIVATE KEY" => {
                KeyPair::from_pem_and_sign_algo(text, &rcgen::PKCS_ECDSA_P256_SHA256)
            }
            "PRIVATE KEY" => KeyPair::from_pem(text),
            other => bail!("PEM block {other:?} is not a private key"),
        }
        .context("the key is neither an RSA nor an ECDSA P-256 private key")?;
        Ok(PrivateKey {
            pair,
            pem: text.to_string(),
        })
    }

    /// The key as stored on disk.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The DER SubjectPublicKeyInfo of the public half.
    pub fn spki_der(&self) -> Vec<u8> {
        self.pair.subject_public_key_info()
    }

    /// The public half as a PEM `PUBLIC KEY` (what kubeadm writes to `sa.pub`).
    pub fn public_key_pem(&self) -> String {
        encode_pem("PUBLIC KEY", &self.spki_der())
    }
}

fn encode_pem(tag: &str, der: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(tag, der.to_vec()), config)
}

/// One DER element: (tag, contents, rest).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The `privateKey` OCTET STRING of a PKCS#8 PrivateKeyInfo.
fn pkcs8_inner_key(pkcs8: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const OCTET_STRING: u8 = 0x04;
    let (SEQUENCE, body, _) = der_element(pkcs8)? else {
        return None;
    };
    let (INTEGER, _, rest) = der_element(body)? else {
        return None;
    };
    let (SEQUENCE, _, rest) = der_element(rest)? else {
        return None;
    };
    let (OCTET_STRING, key, _) = der_element(rest)? else {
        return None;
    };
    Some(key)
}

/// A parsed certificate (the first of a PEM file; later ones are its chain).
#[derive(Debug, Clone)]
pub struct Certificate {
    pub der: Vec<u8>,
    pub common_name: String,
    pub organizations: Vec<String>,
    pub is_ca: bool,
    pub dns_names: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

impl Certificate {
    /// Parses DER.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let (_, x509) =
            X509Certificate::from_der(der).map_err(|e| anyhow!("not an X.509 certificate: {e}"))?;
        let strings = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue>| {
            it.filter_map(|a| a.as_str().ok().map(str::to_string))
                .collect::<Vec<_>>()
        };
        let subject = x509.subject();
        let common_name = strings(&mut subject.iter_common_name())
            .into_iter()
            .next()
            .unwrap_or_default();
        let organizations = strings(&mut subject.iter_organization());
        let mut dns_names = Vec::new();
        let mut ips = Vec::new();
        if let Ok(Some(san)) = x509.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => dns_names.push(d.to_string()),
                    GeneralName::IPAddress(b) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                            ips.push(IpAddr::from(v4));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                            ips.push(IpAddr::from(v6));
                        }
                    }
                    _ => {}
                }
            }
        }
        let time = |t: &x509_parser::time::ASN1Time| {
            SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(u64::try_from(t.timestamp()).unwrap_or(0))
        };
        Ok(Certificate {
            der: der.to_vec(),
            common_name,
            organizations,
            is_ca: x509.is_ca(),
            dns_names,
            ips,
            not_before: time(&x509.validity().not_before),
            not_after: time(&x509.validity().not_after),
            spki: x509.public_key().raw.to_vec(),
        })
    }

    /// Parses the first certificate of a PEM file.
    pub fn from_pem(text: &str) -> Result<Self> {
        let blocks = pem::parse_many(text).context("not a PEM file")?;
        let first = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .context("no CERTIFICATE block found")?;
        Self::from_der(first.contents())
    }

    /// The certificate as PEM.
    pub fn pem(&self) -> String {
        encode_pem("CERTIFICATE", &self.der)
    }

    /// Whether `issuer`'s key made this certificate's signature.
    pub fn is_signed_by(&self, issuer: &Certificate) -> bool {
        let (Ok((_, cert)), Ok((_, ca))) = (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(&issuer.der),
        ) else {
            return false;
        };
        cert.verify_signature(Some(ca.public_key())).is_ok()
    }

    /// Whether `key` is the private half of this certificate's public key.
    pub fn matches_key(&self, key: &PrivateKey) -> bool {
        self.spki == key.spki_der()
    }

    /// SANs of `want` missing from this certificate, spelled `DNS:x` / `IP:y`.
    pub fn missing_sans(&self, want: &AltNames) -> Vec<String> {
        let dns = want
            .dns
            .iter()
            .filter(|d| {
                !self
                    .dns_names
                    .iter()
                    .any(|have| have.eq_ignore_ascii_case(d))
            })
            .map(|d| format!("DNS:{d}"));
        let ips = want
            .ips
            .iter()
            .filter(|ip| !self.ips.contains(ip))
            .map(|ip| format!("IP:{ip}"));
        dns.chain(ips).collect()
    }

    /// `Some(reason)` when `now` is outside the validity period.
    pub fn period_problem(&self, now: SystemTime) -> Option<String> {
        let show = |t: SystemTime| {
            OffsetDateTime::from(t)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        let period = format!(
            "NotBefore: {}, NotAfter: {}",
            show(self.not_before),
            show(self.not_after)
        );
        if now < self.not_before {
            Some(format!("the certificate is not valid yet: {period}"))
        } else if now > self.not_after {
            Some(format!("the certificate has expired: {period}"))
        } else {
            None
        }
    }
}

/// kubeadm's discovery hash of a CA: `sha256:` + hex of SHA-256 over its SubjectPublicKeyInfo.
pub fn discovery_hash(ca: &Certificate) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, &ca.spki);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// DNS and IP subject alternative names, kept as kubeadm orders them: DNS names sorted and
/// de-duplicated, IPs de-duplicated in first-seen order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AltNames {
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
}

impl AltNames {
    /// Sorts and de-duplicates.
    pub fn normalized(mut self) -> Self {
        self.dns.sort();
        self.dns.dedup();
        let mut seen = Vec::new();
        self.ips.retain(|ip| {
            let new = !seen.contains(ip);
            seen.push(*ip);
            new
        });
        self
    }

    /// kubeadm's console rendering: `DNS names [a b] and IPs [1.2.3.4]`.
    pub fn describe(&self) -> String {
        let ips: Vec<String> = self.ips.iter().map(IpAddr::to_string).collect();
        format!(
            "DNS names [{}] and IPs [{}]",
            self.dns.join(" "),
            ips.join(" ")
        )
    }
}

/// Extended key usages kubeadm puts on leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    ServerAuth,
    ClientAuth,
}

/// Everything that goes into a certificate.
#[derive(Debug, Clone)]
pub struct CertRequest {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub alt_names: AltNames,
    pub usages: Vec<Usage>,
    pub is_ca: bool,
    /// Whether a leaf carries `basicConstraints CA:FALSE` (kubeadm 1.21+).
    pub leaf_basic_constraints: bool,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

/// A CA certificate with its key, if the key is present (a keyless CA is an external CA).
pub struct Authority {
    pub cert: Certificate,
    pub key: Option<PrivateKey>,
}

/// Builds and signs a certificate for `key`: self-signed when `issuer` is `None`.
pub fn sign(
    req: &CertRequest,
    key: &PrivateKey,
    issuer: Option<(&Certificate, &PrivateKey)>,
) -> Result<Certificate> {
    if req.common_name.is_empty() {
        bail!("must specify a CommonName");
    }
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for org in &req.organizations {
        dn.push(DnType::OrganizationName, dn_value(org));
    }
    dn.push(DnType::CommonName, dn_value(&req.common_name));
    params.distinguished_name = dn;
    params.serial_number = Some(random_serial()?);
    params.not_before = OffsetDateTime::from(req.not_before);
    params.not_after = OffsetDateTime::from(req.not_after);
    params.subject_alt_names = req
        .alt_names
        .dns
        .iter()
        .map(|d| {
            Ok(SanType::DnsName(d.clone().try_into().map_err(|_| {
                anyhow!("{d:?} is not a valid DNS name for a certificate")
            })?))
        })
        .chain(
            req.alt_names
                .ips
                .iter()
                .map(|ip| Ok(SanType::IpAddress(*ip))),
        )
        .collect::<Result<_>>()?;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    if req.is_ca {
        params.key_usages.push(KeyUsagePurpose::KeyCertSign);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    } else {
        if req.usages.is_empty() {
            bail!("must specify at least one ExtKeyUsage");
        }
        params.is_ca = if req.leaf_basic_constraints {
            IsCa::ExplicitNoCa
        } else {
            IsCa::NoCa
        };
        params.extended_key_usages = req
            .usages
            .iter()
            .map(|u| match u {
                Usage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
                Usage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
            })
            .collect();
    }
    let cert = match issuer {
        None => params.self_signed(&key.pair)?,
        Some((ca_cert, ca_key)) => {
            params.use_authority_key_identifier_extension = true;
            // The issuer name is copied from the CA certificate itself so chains built by name
            // (Go compares raw bytes) find it, whoever made the CA.
            let issuer = Issuer::from_ca_cert_der(&ca_cert.der.as_slice().into(), &ca_key.pair)
                .context("failed to read the CA certificate as an issuer")?;
            params.signed_by(&key.pair, &issuer)?
        }
    };
    Certificate::from_der(cert.der())
}

/// Go's encoding choice: PrintableString when the text allows it, else UTF8String.
fn dn_value(text: &str) -> DnValue {
    match rcgen::string::PrintableString::try_from(text) {
        Ok(p) => DnValue::PrintableString(p),
        Err(_) => DnValue::Utf8String(text.to_string()),
    }
}

/// A uniform random serial in [1, 2^63), as kubeadm draws it.
fn random_serial() -> Result<SerialNumber> {
    let rng = ring::rand::SystemRandom::new();
    loop {
        let mut bytes = [0u8; 8];
        rng.fill(&mut bytes)
            .map_err(|_| anyhow!("the system random source failed"))?;
        bytes[0] &= 0x7f;
        if bytes != [0; 8] {
            return Ok(SerialNumber::from_slice(&bytes));
        }
    }
}

/// Logical paths of a cert/key pair: `<dir>/<base>.crt`, `<dir>/<base>.key`.
pub fn pair_paths(cert_dir: &str, base: &str) -> (String, String) {
    (
        format!("{cert_dir}/{base}.crt"),
        format!("{cert_dir}/{base}.key"),
    )
}

/// Reads a certificate file.
pub fn read_cert(root: &Root, path: &str) -> Result<Certificate> {
    let text = root.read_to_string(path)?;
    Certificate::from_pem(&text).with_context(|| format!("failed to parse `{path}`"))
}

/// Reads a private key file.
pub fn read_key(root: &Root, path: &str) -> Result<PrivateKey> {
    let text = root.read_to_string(path)?;
    PrivateKey::from_pem(&text).with_context(|| format!("failed to parse `{path}`"))
}

/// Loads the CA `<base>` (`ca`, `front-proxy-ca`, `etcd/ca`) from the certificates folder; the key
/// is `None` when only the certificate is there (external CA).
pub fn load_ca(root: &Root, cert_dir: &str, base: &str) -> Result<Authority> {
    let (crt, key) = pair_paths(cert_dir, base);
    let cert = read_cert(root, &crt)?;
    if !cert.is_ca {
        bail!(
            "certificate {base:?} is not a CA: `{crt}` lacks basicConstraints CA:TRUE\n\nhint: put a CA certificate there, or remove it (and `{key}`) so kubestrap generates a new CA"
        );
    }
    let key = match root.read_optional(&key)? {
        None => None,
        Some(bytes) => {
            let text = String::from_utf8(bytes).with_context(|| format!("`{key}` is not text"))?;
            let k =
                PrivateKey::from_pem(&text).with_context(|| format!("failed to parse `{key}`"))?;
            if !cert.matches_key(&k) {
                bail!(
                    "`{key}` is not the private key of `{crt}`\n\nhint: restore the matching pair, or remove both files so kubestrap generates a new CA"
                );
            }
            Some(k)
        }
    };
    Ok(Authority { cert, key })
}

/// Writes a key (0600) then its certificate (0644), as kubeadm orders them.
pub fn write_pair(
    root: &Root,
    cert_dir: &str,
    base: &str,
    cert: &Certificate,
    key: &PrivateKey,
) -> Result<()> {
    let (crt, key_path) = pair_paths(cert_dir, base);
    root.write_secret(&key_path, key.pem().as_bytes())?;
    root.write(&crt, cert.pem().as_bytes(), 0o644)
}

/// Keys generated ahead of need on background threads, shared by every phase of the process.
///
/// Phases run one after another, each needing one key; the first phase of a group asks for the
/// keys the whole group will need so they are generated on every core while earlier ones are
/// signed and written. Keys are interchangeable, so any taker gets any ready key of its algorithm.
struct KeyPool {
    state: Mutex<PoolState>,
    ready: Condvar,
}

#[derive(Default)]
struct PoolState {
    keys: HashMap<KeyAlgorithm, Vec<PrivateKey>>,
    /// Keys ordered but not yet generated.
    pending: HashMap<KeyAlgorithm, usize>,
    /// Keys ordered that no worker has started.
    queued: Vec<KeyAlgorithm>,
    workers: usize,
}

static POOL: LazyLock<KeyPool> = LazyLock::new(|| KeyPool {
    state: Mutex::default(),
    ready: Condvar::new(),
});

fn pool_state() -> std::sync::MutexGuard<'static, PoolState> {
    POOL.state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts generating `count` keys of `alg` in the background, on up to one thread per core.
pub fn prefetch_keys(alg: KeyAlgorithm, count: usize) {
    if count == 0 {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut state = pool_state();
    *state.pending.entry(alg).or_default() += count;
    state.queued.extend(std::iter::repeat_n(alg, count));
    let wanted = cores.min(state.queued.len());
    while state.workers < wanted {
        state.workers += 1;
        let spawned = std::thread::Builder::new()
            .name("keygen".into())
            .spawn(key_worker);
        if spawned.is_err() {
            // Without a worker the takers generate their own keys.
            state.workers -= 1;
            state.pending.clear();
            state.queued.clear();
            break;
        }
    }
}

fn key_worker() {
    loop {
        let alg = {
            let mut state = pool_state();
            match state.queued.pop() {
                Some(alg) => alg,
                None => {
                    state.workers -= 1;
                    return;
                }
            }
        };
        // A panic must still count the key as done, or a taker would wait for it forever.
        let key = std::panic::catch_unwind(|| PrivateKey::generate(alg));
        let mut state = pool_state();
        if let Some(n) = state.pending.get_mut(&alg) {
            *n = n.saturating_sub(1);
        }
        // A failed generation is retried by the taker, which reports the error.
        if let Ok(Ok(key)) = key {
            state.keys.entry(alg).or_default().push(key);
        }
        POOL.ready.notify_all();
    }
}

/// A fresh key: a prefetched one if any is ready or on its way, else one generated now.
pub fn new_key(alg: KeyAlgorithm) -> Result<PrivateKey> {
    let mut state = pool_state();
    loop {
        if let Some(key) = state.keys.get_mut(&alg).and_then(Vec::pop) {
            return Ok(key);
        }
        if state.pending.get(&alg).copied().unwrap_or(0) == 0 {
            break;
        }
        state = POOL
            .ready
            .wait(state)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }
    drop(state);
    PrivateKey::generate(alg)
}

/// `sha256:<hex>` of the public key of each certificate in a PEM bundle (kubeadm pins every CA
/// of the cluster entry).
pub fn ca_cert_hashes(ca_pem: &[u8]) -> Result<Vec<String>> {
    let text = std::str::from_utf8(ca_pem).context("the cluster CA is not PEM text")?;
    let blocks = pem::parse_many(text).context("the cluster CA is not valid PEM")?;
    let hashes: Vec<String> = blocks
        .iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| Certificate::from_der(b.contents()).map(|c| discovery_hash(&c)))
        .collect::<Result<_>>()?;
    anyhow::ensure!(
        !hashes.is_empty(),
        "the cluster CA bundle holds no certificate"
    );
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn request(cn: &str, is_ca: bool) -> CertRequest {
        let now = SystemTime::now();
        CertRequest {
            common_name: cn.into(),
            organizations: vec!["system:masters".into()],
            alt_names: AltNames {
                dns: vec!["b".into(), "a".into(), "b".into()],
                ips: vec![
                    "10.0.0.1".parse().unwrap(),
                    "::1".parse().unwrap(),
                    "10.0.0.1".parse().unwrap(),
                ],
            }
            .normalized(),
            usages: vec![Usage::ServerAuth],
            is_ca,
            leaf_basic_constraints: true,
            not_before: now - Duration::from_secs(300),
            not_after: now + Duration::from_secs(3600),
        }
    }

    #[test]
    fn algorithm_names_round_trip() {
        for name in KeyAlgorithm::NAMES {
            assert_eq!(KeyAlgorithm::parse(name).unwrap().name(), *name);
        }
        let err = KeyAlgorithm::parse("RSA-1024").unwrap_err().to_string();
        assert!(
            err.contains("RSA-2048, RSA-3072, RSA-4096, ECDSA-P256"),
            "{err}"
        );
    }

    #[test]
    fn keys_are_written_as_kubeadm_writes_them_and_read_back() {
        for (alg, tag) in [
            (KeyAlgorithm::Rsa2048, "RSA PRIVATE KEY"),
            (KeyAlgorithm::Rsa3072, "RSA PRIVATE KEY"),
            (KeyAlgorithm::EcdsaP256, "EC PRIVATE KEY"),
        ] {
            let key = PrivateKey::generate(alg).unwrap();
            assert!(
                key.pem().starts_with(&format!("-----BEGIN {tag}-----\n")),
                "{}",
                key.pem()
            );
            let again = PrivateKey::from_pem(key.pem()).unwrap();
            assert_eq!(again.spki_der(), key.spki_der());
            assert!(
                key.public_key_pem()
                    .starts_with("-----BEGIN PUBLIC KEY-----\n")
            );
        }
        assert!(
            PrivateKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }

    #[test]
    fn signs_leaves_that_verify_against_their_ca_only() {
        let ca_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let ca = sign(&request("kubernetes", true), &ca_key, None).unwrap();
        assert!(ca.is_ca && ca.is_signed_by(&ca));
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let leaf = sign(
            &request("kube-apiserver", false),
            &key,
            Some((&ca, &ca_key)),
        )
        .unwrap();
        assert!(!leaf.is_ca);
        assert!(leaf.is_signed_by(&ca));
        assert!(leaf.matches_key(&key) && !leaf.matches_key(&ca_key));
        assert_eq!(leaf.common_name, "kube-apiserver");
        assert_eq!(leaf.organizations, ["system:masters"]);
        assert_eq!(leaf.dns_names, ["a", "b"]);
        assert_eq!(leaf.ips.len(), 2);
        let other_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let other = sign(&request("kubernetes", true), &other_key, None).unwrap();
        assert!(!leaf.is_signed_by(&other));
        let want = AltNames {
            dns: vec!["a".into(), "c".into()],
            ips: vec!["10.0.0.2".parse().unwrap()],
        };
        assert_eq!(leaf.missing_sans(&want), ["DNS:c", "IP:10.0.0.2"]);
        assert!(leaf.period_problem(SystemTime::now()).is_none());
        let later = SystemTime::now() + Duration::from_secs(7200);
        assert!(leaf.period_problem(later).unwrap().contains("has expired"));
        assert_eq!(Certificate::from_pem(&leaf.pem()).unwrap().der, leaf.der);
    }

    #[test]
    fn leaves_need_a_name_and_a_usage() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mut req = request("", false);
        assert!(
            sign(&req, &key, None)
                .unwrap_err()
                .to_string()
                .contains("CommonName")
        );
        req.common_name = "x".into();
        req.usages.clear();
        assert!(
            sign(&req, &key, None)
                .unwrap_err()
                .to_string()
                .contains("ExtKeyUsage")
        );
    }

    #[test]
    fn discovery_hash_is_sha256_of_the_spki() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let ca = sign(&request("kubernetes", true), &key, None).unwrap();
        let hash = discovery_hash(&ca);
        assert!(
            hash.starts_with("sha256:") && hash.len() == 7 + 64,
            "{hash}"
        );
        assert_eq!(ca.spki, key.spki_der());
    }

    #[test]
    fn prefetched_keys_are_handed_out() {
        prefetch_keys(KeyAlgorithm::EcdsaP256, 3);
        for _ in 0..4 {
            let key = new_key(KeyAlgorithm::EcdsaP256).unwrap();
            assert!(key.pem().contains("EC PRIVATE KEY"));
        }
    }

    #[test]
    fn reads_the_inner_key_of_pkcs8() {
        assert_eq!(
            pkcs8_inner_key(&[0x30, 0x08, 0x02, 0x01, 0x00, 0x30, 0x00, 0x04, 0x01, 0xAA]),
            Some(&[0xAA][..])
        );
        assert_eq!(pkcs8_inner_key(&[0x30, 0x02, 0x04, 0x00]), None);
    }
}
