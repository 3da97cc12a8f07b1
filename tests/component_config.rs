//! KubeletConfiguration and KubeProxyConfiguration documents: a wrong apiVersion, an unknown
//! field or a value of the wrong type is refused with file:line:column before anything is
//! written; a correct document reaches the kubelet's `config.yaml` and kube-proxy's ConfigMap.

use std::sync::Arc;

use kubestrap_phases::config;
use kubestrap_phases::fs::root::Root;
use kubestrap_phases::phases::addons;
use kubestrap_phases::runner::context::{Context, Options};
use kubestrap_phases::runner::report::RecordingReporter;

use crate::manifests::{host, physical, resolve, run};
use crate::support::{kubestrap, text, tree};

const HEAD: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.25.0\n---\n";
const KUBELET: &str = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n";
const PROXY: &str = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n";

/// `config validate` and `init` on a file of the kubeadm head and `doc`: both refuse it with
/// `says` (after the file name), and init writes nothing.
fn refused(doc: &str, says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kubeadm.yaml");
    std::fs::write(&file, format!("{HEAD}{doc}")).unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let f = file.to_str().unwrap();
    let expected = format!("{f}:{says}");
    let out = kubestrap(&["config", "validate", "--config", f]);
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&expected),
        "missing {expected:?} in:\n{stderr}"
    );
    let out = kubestrap(&["init", "--config", f, "--root", root.to_str().unwrap()]);
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&expected),
        "missing {expected:?} in:\n{stderr}"
    );
    assert_eq!(tree(&root), Vec::<String>::new(), "{doc}");
}

#[test]
fn a_wrong_api_version_is_refused_with_the_right_one() {
    refused(
        "apiVersion: kubelet.config.k8s.io/v1\nkind: KubeletConfiguration\nmaxPods: 10\n",
        "5:1: `apiVersion` kubelet.config.k8s.io/v1 is not an API version of KubeletConfiguration: write `apiVersion: kubelet.config.k8s.io/v1beta1`",
    );
    refused(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: KubeProxyConfiguration\n",
        "5:1: `apiVersion` kubeadm.k8s.io/v1beta4 is not an API version of KubeProxyConfiguration: write `apiVersion: kubeproxy.config.k8s.io/v1alpha1`",
    );
}

#[test]
fn an_unknown_field_is_refused_with_the_nearest_name() {
    refused(
        &format!("{KUBELET}cgroupDriver: systemd\ncgroupsPerQos: true\n"),
        "8:1: unknown field `cgroupsPerQos` in KubeletConfiguration; did you mean `cgroupsPerQOS`?",
    );
    refused(
        &format!("{PROXY}conntrack:\n  maxPerCor: 0\n"),
        "8:3: unknown field `conntrack.maxPerCor` in KubeProxyConfiguration; did you mean `conntrack.maxPerCore`?",
    );
}

#[test]
fn a_value_of_the_wrong_type_is_refused_with_what_was_expected() {
    let cases = [
        (
            format!("{KUBELET}maxPods: lots\n"),
            "7:1: `maxPods` in KubeletConfiguration: expected an integer (int32), found the string \"lots\"",
        ),
        (
            format!("{KUBELET}failSwapOn: no\n"),
            "7:1: `failSwapOn` in KubeletConfiguration: expected true or false, found the string \"no\"; YAML 1.1's yes/no/on/off are strings here: write true or false",
        ),
        (
            format!("{KUBELET}syncFrequency: 60\n"),
            "7:1: `syncFrequency` in KubeletConfiguration: expected a duration such as 90s, 5m or 1h30m, found the number 60; write it with a unit, e.g. 90s",
        ),
        (
            format!("{KUBELET}syncFrequency: 1 minute\n"),
            "7:1: `syncFrequency` in KubeletConfiguration: invalid duration \"1 minute\"",
        ),
        (
            format!("{KUBELET}clusterDNS: 10.96.0.10\n"),
            "7:1: `clusterDNS` in KubeletConfiguration: expected a list, each item a string, found the string \"10.96.0.10\"",
        ),
        (
            format!("{KUBELET}evictionHard:\n- memory.available<100Mi\n"),
            "7:1: `evictionHard` in KubeletConfiguration: expected a mapping, each value a string, found a list",
        ),
        (
            format!("{KUBELET}featureGates:\n  RotateKubeletServerCertificate: \"true\"\n"),
            "8:3: `featureGates` in KubeletConfiguration: the value of `RotateKubeletServerCertificate` expected true or false, found the string \"true\"; remove the quotes",
        ),
        (
            format!("{KUBELET}authentication:\n  webhook:\n    cacheTTL: 2\n"),
            "9:5: `authentication.webhook.cacheTTL` in KubeletConfiguration: expected a duration",
        ),
        (
            format!("{KUBELET}authentication: Webhook\n"),
            "7:1: `authentication` in KubeletConfiguration: expected a mapping with the fields anonymous, webhook, x509, found the string \"Webhook\"",
        ),
        (
            format!("{KUBELET}registerWithTaints:\n- key: a\n  effect: 1\n"),
            "9:3: `registerWithTaints[0].effect` in KubeletConfiguration: expected a string, found the number 1; quote it to make it a string",
        ),
        (
            format!("{PROXY}clientConnection:\n  qps: fast\n"),
            "8:3: `clientConnection.qps` in KubeProxyConfiguration: expected a number, found the string \"fast\"",
        ),
        (
            format!("{PROXY}iptables: true\n"),
            "7:1: `iptables` in KubeProxyConfiguration: expected a mapping with the fields",
        ),
    ];
    for (doc, says) in cases {
        refused(&doc, says);
    }
}

#[test]
fn every_problem_of_a_component_document_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kubeadm.yaml");
    std::fs::write(
        &file,
        format!("{HEAD}{KUBELET}maxPods: lots\nportt: 1\n---\n{PROXY}mode: 3\n"),
    )
    .unwrap();
    let out = kubestrap(&["config", "validate", "--config", file.to_str().unwrap()]);
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("invalid configuration (3 problems):"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains(":8:1: unknown field `portt` in KubeletConfiguration; did you mean `port`?"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            ":12:1: `mode` in KubeProxyConfiguration: expected a string, found the number 3"
        ),
        "{stderr}"
    );
}

const FULL_KUBELET: &str = "\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
maxPods: 90
failSwapOn: false
podPidsLimit: 4096
syncFrequency: 45s
serializeImagePulls: false
clusterDNS:
- 10.96.0.10
evictionHard:
  memory.available: 200Mi
  nodefs.available: 10%
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
    cacheTTL: 3m0s
authorization:
  mode: Webhook
featureGates:
  RotateKubeletServerCertificate: true
systemReserved:
  cpu: 100m
";

/// The documents of a file: parsed, checked, resolved as init resolves them.
fn resolved(text: &str, base: &std::path::Path) -> config::Config {
    let (mut docs, problems) = config::parse(text, "kubeadm.yaml");
    assert_eq!(problems, Vec::<String>::new());
    docs.init.node_registration.name = Some("node1".into());
    docs.init.node_registration.cri_socket =
        Some("unix:///var/run/containerd/containerd.sock".into());
    resolve(docs, base)
}

/// Every field of `given` is in `written` with the same value.
fn within(given: &serde_yaml::Value, written: &serde_yaml::Value) -> bool {
    match given.as_mapping() {
        Some(map) => map.iter().all(|(k, v)| within(v, &written[k])),
        None => given == written,
    }
}

#[test]
fn a_correct_document_is_accepted_and_reaches_the_component() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let proxy = format!(
        "{PROXY}mode: ipvs\nipvs:\n  scheduler: rr\n  strictARP: true\nconntrack:\n  maxPerCore: 0\n  tcpEstablishedTimeout: 0s\n"
    );
    let cfg = resolved(&format!("{HEAD}{FULL_KUBELET}---\n{proxy}"), &root);
    assert_eq!(cfg.warnings, Vec::<String>::new());
    run(cfg.clone(), &root);
    let written = std::fs::read_to_string(physical(&root, "/var/lib/kubelet/config.yaml")).unwrap();
    let written: serde_yaml::Value = serde_yaml::from_str(&written).unwrap();
    let given: serde_yaml::Value = serde_yaml::from_str(FULL_KUBELET).unwrap();
    // Merged over kubeadm's defaults: everything given is there, with kubeadm's other settings.
    assert!(within(&given, &written), "{written:#?}");
    assert!(written["authentication"]["x509"]["clientCAFile"].is_string());
    let ctx = Context::new(
        cfg,
        Root::new(&root),
        Box::new(host()),
        Box::new(Arc::new(RecordingReporter::default())),
        Options::default(),
    );
    let proxy_config = addons::kube_proxy_config(&ctx).unwrap();
    for line in [
        "mode: ipvs",
        "  scheduler: rr",
        "  strictARP: true",
        "  tcpEstablishedTimeout: 0s",
    ] {
        assert!(proxy_config.contains(line), "{line} in {proxy_config}");
    }
}

#[test]
fn fields_the_target_version_lacks_are_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.20.2\n---\n";
    let cfg = resolved(
        &format!(
            "{doc}{KUBELET}containerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n"
        ),
        tmp.path(),
    );
    assert_eq!(
        cfg.warnings,
        [
            "`containerRuntimeEndpoint` in the KubeletConfiguration is newer than Kubernetes v1.20: the v1.20 kubelet does not have it and ignores it"
        ]
    );
    let cfg = resolved(&format!("{HEAD}{PROXY}udpIdleTimeout: 250ms\n"), tmp.path());
    assert_eq!(
        cfg.warnings,
        [
            "`udpIdleTimeout` in the KubeProxyConfiguration is a Kubernetes v1.20 field that later versions removed: the v1.25.0 kube-proxy may ignore it"
        ]
    );
}

/// The committed table's generator, on Go types this test owns: fields, nested structs, lists of
/// structs, maps, named types, comments and `json:"-"`, and which version has which field.
#[test]
fn the_table_generator_reads_go_types() {
    crate::support::require_binary("python3", "python3");
    const OLD: &str = "
type KubeletConfiguration struct {
\tmetav1.TypeMeta `json:\",inline\"`
\t// maxPods is documented `json:\"notAField\"`
\tMaxPods int32 `json:\"maxPods,omitempty\"`
\tAuthentication Auth `json:\"authentication\"`
\tTaints []v1.Taint `json:\"registerWithTaints,omitempty\"`
\tFeatureGates map[string]bool `json:\"featureGates,omitempty\"`
\tOld string `json:\"oldField\"`
}
type Auth struct {
\tCacheTTL metav1.Duration `json:\"cacheTTL\"`
}
type Taint struct {
\tKey string `json:\"key\"`
}
type KubeProxyConfiguration struct {
\tMode ProxyMode `json:\"mode\"`
\tInternal string `json:\"-\"`
}
type ProxyMode string
";
    let new = OLD.replace(
        "Old string `json:\"oldField\"`",
        "New *float64 `json:\"newField\"`",
    );
    let dir = tempfile::tempdir().unwrap();
    let (old_go, new_go) = (dir.path().join("old.go"), dir.path().join("new.go"));
    std::fs::write(&old_go, OLD).unwrap();
    std::fs::write(&new_go, new).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("phases/data/component-fields.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg("--note=where the types came from")
        .arg(format!("v1.20={}", old_go.display()))
        .arg(format!("latest={}", new_go.display()))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("\n# where the types came from\n"),
        "{stdout}"
    );
    let rows: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        rows,
        [
            "KubeProxyConfiguration\tmode\tstring\tv1.20,latest",
            "KubeletConfiguration\tauthentication\tstruct\tv1.20,latest",
            "KubeletConfiguration\tauthentication.cacheTTL\tduration\tv1.20,latest",
            "KubeletConfiguration\tfeatureGates\tmap<bool>\tv1.20,latest",
            "KubeletConfiguration\tmaxPods\tint32\tv1.20,latest",
            "KubeletConfiguration\tnewField\tfloat\tlatest",
            "KubeletConfiguration\toldField\tstring\tv1.20",
            "KubeletConfiguration\tregisterWithTaints\tlist<struct>\tv1.20,latest",
            "KubeletConfiguration\tregisterWithTaints[].key\tstring\tv1.20,latest",
        ]
    );
}
