//! Keys and certificates: generation, signing, PEM files, loading and checking existing ones.
//!
//! Keys are written the way kubeadm writes them (`RSA PRIVATE KEY` PKCS#1, `EC PRIVATE KEY` SEC1,
//! `PUBLIC KEY` PKIX) and certificates are built from a [`CertRequest`] that the `certs` and
//! `kubeconfig` phases fill per Kubernetes version.

mod cert;
mod files;
mod hash;
mod key;
mod pool;
mod sealed;
mod subject;

pub use cert::{
    AltNames, Authority, CertRequest, Certificate, Usage, certificate_request, rfc3339, sign,
};
pub use files::{load_ca, pair_paths, read_cert, read_key, write_csr, write_pair};
pub use hash::{ca_cert_hashes, discovery_hash, sha256_hex};
pub use key::{KeyAlgorithm, PrivateKey, certificate_key};
pub use pool::{new_key, prefetch_keys};
pub use sealed::{CertificateKey, OpenError};

#[cfg(test)]
mod tests {
    use super::key::pkcs8_inner_key;
    use super::*;
    use std::time::{Duration, SystemTime};

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
    fn several_organizations_are_all_in_the_subject_and_the_signature_holds() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048] {
            let ca_key = PrivateKey::generate(alg).unwrap();
            let mut ca_req = request("kubernetes", true);
            ca_req.organizations = vec!["a".into(), "b".into()];
            let ca = sign(&ca_req, &ca_key, None).unwrap();
            assert_eq!(ca.organizations, ["a", "b"]);
            assert!(
                ca.is_signed_by(&ca),
                "{alg:?}: self-signed, issuer = subject"
            );
            let mut req = request("jane", false);
            req.organizations = vec!["dev".into(), "ops".into(), "on call: 24/7".into()];
            let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
            let leaf = sign(&req, &key, Some((&ca, &ca_key))).unwrap();
            assert_eq!(leaf.organizations, ["dev", "ops", "on call: 24/7"]);
            assert_eq!(leaf.common_name, "jane");
            assert!(leaf.is_signed_by(&ca), "{alg:?}");
            assert!(leaf.matches_key(&key));
            assert_eq!(leaf.dns_names, ["a", "b"]);
            let err = certificate_request(&req, &key).unwrap_err().to_string();
            assert!(err.contains("more than one organization"), "{err}");
        }
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
