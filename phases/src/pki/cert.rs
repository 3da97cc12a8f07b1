//! Certificates: reading and checking them, and signing new ones from a [`CertRequest`].

use std::net::IpAddr;
use std::time::SystemTime;

use anyhow::{Context as _, Result, anyhow, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::SecureRandom;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::key::{PrivateKey, encode_pem};
use super::subject;

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
    /// The serial number's big-endian bytes.
    pub serial: Vec<u8>,
    /// Its extended key usages (those kubeadm uses).
    pub usages: Vec<Usage>,
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
        let mut usages = Vec::new();
        if let Ok(Some(eku)) = x509.extended_key_usage() {
            if eku.value.server_auth {
                usages.push(Usage::ServerAuth);
            }
            if eku.value.client_auth {
                usages.push(Usage::ClientAuth);
            }
        }
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
            serial: x509.tbs_certificate.raw_serial().to_vec(),
            usages,
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

    /// The serial number as openssl prints it (`openssl x509 -serial`): upper-case hex.
    pub fn serial_hex(&self) -> String {
        let bytes: Vec<u8> = self
            .serial
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        if bytes.is_empty() {
            return "00".into();
        }
        bytes.iter().map(|b| format!("{b:02X}")).collect()
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
        let period = format!(
            "NotBefore: {}, NotAfter: {}",
            rfc3339(self.not_before),
            rfc3339(self.not_after)
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

/// A time as RFC 3339 (UTC), as certificates' dates are shown.
pub fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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

/// The rcgen parameters of a request: subject, names, usages, validity and a fresh serial.
fn params(req: &CertRequest) -> Result<CertificateParams> {
    if req.common_name.is_empty() {
        bail!("must specify a CommonName");
    }
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    // rcgen keeps one value per attribute type: `sign` writes the others afterwards, and a
    // request (whose subject is signed by the requester) is refused with several.
    if let Some(org) = req.organizations.first() {
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
    Ok(params)
}

/// Builds and signs a certificate for `key`: self-signed when `issuer` is `None`.
pub fn sign(
    req: &CertRequest,
    key: &PrivateKey,
    issuer: Option<(&Certificate, &PrivateKey)>,
) -> Result<Certificate> {
    let mut params = params(req)?;
    let signer = issuer.map_or(key, |(_, ca_key)| ca_key);
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
    if req.organizations.len() > 1 {
        let name = subject::encode_name(&req.organizations, &req.common_name);
        return Certificate::from_der(&subject::with_subject(
            cert.der(),
            &name,
            issuer.is_none(),
            signer,
        )?);
    }
    Certificate::from_der(cert.der())
}

/// A PEM certificate signing request (`CERTIFICATE REQUEST`) for `key` with the subject, names
/// and usages of `req`, for an external CA to sign.
pub fn certificate_request(req: &CertRequest, key: &PrivateKey) -> Result<String> {
    if req.organizations.len() > 1 {
        bail!(
            "a certificate request with more than one organization ({}) is not supported",
            req.organizations.join(", ")
        );
    }
    let mut params = params(req)?;
    // A request carries no serial or basic constraints; the CA decides them.
    params.serial_number = None;
    params.is_ca = IsCa::NoCa;
    let csr = params
        .serialize_request(&key.pair)
        .context("failed to build the certificate signing request")?;
    csr.pem()
        .context("failed to encode the certificate signing request")
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
