//! The CRI client against its own wire format and a fake runtime over real HTTP/2.

use super::wire::*;
use super::*;

fn string_field(number: u8, s: &str) -> Vec<u8> {
    let mut v = vec![number << 3 | 2, s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

/// A Container message: its id, metadata name (attempt 0) and state (exited or running).
fn container(id: &str, name: &str, exited: bool) -> Vec<u8> {
    let mut c = string_field(1, id);
    c.extend(length_delimited(3, &string_field(1, name)));
    c.extend_from_slice(&[6 << 3, if exited { 2 } else { 1 }]);
    c
}

/// The kubelet removes an exited container between the listing and the look at its exit code:
/// it is left out, not an error.
#[test]
fn a_container_removed_after_the_listing_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("cri.sock");
    let runtime = FakeRuntime {
        containers: vec![
            ("old", "kube-apiserver", true),
            ("gone", "etcd", true),
            ("new", "kube-apiserver", false),
        ],
        status_not_found: vec!["gone"],
        ..FakeRuntime::default()
    };
    let server = spawn_v1alpha2_server(&socket, runtime);
    let found = containers(&socket, Duration::from_secs(10)).unwrap();
    let seen = server.join().unwrap();
    assert_eq!(
        seen,
        [
            "ListContainers",
            "ListContainers",
            "ContainerStatus old",
            "ContainerStatus gone"
        ]
    );
    let found: Vec<(&str, &str, Option<i32>)> = found
        .iter()
        .map(|c| (c.id.as_str(), c.state, c.exit_code))
        .collect();
    assert_eq!(
        found,
        [
            ("old", "CONTAINER_EXITED", Some(1)),
            ("new", "CONTAINER_RUNNING", None)
        ]
    );
}

#[test]
fn decodes_containers_and_exit_codes() {
    let mut meta = string_field(1, "kube-controller-manager");
    meta.extend_from_slice(&[2 << 3, 3]);
    let mut label = string_field(1, "io.kubernetes.pod.name");
    label.extend(string_field(2, "kube-controller-manager-node1"));
    let mut c = string_field(1, "abc");
    c.extend_from_slice(&[3 << 3 | 2, meta.len() as u8]);
    c.extend(meta);
    c.extend_from_slice(&[6 << 3, 2]);
    c.extend_from_slice(&[8 << 3 | 2, label.len() as u8]);
    c.extend(label);
    let mut list = vec![1 << 3 | 2, c.len() as u8];
    list.extend(c);
    let got = decode_containers(&Bytes::from(list)).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].id.as_str(), got[0].name.as_str()),
        ("abc", "kube-controller-manager")
    );
    assert_eq!((got[0].attempt, got[0].state), (3, "CONTAINER_EXITED"));
    assert_eq!(got[0].pod, "kube-controller-manager-node1");
    let mut status = vec![7 << 3, 1];
    status.extend(string_field(11, "Error"));
    let mut resp = vec![1 << 3 | 2, status.len() as u8];
    resp.extend(status);
    assert_eq!(
        decode_exit(&Bytes::from(resp)).unwrap(),
        (1, "Error".to_string())
    );
}

#[test]
fn decodes_version_and_status() {
    let mut body = string_field(1, "0.1.0");
    body.extend(string_field(2, "containerd"));
    body.extend(string_field(3, "1.6.20"));
    body.extend(string_field(4, "v1"));
    let v = decode_version(&Bytes::from(body)).unwrap();
    assert_eq!(
        (v.runtime_name.as_str(), v.runtime_version.as_str()),
        ("containerd", "1.6.20")
    );

    let mut cond = string_field(1, "RuntimeReady");
    cond.extend([2 << 3, 1]);
    let mut status = vec![1 << 3 | 2, cond.len() as u8];
    status.extend(cond);
    let mut body = vec![1 << 3 | 2, status.len() as u8];
    body.extend(status);
    let c = decode_status(&Bytes::from(body)).unwrap();
    assert_eq!(c.len(), 1);
    assert!(c[0].status && c[0].kind == "RuntimeReady");
}

#[test]
fn decodes_grpc_messages() {
    assert_eq!(
        percent_decode("unknown service runtime.v1.RuntimeService%20x"),
        "unknown service runtime.v1.RuntimeService x"
    );
}

/// A `PodSandbox { id = 1; metadata = 2 { name = 1; uid = 2; namespace = 3 } }`.
fn pod_sandbox(id: &str, name: &str, namespace: &str) -> Vec<u8> {
    let mut meta = string_field(1, name);
    meta.extend(string_field(2, "uid"));
    meta.extend(string_field(3, namespace));
    let mut sandbox = string_field(1, id);
    sandbox.extend(length_delimited(2, &meta));
    sandbox.extend([3 << 3, 1]);
    sandbox
}

/// The sandboxes the fake runtime starts with.
const SANDBOXES: [(&str, &str, &str); 2] =
    [("a", "etcd-node1", "kube-system"), ("b", "web", "default")];

/// A sandbox (id, pod, namespace) of the fake runtime.
type FakeSandbox = (&'static str, &'static str, &'static str);

/// What the fake runtime holds and how it misbehaves.
#[derive(Clone)]
struct FakeRuntime {
    /// Its sandboxes; a removed one leaves the list.
    sandboxes: Vec<FakeSandbox>,
    /// `StopPodSandbox` of these answers NotFound.
    stop_not_found: Vec<&'static str>,
    /// `RemovePodSandbox` of this id fails this many times (a container still starting), then
    /// works.
    remove_fails: Option<(&'static str, usize)>,
    /// A sandbox listed from the second listing on (made by a call a stopped kubelet left in
    /// flight).
    appears_later: Option<FakeSandbox>,
    /// Removed sandboxes stay listed (a kubelet still running makes them again).
    respawns: bool,
    /// Its containers: id, name and whether it exited.
    containers: Vec<(&'static str, &'static str, bool)>,
    /// `ContainerStatus` of these answers NotFound (removed since the listing).
    status_not_found: Vec<&'static str>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        FakeRuntime {
            sandboxes: SANDBOXES.to_vec(),
            stop_not_found: Vec::new(),
            remove_fails: None,
            appears_later: None,
            respawns: false,
            containers: Vec::new(),
            status_not_found: Vec::new(),
        }
    }
}

/// A CRI server that only knows v1alpha2, as containerd before 1.6 did, holding `runtime`.
/// Returns the calls it answered, as "Method" or "Method id" with the id decoded from the
/// request.
async fn serve_v1alpha2(
    listener: tokio::net::UnixListener,
    mut runtime: FakeRuntime,
) -> Vec<String> {
    let mut calls = Vec::new();
    let mut listings = 0;
    let known: Vec<FakeSandbox> = runtime
        .sandboxes
        .iter()
        .copied()
        .chain(runtime.appears_later)
        .collect();
    let (stream, _) = listener.accept().await.unwrap();
    let mut conn = h2::server::handshake(stream).await.unwrap();
    while let Some(Ok((request, mut respond))) = conn.accept().await {
        let path = request.uri().path().to_string();
        let method = path.rsplit('/').next().unwrap().to_string();
        let mut request_body = request.into_body();
        let mut framed = BytesMut::new();
        while let Some(chunk) = request_body.data().await {
            framed.extend_from_slice(&chunk.unwrap());
        }
        let container_id = if method == "ContainerStatus" {
            let message = framed.clone().freeze().slice(5..);
            let [(1, Field::Bytes(id))] = &fields(message).unwrap()[..] else {
                panic!("{method}: the request is not {{ container_id = 1 }}");
            };
            Some(text(id).unwrap())
        } else {
            None
        };
        let sandbox_id = if method.ends_with("PodSandbox") && method != "ListPodSandbox" {
            let message = framed.freeze().slice(5..);
            let [(1, Field::Bytes(id))] = &fields(message).unwrap()[..] else {
                panic!("{method}: the request is not {{ pod_sandbox_id = 1 }}");
            };
            let id = text(id).unwrap();
            assert!(known.iter().any(|s| s.0 == id), "{method} {id}");
            calls.push(format!("{method} {id}"));
            Some(id)
        } else {
            calls.push(match &container_id {
                Some(id) => format!("{method} {id}"),
                None => method.clone(),
            });
            None
        };
        let id = sandbox_id.as_deref().unwrap_or_default();
        let mut headers = http::HeaderMap::new();
        let body = if !path.starts_with("/runtime.v1alpha2.") {
            headers.insert("grpc-status", "12".parse().unwrap());
            headers.insert(
                "grpc-message",
                "unknown%20service%20runtime.v1.RuntimeService"
                    .parse()
                    .unwrap(),
            );
            None
        } else if container_id
            .as_deref()
            .is_some_and(|c| runtime.status_not_found.contains(&c))
            || (method == "StopPodSandbox" && runtime.stop_not_found.contains(&id))
        {
            headers.insert("grpc-status", "5".parse().unwrap());
            None
        } else if method == "RemovePodSandbox"
            && let Some((failing, times)) = &mut runtime.remove_fails
            && *failing == id
            && *times > 0
        {
            *times -= 1;
            headers.insert("grpc-status", "2".parse().unwrap());
            headers.insert(
                "grpc-message",
                "container%20is%20in%20starting%20state".parse().unwrap(),
            );
            None
        } else {
            headers.insert("grpc-status", "0".parse().unwrap());
            let mut msg = Vec::new();
            match method.as_str() {
                "Version" => {
                    msg.extend(string_field(2, "containerd"));
                    msg.extend(string_field(3, "1.5.9"));
                }
                "ListPodSandbox" => {
                    listings += 1;
                    if listings == 2
                        && let Some(late) = runtime.appears_later
                    {
                        runtime.sandboxes.push(late);
                    }
                    for (id, name, namespace) in &runtime.sandboxes {
                        msg.extend(length_delimited(1, &pod_sandbox(id, name, namespace)));
                    }
                }
                "ListContainers" => {
                    for (id, name, exited) in &runtime.containers {
                        let c = container(id, name, *exited);
                        msg.extend(length_delimited(1, &c));
                    }
                }
                "ContainerStatus" => {
                    // ContainerStatus { exit_code = 7, reason = 11 }: exit code 1, "Error".
                    let mut status = vec![7 << 3, 1];
                    status.extend(string_field(11, "Error"));
                    msg.extend(length_delimited(1, &status));
                }
                // Stop- and RemovePodSandboxResponse are empty.
                "StopPodSandbox" => {}
                "RemovePodSandbox" if !runtime.respawns => runtime.sandboxes.retain(|s| s.0 != id),
                "RemovePodSandbox" => {}
                _ => {
                    let mut cond = string_field(1, "RuntimeReady");
                    cond.extend(string_field(3, "Broken"));
                    let status = [vec![1 << 3 | 2, cond.len() as u8], cond].concat();
                    msg.extend([1 << 3 | 2, status.len() as u8]);
                    msg.extend(status);
                }
            }
            let mut framed = vec![0];
            framed.extend((msg.len() as u32).to_be_bytes());
            framed.extend(msg);
            Some(framed)
        };
        let response = http::Response::builder()
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        let mut send = respond.send_response(response, false).unwrap();
        if let Some(body) = body {
            send.send_data(Bytes::from(body), false).unwrap();
        }
        send.send_trailers(headers).unwrap();
    }
    calls
}

/// A v1alpha2-only runtime on `socket`, served from its own thread; joining it gives the
/// calls it answered.
fn spawn_v1alpha2_server(
    socket: &Path,
    runtime: FakeRuntime,
) -> std::thread::JoinHandle<Vec<String>> {
    let std_listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    std_listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::UnixListener::from_std(std_listener).unwrap();
            serve_v1alpha2(listener, runtime).await
        })
    })
}

/// Removes the fake's sandboxes, listing again for `window`; returns what the call returned and
/// the calls the fake saw.
fn remove_from_fake(
    runtime: FakeRuntime,
    window: Duration,
) -> (Result<Vec<Sandbox>, CallError>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("cri.sock");
    let server = spawn_v1alpha2_server(&socket, runtime);
    let removed = block_on(
        Duration::from_secs(30),
        remove_pod_sandboxes_async(&socket, window, Duration::from_millis(100)),
    );
    (removed, server.join().unwrap())
}

/// The ids of `removed`, in the order they went.
fn ids(removed: &[Sandbox]) -> Vec<&str> {
    removed.iter().map(|s| s.id.as_str()).collect()
}

/// A listing: v1 first (unimplemented), then v1alpha2.
const LISTING: [&str; 2] = ["ListPodSandbox", "ListPodSandbox"];

fn calls(rounds: &[&[&str]]) -> Vec<String> {
    rounds
        .iter()
        .flat_map(|round| LISTING.iter().chain(round.iter()))
        .map(|c| c.to_string())
        .collect()
}

const BOTH: &[&str] = &[
    "StopPodSandbox a",
    "RemovePodSandbox a",
    "StopPodSandbox b",
    "RemovePodSandbox b",
];

#[test]
fn stops_then_removes_each_sandbox_in_turn_until_none_is_listed() {
    // The public call, with its own window and pause.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("cri.sock");
    let server = spawn_v1alpha2_server(&socket, FakeRuntime::default());
    let removed = remove_pod_sandboxes(&socket, Duration::from_secs(10), true).unwrap();
    let seen = server.join().unwrap();
    assert_eq!(seen, calls(&[BOTH, &[]]));
    let expected: Vec<Sandbox> = SANDBOXES
        .iter()
        .map(|(id, name, namespace)| Sandbox {
            id: id.to_string(),
            name: name.to_string(),
            namespace: namespace.to_string(),
        })
        .collect();
    assert_eq!(removed, expected);
}

#[test]
fn a_sandbox_gone_before_its_stop_is_still_removed() {
    let runtime = FakeRuntime {
        stop_not_found: vec!["a"],
        ..FakeRuntime::default()
    };
    let (removed, seen) = remove_from_fake(runtime, Duration::from_secs(10));
    assert_eq!(seen, calls(&[BOTH, &[]]));
    assert_eq!(ids(&removed.unwrap()), ["a", "b"]);
}

/// containerd refuses to remove a container the kubelet was starting when it was stopped; the
/// other sandboxes still go, and that one goes in the next round.
#[test]
fn a_sandbox_whose_removal_fails_is_tried_again_after_the_others() {
    let runtime = FakeRuntime {
        remove_fails: Some(("a", 1)),
        ..FakeRuntime::default()
    };
    let (removed, seen) = remove_from_fake(runtime, Duration::from_secs(10));
    assert_eq!(
        seen,
        calls(&[BOTH, &["StopPodSandbox a", "RemovePodSandbox a"], &[]])
    );
    assert_eq!(ids(&removed.unwrap()), ["b", "a"]);
}

#[test]
fn a_sandbox_listed_only_after_the_first_round_is_removed_too() {
    let runtime = FakeRuntime {
        appears_later: Some(("c", "etcd-node1", "kube-system")),
        ..FakeRuntime::default()
    };
    let (removed, seen) = remove_from_fake(runtime, Duration::from_secs(10));
    assert_eq!(
        seen,
        calls(&[BOTH, &["StopPodSandbox c", "RemovePodSandbox c"], &[]])
    );
    assert_eq!(ids(&removed.unwrap()), ["a", "b", "c"]);
}

#[test]
fn a_removal_that_keeps_failing_is_the_error_once_the_window_is_over() {
    let runtime = FakeRuntime {
        remove_fails: Some(("a", usize::MAX)),
        ..FakeRuntime::default()
    };
    let (removed, seen) = remove_from_fake(runtime, Duration::from_millis(500));
    match removed {
        Err(CallError::Status { code: 2, message }) => {
            assert!(message.contains("starting state"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // b went in the first round; a was tried in every round.
    assert_eq!(
        seen.iter().filter(|c| *c == "RemovePodSandbox b").count(),
        1
    );
    assert!(
        seen.iter().filter(|c| *c == "RemovePodSandbox a").count() >= 2,
        "{seen:?}"
    );
}

#[test]
fn decodes_pod_sandboxes() {
    let mut body = length_delimited(1, &pod_sandbox("f00d", "coredns-1", "kube-system"));
    body.extend(length_delimited(1, &pod_sandbox("beef", "web", "default")));
    let got = decode_sandboxes(&Bytes::from(body)).unwrap();
    assert_eq!(
        got,
        [
            Sandbox {
                id: "f00d".into(),
                name: "coredns-1".into(),
                namespace: "kube-system".into(),
            },
            Sandbox {
                id: "beef".into(),
                name: "web".into(),
                namespace: "default".into(),
            },
        ]
    );
}

#[test]
fn falls_back_to_v1alpha2_over_a_real_http2_connection() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("cri.sock");
    let server = spawn_v1alpha2_server(&socket, FakeRuntime::default());
    let found = probe(&socket, Duration::from_secs(10)).unwrap();
    assert_eq!(found.version.api, "runtime.v1alpha2");
    assert_eq!(found.version.runtime_version, "1.5.9");
    assert_eq!(found.conditions.len(), 1);
    assert!(!found.conditions[0].status);
    assert_eq!(found.conditions[0].reason, "Broken");
    server.join().unwrap();
}

#[test]
fn image_calls_fall_back_to_v1alpha2() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("cri.sock");
    let server = spawn_v1alpha2_server(&socket, FakeRuntime::default());
    // The fake answers every v1alpha2 call with a non-empty field 1: an image is there.
    assert_eq!(
        image_present(
            &socket,
            "registry.k8s.io/pause:3.10",
            Duration::from_secs(10)
        ),
        Ok(true)
    );
    server.join().unwrap();
}

#[test]
fn encodes_image_requests() {
    let spec = length_delimited(1, b"pause:3.10");
    assert_eq!(spec[..2], [0x0a, 10]);
    let long = "r".repeat(200);
    let field = length_delimited(1, long.as_bytes());
    assert_eq!(field[..3], [0x0a, 0xc8, 0x01]);
}

#[test]
fn a_missing_socket_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = probe(&dir.path().join("none.sock"), Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, CallError::Connect(_)), "{err:?}");
}

/// A runtime that answers the first call with a message of `declared` bytes and then streams
/// bytes as fast as the client takes them, up to 64 MiB; returns how many it got out.
fn spawn_endless_server(socket: &Path, declared: u32) -> std::thread::JoinHandle<usize> {
    let std_listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    std_listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::UnixListener::from_std(std_listener).unwrap();
            let serve = async {
                let (stream, _) = listener.accept().await.unwrap();
                let mut conn = h2::server::handshake(stream).await.unwrap();
                let Some(Ok((_, mut respond))) = conn.accept().await else {
                    return 0;
                };
                tokio::spawn(async move { while conn.accept().await.is_some() {} });
                let response = http::Response::builder()
                    .header("content-type", "application/grpc")
                    .body(())
                    .unwrap();
                let mut send = respond.send_response(response, false).unwrap();
                let mut header = vec![0];
                header.extend(declared.to_be_bytes());
                send.send_data(Bytes::from(header), false).unwrap();
                let chunk = Bytes::from(vec![0x0a; 64 << 10]);
                let mut sent = 0;
                while sent < 64 << 20 {
                    send.reserve_capacity(chunk.len());
                    match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                        Some(Ok(0)) => continue,
                        Some(Ok(n)) => {
                            let n = n.min(chunk.len());
                            if send.send_data(chunk.slice(..n), false).is_err() {
                                break;
                            }
                            sent += n;
                        }
                        _ => break,
                    }
                }
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", "0".parse().unwrap());
                let _ = send.send_trailers(trailers);
                sent
            };
            tokio::time::timeout(Duration::from_secs(30), serve)
                .await
                .unwrap_or(0)
        })
    })
}

#[test]
fn an_endless_answer_of_the_runtime_is_cut_at_16_mib() {
    // A message said to be small that goes on, then one said to be larger than the limit.
    for (declared, most) in [(8 << 20, 20 << 20), (u32::MAX, 2 << 20)] {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("cri.sock");
        let server = spawn_endless_server(&socket, declared);
        let err = probe(&socket, Duration::from_secs(20)).unwrap_err();
        let sent = server.join().unwrap();
        assert!(
            err.to_string().contains("larger than 16 MiB"),
            "{declared}: {err}"
        );
        assert!(sent < most, "{declared}: the runtime sent {sent} bytes");
    }
}

/// With a kubelet no one stopped, the runtime is never empty: removal ends with the window and
/// says what it removed (reset then reports what is left).
#[test]
fn removal_ends_with_its_window_when_the_sandboxes_keep_coming_back() {
    let runtime = FakeRuntime {
        respawns: true,
        ..FakeRuntime::default()
    };
    let (removed, seen) = remove_from_fake(runtime, Duration::from_millis(500));
    assert_eq!(ids(&removed.unwrap()), ["a", "b"]);
    assert!(
        seen.iter().filter(|c| *c == "RemovePodSandbox a").count() >= 2,
        "{seen:?}"
    );
}
