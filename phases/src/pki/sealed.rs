//! Entries of the `kubeadm-certs` Secret, sealed as kubeadm seals them: AES-256-GCM under the
//! certificate key, value = 12-byte random nonce || ciphertext || 16-byte tag, no additional data.

use anyhow::{Result, anyhow, bail};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// The AES-256 key of `--certificate-key` (64 hex digits).
pub struct CertificateKey(LessSafeKey);

impl std::fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertificateKey(<withheld>)")
    }
}

/// Why an entry could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Shorter than a nonce and a tag: not something sealed with any key.
    Truncated,
    /// The tag does not match: another key sealed it, or it was changed.
    WrongKey,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpenError::Truncated => "the value is too short to hold a nonce and a tag",
            OpenError::WrongKey => {
                "the certificate key does not open it (another key sealed it, or it was changed)"
            }
        })
    }
}

impl std::error::Error for OpenError {}

impl CertificateKey {
    /// Parses 64 hex digits (either case).
    pub fn parse(hex: &str) -> Result<Self> {
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!(
                "the certificate key is not hexadecimal: a certificate key is 64 hex digits (`kubestrap certs certificate-key` prints one)"
            );
        }
        if !hex.len().is_multiple_of(2) {
            bail!(
                "the certificate key has {} hex digits, not 64: a certificate key is 64 hex digits (`kubestrap certs certificate-key` prints one)",
                hex.len()
            );
        }
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_default())
            .collect();
        if bytes.len() != 32 {
            bail!(
                "the key is {} bytes; a certificate key is an AES-256 key of 32 bytes (64 hex digits; `kubestrap certs certificate-key` prints one)",
                bytes.len()
            );
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| anyhow!("the certificate key was refused by AES-256-GCM"))?;
        Ok(CertificateKey(LessSafeKey::new(key)))
    }

    /// Seals `plain` under a fresh random nonce.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| anyhow!("the system random source failed"))?;
        let mut sealed = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .map_err(|_| anyhow!("AES-256-GCM failed to seal {} bytes", plain.len()))?;
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        Ok(out)
    }

    /// Opens what [`CertificateKey::seal`] (or kubeadm) sealed.
    pub fn open(&self, sealed: &[u8]) -> std::result::Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(OpenError::Truncated);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Truncated)?;
        let mut buf = rest.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::empty(), &mut buf)
            .map_err(|_| OpenError::WrongKey)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "5b3a2a1c7c2e5b0f8d1e6c4a9f0b3d2e1a7c6b5d4e3f2a1b0c9d8e7f6a5b4c3d";

    #[test]
    fn sealed_entries_open_with_the_same_key_only() {
        let key = CertificateKey::parse(KEY).unwrap();
        let plain = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let sealed = key.seal(plain).unwrap();
        assert_eq!(sealed.len(), 12 + plain.len() + 16);
        assert_eq!(key.open(&sealed).unwrap(), plain);
        // A fresh nonce each time.
        assert_ne!(key.seal(plain).unwrap(), sealed);

        let other = CertificateKey::parse(&"ab".repeat(32)).unwrap();
        assert_eq!(other.open(&sealed), Err(OpenError::WrongKey));
        let mut changed = sealed.clone();
        changed[20] ^= 1;
        assert_eq!(key.open(&changed), Err(OpenError::WrongKey));
    }

    #[test]
    fn truncated_values_are_told_apart_from_a_wrong_key() {
        let key = CertificateKey::parse(KEY).unwrap();
        let sealed = key.seal(b"x").unwrap();
        assert_eq!(key.open(&sealed[..27]), Err(OpenError::Truncated));
        assert_eq!(key.open(&[]), Err(OpenError::Truncated));
        // Nonce and tag alone: an empty plaintext sealed.
        assert_eq!(key.open(&key.seal(b"").unwrap()).unwrap(), b"");
    }

    #[test]
    fn keys_are_64_hex_digits() {
        assert!(CertificateKey::parse(&KEY.to_uppercase()).is_ok());
        let err = CertificateKey::parse("zz").unwrap_err().to_string();
        assert!(err.contains("not hexadecimal"), "{err}");
        let err = CertificateKey::parse("abcd").unwrap_err().to_string();
        assert!(err.contains("the key is 2 bytes"), "{err}");
        // A wrong length is said as such, odd or even.
        let err = CertificateKey::parse(&KEY[..63]).unwrap_err().to_string();
        assert!(err.contains("has 63 hex digits, not 64"), "{err}");
        assert!(!err.contains("not hexadecimal"), "{err}");
        assert!(!format!("{:?}", CertificateKey::parse(KEY).unwrap()).contains("5b3a"));
    }
}
