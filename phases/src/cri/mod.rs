//! A small CRI client: `RuntimeService/Version` and `Status`, containers, pod sandboxes,
//! `ImageService/ImageStatus` and `PullImage`, over gRPC on a unix socket.
//!
//! The messages are tiny, so they are encoded and decoded by hand (protobuf wire format) rather
//! than generated; HTTP/2 comes from `h2` on a current-thread tokio runtime.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use bytes::{Buf, Bytes, BytesMut};

mod wire;
use wire::{
    Field, decode_containers, decode_exit, decode_sandboxes, decode_status, decode_version, fields,
    length_delimited, text,
};

/// The CRI API versions tried, newest first.
pub const APIS: [&str; 2] = ["runtime.v1", "runtime.v1alpha2"];

/// gRPC status `UNIMPLEMENTED`: the service or method is unknown to the server.
pub const UNIMPLEMENTED: u32 = 12;

/// gRPC status `NOT_FOUND`.
const NOT_FOUND: u32 = 5;

/// The largest answer read from the runtime: the kubelet's CRI client allows 16 MiB, enough for
/// the container list of a full node.
pub const MAX_MESSAGE: usize = 16 << 20;

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
pub struct RuntimeStatus {
    pub version: Version,
    pub conditions: Vec<Condition>,
}

/// Asks the runtime on `socket` for its version and status, v1 first and v1alpha2 when v1 is
/// unimplemented; each call is bounded by `timeout`.
pub fn probe(socket: &Path, timeout: Duration) -> Result<RuntimeStatus, CallError> {
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

async fn probe_async(socket: &Path) -> Result<RuntimeStatus, CallError> {
    let client = connect(socket).await?;
    let (api, body) = call_newest(&client, "RuntimeService/Version", &[]).await?;
    let mut version = decode_version(&body).map_err(|e| CallError::Other(format!("{e:#}")))?;
    version.api = api.to_string();
    // StatusRequest { verbose: false } is the empty message.
    let status = call(client, &format!("/{api}.RuntimeService/Status"), &[]).await?;
    let conditions = decode_status(&status).map_err(|e| CallError::Other(format!("{e:#}")))?;
    Ok(RuntimeStatus {
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
    let too_large = || {
        CallError::Other(format!(
            "gRPC call {path}: the container runtime's answer is larger than {}, the most kubestrap reads: not read further",
            crate::fs::bounded::show_size(MAX_MESSAGE as u64)
        ))
    };
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(other)?;
        let _ = body.flow_control().release_capacity(chunk.len());
        // Checked as it streams: the 5-byte frame header, then at most MAX_MESSAGE bytes.
        if data.len() + chunk.len() > 5 + MAX_MESSAGE {
            return Err(too_large());
        }
        data.extend_from_slice(&chunk);
        if data.len() >= 5
            && u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize > MAX_MESSAGE
        {
            return Err(too_large());
        }
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
    /// The pod's UID (`io.kubernetes.pod.uid`): a static pod's is the hash of its manifest.
    pub pod_uid: String,
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
    let mut gone = Vec::new();
    for c in list.iter_mut().filter(|c| c.state == "CONTAINER_EXITED") {
        // ContainerStatusRequest { container_id = 1 }.
        let status = call(
            client.clone(),
            &format!("/{api}.RuntimeService/ContainerStatus"),
            &length_delimited(1, c.id.as_bytes()),
        )
        .await;
        match status {
            Ok(status) => {
                let (code, reason) = decode_exit(&status).map_err(bad)?;
                c.exit_code = Some(code);
                c.reason = reason;
            }
            // Removed since it was listed (the kubelet collects exited containers): not there.
            Err(CallError::Status {
                code: NOT_FOUND, ..
            }) => gone.push(c.id.clone()),
            Err(e) => return Err(e),
        }
    }
    list.retain(|c| !gone.contains(&c.id));
    Ok(list)
}

/// A pod sandbox as `ListPodSandbox` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sandbox {
    pub id: String,
    /// `metadata.name` and `metadata.namespace`: the pod.
    pub name: String,
    pub namespace: String,
}

/// Every pod sandbox of the runtime on `socket` (`ListPodSandbox`), bounded by `timeout`.
pub fn sandboxes(socket: &Path, timeout: Duration) -> Result<Vec<Sandbox>, CallError> {
    block_on(timeout, async {
        let client = connect(socket).await?;
        let (_, body) = call_newest(&client, "RuntimeService/ListPodSandbox", &[]).await?;
        decode_sandboxes(&body).map_err(|e| CallError::Other(format!("{e:#}")))
    })
}

/// How long removal waits before it lists the sandboxes again: a kubelet stopped a moment ago
/// may have left a call in flight that containerd still completes (a container it was starting
/// cannot be removed until it runs; a sandbox it was making appears after the first listing).
const REMOVAL_PAUSE: Duration = Duration::from_millis(500);

/// How long removal goes on listing and removing again. Beyond it, what is left is a kubelet
/// still running (one no service manager stopped), which reset reports instead.
const REMOVAL_WINDOW: Duration = Duration::from_secs(10);

/// Stops and removes every pod sandbox the runtime has (kubeadm reset's "remove
/// Kubernetes-managed containers"): returns the sandboxes removed.
///
/// Like kubeadm, each sandbox is stopped and then removed before the next one. Unlike it, one
/// that fails does not stop the others. With `again` (the kubelet is stopped), the runtime is
/// listed again after a pause until a listing is empty or [`REMOVAL_WINDOW`] has passed; a
/// failure of the last round is the error. The whole call is bounded by `timeout`.
pub fn remove_pod_sandboxes(
    socket: &Path,
    timeout: Duration,
    again: bool,
) -> Result<Vec<Sandbox>, CallError> {
    let window = if again {
        REMOVAL_WINDOW
    } else {
        Duration::ZERO
    };
    block_on(
        timeout,
        remove_pod_sandboxes_async(socket, window, REMOVAL_PAUSE),
    )
}

async fn remove_pod_sandboxes_async(
    socket: &Path,
    window: Duration,
    pause: Duration,
) -> Result<Vec<Sandbox>, CallError> {
    let deadline = tokio::time::Instant::now() + window;
    let client = connect(socket).await?;
    let mut removed: Vec<Sandbox> = Vec::new();
    loop {
        // ListPodSandboxRequest {} lists every sandbox.
        let (api, body) = call_newest(&client, "RuntimeService/ListPodSandbox", &[]).await?;
        let listed = decode_sandboxes(&body).map_err(|e| CallError::Other(format!("{e:#}")))?;
        if listed.is_empty() {
            return Ok(removed);
        }
        let mut failure = None;
        for sandbox in listed {
            match stop_and_remove(&client, api, &sandbox.id).await {
                Ok(()) => {
                    if !removed.iter().any(|r| r.id == sandbox.id) {
                        removed.push(sandbox);
                    }
                }
                Err(e) => failure = Some(e),
            }
        }
        if tokio::time::Instant::now() + pause > deadline {
            return match failure {
                Some(e) => Err(e),
                None => Ok(removed),
            };
        }
        tokio::time::sleep(pause).await;
    }
}

/// `StopPodSandbox`, then `RemovePodSandbox`; a sandbox gone since it was listed is no error.
async fn stop_and_remove(
    client: &h2::client::SendRequest<Bytes>,
    api: &str,
    id: &str,
) -> Result<(), CallError> {
    // Stop- and RemovePodSandboxRequest { pod_sandbox_id = 1 }.
    let request = length_delimited(1, id.as_bytes());
    for method in ["StopPodSandbox", "RemovePodSandbox"] {
        let path = format!("/{api}.RuntimeService/{method}");
        match call(client.clone(), &path, &request).await {
            Ok(_)
            | Err(CallError::Status {
                code: NOT_FOUND, ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
