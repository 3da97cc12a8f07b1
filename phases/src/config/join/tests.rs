use super::*;

#[test]
fn pins_parse_as_kubeadm_checks_them() {
    let hex = "a".repeat(64);
    assert_eq!(
        parse_pin(&format!("SHA256:{}", hex.to_uppercase())).unwrap(),
        format!("sha256:{hex}")
    );
    for (bad, says) in [
        (hex.clone(), "expected \"format:value\""),
        (format!("md5:{hex}"), "unknown hash format"),
        ("sha256:abcd".into(), "found 4 hex digits"),
        ("sha256:abc".into(), "found 3 hex digits"),
        (format!("sha256:{}", "g".repeat(64)), "not hexadecimal"),
    ] {
        let err = parse_pin(&bad).unwrap_err().to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn endpoints_are_host_and_port() {
    for good in ["10.0.0.1:6443", "cp.example.com:443", "[fd00::1]:6443"] {
        assert!(check_endpoint(good).is_ok(), "{good}");
    }
    for bad in [
        "10.0.0.1",
        "10.0.0.1:0",
        "10.0.0.1:99999",
        "fd00::1:6443",
        "bad_host:6443",
        ":6443",
    ] {
        assert!(check_endpoint(bad).is_err(), "{bad}");
    }
}
