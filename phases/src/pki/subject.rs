//! Subjects with several organizations (`kubeconfig user --org a --org b`: a user in several
//! groups). rcgen keeps one value per attribute type (rustls/rcgen#81), so such a certificate is
//! built by rcgen with its first organization and then given the full subject: its
//! to-be-signed part is re-encoded with the new name and signed again with the same key and
//! algorithm. The subject is written as OpenSSL's `-subj /O=a/O=b/CN=c` writes it, one
//! attribute per RDN; Go (the API server) reads every `O` as a group either way.

use anyhow::{Context as _, Result, anyhow};
use rcgen::SigningKey as _;
use yasna::models::ObjectIdentifier;

use super::key::PrivateKey;

const ORGANIZATION: &[u64] = &[2, 5, 4, 10];
const COMMON_NAME: &[u64] = &[2, 5, 4, 3];
/// Positions in TBSCertificate (RFC 5280 §4.1; rcgen always writes the version).
const ISSUER: usize = 3;
const SUBJECT: usize = 5;

/// The DER Name `O=org…, CN=common_name`, with each value as a PrintableString when it fits
/// and a UTF8String otherwise (as rcgen writes the single-organization subjects).
pub fn encode_name(organizations: &[String], common_name: &str) -> Vec<u8> {
    let attribute = |w: yasna::DERWriter, oid: &[u64], value: &str| {
        w.write_set(|w| {
            w.next().write_sequence(|w| {
                w.next().write_oid(&ObjectIdentifier::from_slice(oid));
                if rcgen::string::PrintableString::try_from(value).is_ok() {
                    w.next().write_printable_string(value);
                } else {
                    w.next().write_utf8_string(value);
                }
            })
        })
    };
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for org in organizations {
                attribute(w.next(), ORGANIZATION, org);
            }
            attribute(w.next(), COMMON_NAME, common_name);
        })
    })
}

/// `cert_der` with its subject replaced by `name` (and its issuer too when `self_signed`),
/// signed again by `signer`, the key that signed it.
pub fn with_subject(
    cert_der: &[u8],
    name: &[u8],
    self_signed: bool,
    signer: &PrivateKey,
) -> Result<Vec<u8>> {
    let malformed = |e: yasna::ASN1Error| anyhow!("the certificate's DER does not parse: {e}");
    let (tbs, algorithm) = yasna::parse_der(cert_der, |r| {
        r.read_sequence(|r| {
            let tbs = r.next().read_der()?;
            let algorithm = r.next().read_der()?;
            r.next().read_bitvec_bytes()?;
            Ok((tbs, algorithm))
        })
    })
    .map_err(malformed)?;
    let mut fields = Vec::new();
    yasna::parse_der(&tbs, |r| {
        r.read_sequence_of(|r| {
            fields.push(r.read_der()?);
            Ok(())
        })
    })
    .map_err(malformed)?;
    if fields.len() <= SUBJECT {
        return Err(anyhow!(
            "the certificate has {} fields where a subject is expected",
            fields.len()
        ));
    }
    fields[SUBJECT] = name.to_vec();
    if self_signed {
        fields[ISSUER] = name.to_vec();
    }
    let tbs = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for field in &fields {
                w.next().write_der(field);
            }
        })
    });
    let signature = signer
        .pair
        .sign(&tbs)
        .context("failed to sign the certificate with its new subject")?;
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&tbs);
            w.next().write_der(&algorithm);
            w.next().write_bitvec_bytes(&signature, signature.len() * 8);
        })
    }))
}
