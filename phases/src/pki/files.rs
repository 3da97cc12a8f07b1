//! Certificate and key files under the root: `<dir>/<base>.crt` and `<dir>/<base>.key`.

use anyhow::{Context as _, Result, bail};

use super::cert::{Authority, Certificate};
use super::key::PrivateKey;
use crate::fs::root::Root;

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

/// Writes a key and its certificate signing request `<dir>/<base>.csr`, both 0600 as kubeadm
/// writes them.
pub fn write_csr(
    root: &Root,
    cert_dir: &str,
    base: &str,
    csr_pem: &str,
    key: &PrivateKey,
) -> Result<()> {
    let (_, key_path) = pair_paths(cert_dir, base);
    root.write_secret(&key_path, key.pem().as_bytes())?;
    root.write_secret(format!("{cert_dir}/{base}.csr"), csr_pem.as_bytes())
}
