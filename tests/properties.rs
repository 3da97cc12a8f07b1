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

/// What a duration is made of: digits (runs long enough to overflow), fractions, units, signs.
fn duration_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[0-9]{1,4}",
        1 => "[0-9]{15,25}",
        2 => prop::sample::select(vec!["h", "m", "s", "ms", "us", "µs", "ns", ".", "-", "+", "d", " ", "e3", "0"]).prop_map(str::to_string),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

#[test]
fn durations_parse_as_go_does_within_its_range() {
    use kubestrap_phases::config::duration;
    let units: [(&str, u128); 6] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    let sums = prop::collection::vec((0u64..=u64::MAX, 0usize..6), 1..4);
    proptest!(config(), |(text in duration_text(), parts in sums)| {
        if let Ok(d) = quick("duration::parse", || duration::parse(&text)) {
            prop_assert!(d.as_nanos() <= i64::MAX as u128, "{text}: {d:?}");
        }
        // Whole numbers of units: accepted exactly when the sum fits in Go's int64.
        let text: String = parts.iter().map(|(n, u)| format!("{n}{}", units[*u].0)).collect();
        let sum: u128 = parts.iter().map(|(n, u)| u128::from(*n) * units[*u].1).sum();
        match duration::parse(&text) {
            Ok(d) => prop_assert_eq!(d.as_nanos(), sum),
            Err(e) => {
                prop_assert!(sum > i64::MAX as u128, "{text}: {e}");
                prop_assert!(e.to_string().contains("longer than 2562047h47m16.854775807s"));
            }
        }
    });
}

/// Every duration field of a configuration, and the time sums made with them: no panic.
#[test]
fn duration_fields_never_panic() {
    use kubestrap_phases::config::duration;
    use kubestrap_phases::phases::bootstrap::token::expiry;
    let now = std::time::SystemTime::now();
    proptest!(config(), |(d in duration_text())| {
        let text = format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- ttl: {d:?}\ntimeouts:\n  discovery: {d:?}\n  kubeletHealthCheck: {d:?}\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificateValidityPeriod: {d:?}\ncaCertificateValidityPeriod: {d:?}\n---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nsyncFrequency: {d:?}\n"
        );
        let (docs, problems) = quick("config::parse", || kubestrap_phases::config::parse(&text, "f.yaml"));
        if problems.is_empty() {
            let _ = kubestrap_phases::config::check(&docs);
        }
        if let Ok(length) = duration::parse(&d) {
            let _ = duration::later(now, length);
            let expires = expiry(now, length);
            prop_assert!(length.is_zero() == matches!(expires, Ok(None)), "{d}: {expires:?}");
        }
    });
}

/// Addresses and paths of the command line: any mix gives an answer (never a panic), and
/// nothing is written outside the root.
#[test]
fn addresses_and_paths_never_panic_or_write_outside_the_root() {
    let address = prop_oneof![
        prop::sample::select(vec![
            "10.0.0.1",
            "10.0.0.300",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "[fd00::1]:6443",
            "CP.Example.com:6443",
            "cp.example.com:70000",
            "",
            "0.0.0.0",
            "fe80::1%eth0",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z0-9.:\\[\\]%/-]{0,24}",
    ];
    let path = prop_oneof![
        prop::sample::select(vec![
            "/etc/kubernetes/pki",
            "/etc/kubernetes/../pki",
            "pki",
            "/",
            "//x",
            "/x/./y",
            "/../../tmp/x",
            "",
            "/proc/self/root",
        ])
        .prop_map(str::to_string),
        "(/[a-z.]{0,6}){0,4}",
    ];
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&cwd).unwrap();
    let cases = Config {
        cases: config().cases.min(24),
        ..config()
    };
    proptest!(cases, |(advertise in address.clone(), endpoint in address, cert_dir in path)| {
    let flags = [
                format!("--apiserver-advertise-address={advertise}"),
                format!("--control-plane-endpoint={endpoint}"),
                format!("--cert-dir={cert_dir}"),
            ];
            let mut args = vec!["init", "phase", "certs", "sa", "--root", root.to_str().unwrap(), "--node-name", "n1"];
            args.extend(flags.iter().map(String::as_str));
            let out = crate::support::kubestrap_bounded(&cwd, &args);
            prop_assert!(matches!(out.status.code(), Some(0 | 1 | 3)), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
            let mut beside: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            beside.sort();
            prop_assert_eq!(beside, vec!["cwd".to_string(), "root".to_string()]);
            prop_assert!(tree(&cwd).is_empty());
        });
}
