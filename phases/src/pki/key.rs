//! Private keys: generation per `encryptionAlgorithm`, and PEM in the encodings kubeadm writes.

use std::fmt;

use anyhow::{Context as _, Result, anyhow, bail};
use aws_lc_rs::encoding::AsDer;
use rcgen::{KeyPair, PublicKeyData};

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
    pub(super) pair: KeyPair,
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

    /// Parses a PEM key: `RSA PRIVATE KEY`, `EC PRIVATE KEY` (P-256, P-384) or PKCS#8 `PRIVATE KEY`.
    pub fn from_pem(text: &str) -> Result<Self> {
        let block = pem::parse(text).context("not a PEM private key")?;
        let pair = match block.tag() {
            "RSA PRIVATE KEY" => KeyPair::from_pem_and_sign_algo(text, &rcgen::PKCS_RSA_SHA256),
            // SEC1 does not say its curve to rcgen: the curves PKCS#8 keys are accepted with.
            "EC PRIVATE KEY" => {
                KeyPair::from_pem_and_sign_algo(text, &rcgen::PKCS_ECDSA_P256_SHA256).or_else(
                    |_| KeyPair::from_pem_and_sign_algo(text, &rcgen::PKCS_ECDSA_P384_SHA384),
                )
            }
            "PRIVATE KEY" => KeyPair::from_pem(text),
            other => bail!("PEM block {other:?} is not a private key"),
        }
        .context("the key is neither an RSA nor an ECDSA P-256 or P-384 private key")?;
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

pub(super) fn encode_pem(tag: &str, der: &[u8]) -> String {
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
pub(super) fn pkcs8_inner_key(pkcs8: &[u8]) -> Option<&[u8]> {
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

/// A new certificate key: 32 random bytes (an AES-256 key) in lower-case hex, as kubeadm's
/// `certs certificate-key` prints it.
pub fn certificate_key() -> Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow!("the system random source failed"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
