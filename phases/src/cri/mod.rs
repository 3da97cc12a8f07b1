//! A small CRI client: `RuntimeService/Version` and `Status`, containers, pod sandboxes,
//! `ImageService/ImageStatus` and `PullImage`, over gRPC on a unix socket.
//!
//! The messages are tiny, so they are encoded and decoded by hand (protobuf wire format) rather
//! than generated; HTTP/2 comes from `h2` on a current-thread tokio runtime.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use bytes::{Buf, Bytes, BytesMut};

/// The CRI API versions tried, newest first.
pub const APIS: [&str; 2] = ["runtime.v1", "runtime.v1alpha2"];

/// gRPC status `UNIMPLEMENTED`: the service or method is unknown to the server.
pub const UNIMPLEMENTED: u32 = 12;

/// gRPC status `NOT_FOUND`.
const NOT_FOUND: u32 = 5;

/// What `Version` answered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Version {
    /// The CRI API package that answered (`runtime.v1` or `runtime.v1alpha2`).
    pub api: String,
    pub runtime_name: String,
    pub runtime_version: String,
    pub runtime_api_version: String,
}

/// One `RuntimeCondition` of `Status`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Condition {
    pub kind: String,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Nothing answered on the socket (missing, refused, not a socket).
    Connect(String),
    /// The server answered with a gRPC error status.
    Status { code: u32, message: String },
    /// The call did not finish in time.
    Timeout,
    /// Anything else (protocol errors).
    Other(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Connect(e) => write!(f, "{e}"),
            CallError::Status { code, message } => {
                write!(f, "rpc error: code = {} desc = {message}", code_name(*code))
            }
            CallError::Timeout => write!(f, "no answer within the timeout"),
            CallError::Other(e) => write!(f, "{e}"),
        }
    }
}

fn code_name(code: u32) -> String {
    match code {
        2 => "Unknown".into(),
        4 => "DeadlineExceeded".into(),
        5 => "NotFound".into(),
        12 => "Unimplemented".into(),
        13 => "Internal".into(),
        14 => "Unavailable".into(),
        c => c.to_string(),
    }
}

/// The answers of one runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub version: Version,
    pub conditions: Vec<Condition>,
}

/// Asks the runtime on `socket` for its version and status, v1 first and v1alpha2 when v1 is
/// unimplemented; each call is bounded by `timeout`.
pub fn probe(socket: &Path, timeout: Duration) -> Result<Probe, CallError> {
    block_on(timeout, probe_async(socket))
}

/// Runs `fut` on a current-thread runtime, bounded by `timeout`.
fn block_on<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, CallError>>,
) -> Result<T, CallError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| CallError::Other(format!("failed to start the CRI client: {e}")))?;
    rt.block_on(async {
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Timeout),
        }
    })
}

/// An HTTP/2 connection to the runtime; its driver runs on the current runtime.
async fn connect(socket: &Path) -> Result<h2::client::SendRequest<Bytes>, CallError> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| CallError::Connect(format!("dial unix {}: {e}", socket.display())))?;
    let (client, conn) = h2::client::handshake(stream)
        .await
        .map_err(|e| CallError::Other(format!("HTTP/2 handshake failed: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Whether the runtime holds `image` (`ImageService/ImageStatus`, v1 then v1alpha2).
pub fn image_present(socket: &Path, image: &str, timeout: Duration) -> Result<bool, CallError> {
    let body = block_on(timeout, image_call(socket, "ImageStatus", image))?;
    // `ImageStatusResponse { Image image = 1 }`: no image, no field.
    let fields = fields(body).map_err(|e| CallError::Other(format!("{e:#}")))?;
    Ok(fields
        .iter()
        .any(|(n, f)| *n == 1 && matches!(f, Field::Bytes(b) if !b.is_empty())))
}

/// Pulls `image` (`ImageService/PullImage`, v1 then v1alpha2); returns the runtime's image reference.
pub fn pull_image(socket: &Path, image: &str, timeout: Duration) -> Result<String, CallError> {
    let body = block_on(timeout, image_call(socket, "PullImage", image))?;
    // `PullImageResponse { string image_ref = 1 }`.
    for (number, field) in fields(body).map_err(|e| CallError::Other(format!("{e:#}")))? {
        if let (1, Field::Bytes(b)) = (number, field) {
            return text(&b).map_err(|e| CallError::Other(format!("{e:#}")));
        }
    }
    Ok(String::new())
}

/// `ImageStatusRequest` and `PullImageRequest` both start with `ImageSpec image = 1 { string image = 1 }`.
async fn image_call(socket: &Path, method: &str, image: &str) -> Result<Bytes, CallError> {
    let client = connect(socket).await?;
    let spec = length_delimited(1, image.as_bytes());
    let request = length_delimited(1, &spec);
    let (_, body) = call_newest(&client, &format!("ImageService/{method}"), &request).await?;
    Ok(body)
}

/// Calls `/{api}.{method}` with each of `APIS` until one is implemented; returns that API and
/// its answer, so later calls can stay on the same API.
async fn call_newest(
    client: &h2::client::SendRequest<Bytes>,
    method: &str,
    message: &[u8],
) -> Result<(&'static str, Bytes), CallError> {
    let mut first_err = None;
    for api in APIS {
        match call(client.clone(), &format!("/{api}.{method}"), message).await {
            Ok(body) => return Ok((api, body)),
            Err(CallError::Status { code, message }) if code == UNIMPLEMENTED => {
                first_err.get_or_insert(CallError::Status { code, message });
            }
            Err(e) => return Err(e),
        }
    }
    Err(first_err.unwrap_or_else(|| CallError::Other("no CRI API answered".into())))
}

/// A protobuf length-delimited field.
fn length_delimited(number: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 6);
    put_varint(&mut out, (number << 3) | 2);
    put_varint(&mut out, bytes.len() as u64);
    out.extend_from_slice(bytes);
    out
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

async fn probe_async(socket: &Path) -> Result<Probe, CallError> {
    let client = connect(socket).await?;
    let (api, body) = call_newest(&client, "RuntimeService/Version", &[]).await?;
    let mut version = decode_version(&body).map_err(|e| CallError::Other(format!("{e:#}")))?;
    version.api = api.to_string();
    // StatusRequest { verbose: false } is the empty message.
    let status = call(client, &format!("/{api}.RuntimeService/Status"), &[]).await?;
    let conditions = decode_status(&status).map_err(|e| CallError::Other(format!("{e:#}")))?;
    Ok(Probe {
        version,
        conditions,
    })
}

/// One unary gRPC call; returns the response message bytes.
async fn call(
    client: h2::client::SendRequest<Bytes>,
    path: &str,
    message: &[u8],
) -> Result<Bytes, CallError> {
    let other = |e: h2::Error| CallError::Other(format!("gRPC call {path} failed: {e}"));
    let mut client = client.ready().await.map_err(other)?;
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .map_err(|e| CallError::Other(e.to_string()))?;
    let (response, mut send) = client.send_request(request, false).map_err(other)?;
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.extend_from_slice(&[0]);
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    send.send_data(frame.freeze(), true).map_err(other)?;
    let response = response.await.map_err(other)?;
    // A trailers-only answer carries the status in the headers.
    if let Some(err) = grpc_error(response.headers()) {
        return Err(err);
    }
    let mut body = response.into_body();
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(other)?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    if let Some(trailers) = body.trailers().await.map_err(other)?
        && let Some(err) = grpc_error(&trailers)
    {
        return Err(err);
    }
    let mut data = data.freeze();
    if data.len() < 5 {
        return Err(CallError::Other(format!("gRPC call {path}: empty answer")));
    }
    data.advance(1);
    let len = data.get_u32() as usize;
    if data.len() < len {
        return Err(CallError::Other(format!(
            "gRPC call {path}: truncated answer"
        )));
    }
    Ok(data.slice(..len))
}

fn grpc_error(headers: &http::HeaderMap) -> Option<CallError> {
    let code: u32 = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    if code == 0 {
        return None;
    }
    let message = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    Some(CallError::Status { code, message })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The fields of a protobuf message: (field number, value) where value is varint or bytes.
enum Field {
    Varint(u64),
    Bytes(Bytes),
}

fn fields(mut buf: Bytes) -> Result<Vec<(u64, Field)>> {
    let mut out = Vec::new();
    while buf.has_remaining() {
        let key = varint(&mut buf)?;
        let number = key >> 3;
        match key & 7 {
            0 => out.push((number, Field::Varint(varint(&mut buf)?))),
            2 => {
                let len = varint(&mut buf)? as usize;
                if buf.remaining() < len {
                    bail!("truncated protobuf field {number}");
                }
                out.push((number, Field::Bytes(buf.split_to(len))));
            }
            1 => {
                if buf.remaining() < 8 {
                    bail!("truncated protobuf field {number}");
                }
                buf.advance(8);
            }
            5 => {
                if buf.remaining() < 4 {
                    bail!("truncated protobuf field {number}");
                }
                buf.advance(4);
            }
            t => bail!("unsupported protobuf wire type {t}"),
        }
    }
    Ok(out)
}

fn varint(buf: &mut Bytes) -> Result<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        if !buf.has_remaining() {
            break;
        }
        let b = buf.get_u8();
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(anyhow!("bad protobuf varint"))
}

fn text(bytes: &Bytes) -> Result<String> {
    String::from_utf8(bytes.to_vec()).context("protobuf string is not UTF-8")
}

/// `VersionResponse { version = 1; runtime_name = 2; runtime_version = 3; runtime_api_version = 4 }`.
fn decode_version(body: &Bytes) -> Result<Version> {
    let mut v = Version::default();
    for (number, field) in fields(body.clone())? {
        if let Field::Bytes(b) = field {
            match number {
                2 => v.runtime_name = text(&b)?,
                3 => v.runtime_version = text(&b)?,
                4 => v.runtime_api_version = text(&b)?,
                _ => {}
            }
        }
    }
    Ok(v)
}

/// `StatusResponse { RuntimeStatus status = 1 }`, `RuntimeStatus { repeated RuntimeCondition conditions = 1 }`,
/// `RuntimeCondition { type = 1; bool status = 2; reason = 3; message = 4 }`.
fn decode_status(body: &Bytes) -> Result<Vec<Condition>> {
    let mut out = Vec::new();
    for (number, field) in fields(body.clone())? {
        let (1, Field::Bytes(status)) = (number, field) else {
            continue;
        };
        for (number, field) in fields(status)? {
            let (1, Field::Bytes(cond)) = (number, field) else {
                continue;
            };
            let mut c = Condition::default();
            for (number, field) in fields(cond)? {
                match (number, field) {
                    (1, Field::Bytes(b)) => c.kind = text(&b)?,
                    (2, Field::Varint(v)) => c.status = v != 0,
                    (3, Field::Bytes(b)) => c.reason = text(&b)?,
                    (4, Field::Bytes(b)) => c.message = text(&b)?,
                    _ => {}
                }
            }
            out.push(c);
        }
    }
    Ok(out)
}

/// A container as `ListContainers` and `ContainerStatus` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Container {
    pub id: String,
    /// `metadata.name`: the container's name in its pod.
    pub name: String,
    /// `metadata.attempt`: how often the kubelet restarted it.
    pub attempt: u64,
    /// `CONTAINER_CREATED`, `CONTAINER_RUNNING`, `CONTAINER_EXITED` or `CONTAINER_UNKNOWN`.
    pub state: &'static str,
    /// The pod (`io.kubernetes.pod.name` label) and its namespace.
    pub pod: String,
    pub namespace: String,
    /// Exit code and reason of an exited container.
    pub exit_code: Option<i32>,
    pub reason: String,
}

/// Every container of the runtime on `socket`, with the exit code of those that exited
/// (`ListContainers`, then `ContainerStatus` per exited container); bounded by `timeout`.
pub fn containers(socket: &Path, timeout: Duration) -> Result<Vec<Container>, CallError> {
    block_on(timeout, containers_async(socket))
}

async fn containers_async(socket: &Path) -> Result<Vec<Container>, CallError> {
    let client = connect(socket).await?;
    let bad = |e: anyhow::Error| CallError::Other(format!("{e:#}"));
    // ListContainersRequest {} lists every container.
    let (api, body) = call_newest(&client, "RuntimeService/ListContainers", &[]).await?;
    let mut list = decode_containers(&body).map_err(bad)?;
    for c in list.iter_mut().filter(|c| c.state == "CONTAINER_EXITED") {
        // ContainerStatusRequest { container_id = 1 }.
        let status = call(
            client.clone(),
            &format!("/{api}.RuntimeService/ContainerStatus"),
            &length_delimited(1, c.id.as_bytes()),
        )
        .await?;
        let (code, reason) = decode_exit(&status).map_err(bad)?;
        c.exit_code = Some(code);
        c.reason = reason;
    }
    Ok(list)
}

const STATES: [&str; 4] = [
    "CONTAINER_CREATED",
    "CONTAINER_RUNNING",
    "CONTAINER_EXITED",
    "CONTAINER_UNKNOWN",
];

/// `ListContainersResponse { repeated Container containers = 1 }`, `Container { id = 1;
/// ContainerMetadata metadata = 3; ContainerState state = 6; map<string,string> labels = 8 }`,
/// `ContainerMetadata { name = 1; uint32 attempt = 2 }`.
fn decode_containers(body: &Bytes) -> Result<Vec<Container>> {
    let mut out = Vec::new();
    for (number, field) in fields(body.clone())? {
        let (1, Field::Bytes(msg)) = (number, field) else {
            continue;
        };
        let mut c = Container {
            state: STATES[3],
            ..Container::default()
        };
        for (number, field) in fields(msg)? {
            match (number, field) {
                (1, Field::Bytes(b)) => c.id = text(&b)?,
                (3, Field::Bytes(meta)) => {
                    for (n, f) in fields(meta)? {
                        match (n, f) {
                            (1, Field::Bytes(b)) => c.name = text(&b)?,
                            (2, Field::Varint(v)) => c.attempt = v,
                            _ => {}
                        }
                    }
                }
                (6, Field::Varint(v)) => c.state = STATES[(v as usize).min(3)],
                (8, Field::Bytes(entry)) => {
                    let (mut key, mut value) = (String::new(), String::new());
                    for (n, f) in fields(entry)? {
                        match (n, f) {
                            (1, Field::Bytes(b)) => key = text(&b)?,
                            (2, Field::Bytes(b)) => value = text(&b)?,
                            _ => {}
                        }
                    }
                    match key.as_str() {
                        "io.kubernetes.pod.name" => c.pod = value,
                        "io.kubernetes.pod.namespace" => c.namespace = value,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        out.push(c);
    }
    Ok(out)
}

/// `ContainerStatusResponse { ContainerStatus status = 1 }`, `ContainerStatus { int32 exit_code = 7;
/// string reason = 11 }`.
fn decode_exit(body: &Bytes) -> Result<(i32, String)> {
    let (mut code, mut reason) = (0, String::new());
    for (number, field) in fields(body.clone())? {
        let (1, Field::Bytes(status)) = (number, field) else {
            continue;
        };
        for (n, f) in fields(status)? {
            match (n, f) {
                (7, Field::Varint(v)) => code = v as i32,
                (11, Field::Bytes(b)) => reason = text(&b)?,
                _ => {}
            }
        }
    }
    Ok((code, reason))
}

/// A pod sandbox as `ListPodSandbox` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sandbox {
    pub id: String,
    /// `metadata.name` and `metadata.namespace`: the pod.
    pub name: String,
    pub namespace: String,
}

/// Stops and removes every pod sandbox the runtime has (kubeadm reset's "remove Kubernetes-managed containers"): returns the sandboxes removed.
///
/// Like kubeadm, each sandbox is stopped and then removed before the next one; the whole call
/// is bounded by `timeout`.
pub fn remove_pod_sandboxes(socket: &Path, timeout: Duration) -> Result<Vec<Sandbox>, CallError> {
    block_on(timeout, remove_pod_sandboxes_async(socket))
}

async fn remove_pod_sandboxes_async(socket: &Path) -> Result<Vec<Sandbox>, CallError> {
    let client = connect(socket).await?;
    // ListPodSandboxRequest {} lists every sandbox.
    let (api, body) = call_newest(&client, "RuntimeService/ListPodSandbox", &[]).await?;
    let sandboxes = decode_sandboxes(&body).map_err(|e| CallError::Other(format!("{e:#}")))?;
    for sandbox in &sandboxes {
        // Stop- and RemovePodSandboxRequest { pod_sandbox_id = 1 }.
        let request = length_delimited(1, sandbox.id.as_bytes());
        for method in ["StopPodSandbox", "RemovePodSandbox"] {
            let path = format!("/{api}.RuntimeService/{method}");
            match call(client.clone(), &path, &request).await {
                // Gone since it was listed (the kubelet may still be running): nothing to do.
                Ok(_)
                | Err(CallError::Status {
                    code: NOT_FOUND, ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(sandboxes)
}

/// `ListPodSandboxResponse { repeated PodSandbox items = 1 }`, `PodSandbox { id = 1;
/// PodSandboxMetadata metadata = 2 }`, `PodSandboxMetadata { name = 1; uid = 2; namespace = 3 }`.
fn decode_sandboxes(body: &Bytes) -> Result<Vec<Sandbox>> {
    let mut out = Vec::new();
    for (number, field) in fields(body.clone())? {
        let (1, Field::Bytes(msg)) = (number, field) else {
            continue;
        };
        let mut sandbox = Sandbox::default();
        for (number, field) in fields(msg)? {
            match (number, field) {
                (1, Field::Bytes(b)) => sandbox.id = text(&b)?,
                (2, Field::Bytes(meta)) => {
                    for (n, f) in fields(meta)? {
                        match (n, f) {
                            (1, Field::Bytes(b)) => sandbox.name = text(&b)?,
                            (3, Field::Bytes(b)) => sandbox.namespace = text(&b)?,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        out.push(sandbox);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_field(number: u8, s: &str) -> Vec<u8> {
        let mut v = vec![number << 3 | 2, s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
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

    /// The sandboxes the fake runtime lists.
    const SANDBOXES: [(&str, &str, &str); 2] =
        [("a", "etcd-node1", "kube-system"), ("b", "web", "default")];

    /// A CRI server that only knows v1alpha2, as containerd before 1.6 did. `StopPodSandbox` of
    /// the ids in `stop_not_found` answers NotFound. Returns the calls it answered, as
    /// "Method" or "Method id" with the id decoded from the request.
    async fn serve_v1alpha2(
        listener: tokio::net::UnixListener,
        stop_not_found: &[&str],
    ) -> Vec<String> {
        let mut calls = Vec::new();
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
            let sandbox_id = if method.ends_with("PodSandbox") && method != "ListPodSandbox" {
                let message = framed.freeze().slice(5..);
                let [(1, Field::Bytes(id))] = &fields(message).unwrap()[..] else {
                    panic!("{method}: the request is not {{ pod_sandbox_id = 1 }}");
                };
                let id = text(id).unwrap();
                assert!(SANDBOXES.iter().any(|s| s.0 == id), "{method} {id}");
                calls.push(format!("{method} {id}"));
                Some(id)
            } else {
                calls.push(method.clone());
                None
            };
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
            } else if method == "StopPodSandbox"
                && stop_not_found.contains(&sandbox_id.as_deref().unwrap())
            {
                headers.insert("grpc-status", "5".parse().unwrap());
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
                        for (id, name, namespace) in SANDBOXES {
                            msg.extend(length_delimited(1, &pod_sandbox(id, name, namespace)));
                        }
                    }
                    // Stop- and RemovePodSandboxResponse are empty.
                    "StopPodSandbox" | "RemovePodSandbox" => {}
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
        stop_not_found: &'static [&'static str],
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
                serve_v1alpha2(listener, stop_not_found).await
            })
        })
    }

    /// Removes the fake's sandboxes; returns what the call returned and the calls the fake saw.
    fn remove_from_fake(stop_not_found: &'static [&'static str]) -> (Vec<Sandbox>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("cri.sock");
        let server = spawn_v1alpha2_server(&socket, stop_not_found);
        let removed = remove_pod_sandboxes(&socket, Duration::from_secs(10)).unwrap();
        (removed, server.join().unwrap())
    }

    const REMOVAL_CALLS: [&str; 6] = [
        "ListPodSandbox",
        "ListPodSandbox",
        "StopPodSandbox a",
        "RemovePodSandbox a",
        "StopPodSandbox b",
        "RemovePodSandbox b",
    ];

    #[test]
    fn stops_then_removes_each_sandbox_in_turn() {
        let (removed, calls) = remove_from_fake(&[]);
        // v1 first (unimplemented), then v1alpha2 for every call.
        assert_eq!(calls, REMOVAL_CALLS);
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
        let (removed, calls) = remove_from_fake(&["a"]);
        assert_eq!(calls, REMOVAL_CALLS);
        assert_eq!(removed.len(), 2);
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
        let server = spawn_v1alpha2_server(&socket, &[]);
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
        let server = spawn_v1alpha2_server(&socket, &[]);
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
}
