//! Property tests: random and mutated configuration files, tokens, CA hashes, kubeconfigs and
//! PEM files given to the loaders never panic, answer well within a second, and leave the root
//! they read from as it was. A fixed seed and 64 cases per property in `cargo test`;
//! `KUBESTRAP_PROPTEST_CASES=N` runs more.

use std::path::Path;
use std::time::{Duration, Instant};

use kubestrap_phases::api::http::Credentials;
use kubestrap_phases::api::kubeconfig::Kubeconfig;
use kubestrap_phases::config::join::parse_pin;
use kubestrap_phases::config::token_format::Token;
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::pki::{Certificate, PrivateKey};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use crate::support::tree;

fn config() -> Config {
    let cases = std::env::var("KUBESTRAP_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x6b75_6265_7374_7261),
        failure_persistence: None,
        ..Config::default()
    }
}

/// What an input is made of: YAML's and PEM's punctuation, letters, digits, and any character.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            ":", " ", "  ", "\n", "- ", "[", "]", "{", "}", "\"", "'", "#", "\t", "&a", "*a", "!!str",
            "|", ">", "---\n", "...", ",", "-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n",
            "apiVersion: ", "kind: ", "sha256:", ".", "0", "abcdef", "\u{feff}", "~", "null",
        ])
        .prop_map(str::to_string),
        2 => "[a-z0-9]{1,8}",
        1 => any::<char>().prop_map(String::from),
    ]
}

/// A sample with random edits: pieces inserted, ranges removed, lines repeated.
fn mutated(samples: Vec<String>) -> impl Strategy<Value = String> {
    let edits = prop::collection::vec(
        (any::<prop::sample::Index>(), 0u8..3, piece(), 0usize..40),
        1..8,
    );
    (prop::sample::select(samples), edits).prop_map(|(text, edits)| {
        let mut text = text;
        for (at, kind, piece, len) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            match kind {
                0 => text.insert_str(i, &piece),
                1 => {
                    let mut end = (i + len).min(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.replace_range(i..end, "");
                }
                _ => {
                    let line = text[i..].lines().next().unwrap_or_default().to_string();
                    text.insert_str(i, &format!("{line}\n"));
                }
            }
        }
        text
    })
}

fn random_text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..60).prop_map(|p| p.concat())
}

fn fixtures(dir: &str, ext: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no .{ext} files in {}", dir.display());
    out
}

/// Runs a loader and fails when it takes a second or more (a bound far above what any of them
/// needs on these small inputs, even on a busy machine).
fn quick<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "{what} took {took:?}");
    out
}

/// A kubeconfig, a CA certificate and a key as kubestrap writes them.
fn pki_samples() -> (String, String, String) {
    use kubestrap_phases::pki::{self, AltNames, CertRequest, KeyAlgorithm};
    let key = pki::new_key(KeyAlgorithm::EcdsaP256).unwrap();
    let now = std::time::SystemTime::now();
    let req = CertRequest {
        common_name: "kubernetes".into(),
        organizations: Vec::new(),
        alt_names: AltNames::default(),
        usages: Vec::new(),
        is_ca: true,
        leaf_basic_constraints: false,
        not_before: now,
        not_after: now + Duration::from_secs(3600),
    };
    let ca = pki::sign(&req, &key, None).unwrap();
    let kubeconfig = Kubeconfig::with_client_cert(
        "kubernetes",
        "https://10.0.0.1:6443",
        &ca.pem(),
        "admin",
        &ca.pem(),
        key.pem(),
    )
    .to_yaml()
    .unwrap();
    (kubeconfig, ca.pem(), key.pem().to_string())
}

#[test]
fn configuration_files_never_panic_or_hang() {
    let samples = fixtures("fixtures/config", "yaml");
    let inputs = prop_oneof![3 => mutated(samples), 1 => random_text()];
    proptest!(config(), |(text in inputs)| {
        let _ = quick("config::parse", || kubestrap_phases::config::parse(&text, "f.yaml"));
    });
}

#[test]
fn tokens_and_ca_hashes_never_panic_or_hang() {
    let samples = vec![
        "abcdef.0123456789abcdef".to_string(),
        "sha256:7f0c3e9a2b1d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6".to_string(),
    ];
    let inputs = prop_oneof![mutated(samples), random_text()];
    proptest!(config(), |(text in inputs)| {
        let token = quick("Token::parse", || Token::parse(&text));
        if let Ok(t) = token {
            prop_assert_eq!(format!("{}.{}", t.id, t.secret), text.clone());
        }
        let _ = quick("parse_pin", || parse_pin(&text));
    });
}

#[test]
fn kubeconfigs_and_pem_files_never_panic_or_hang_and_nothing_is_written() {
    let (kubeconfig, cert, key) = pki_samples();
    let inputs = prop_oneof![3 => mutated(vec![kubeconfig, cert, key]), 1 => random_text()];
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    proptest!(config(), |(text in inputs)| {
        let _ = quick("Kubeconfig::parse", || Kubeconfig::parse(&text));
        let _ = quick("Credentials::parse_text", || Credentials::parse_text(&root, &text));
        let _ = quick("Certificate::from_pem", || Certificate::from_pem(&text));
        let _ = quick("PrivateKey::from_pem", || PrivateKey::from_pem(&text));
        prop_assert!(tree(dir.path()).is_empty());
    });
}
