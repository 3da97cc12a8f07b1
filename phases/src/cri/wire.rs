//! The protobuf wire format of the few CRI messages kubestrap sends and reads, by hand: they are
//! tiny, so no code generation.

use anyhow::{Context as _, Result, anyhow, bail};
use bytes::{Buf, Bytes};

use super::{Condition, Container, Sandbox, Version};

/// A protobuf length-delimited field.
pub(super) fn length_delimited(number: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 6);
    put_varint(&mut out, (number << 3) | 2);
    put_varint(&mut out, bytes.len() as u64);
    out.extend_from_slice(bytes);
    out
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The fields of a protobuf message: (field number, value) where value is varint or bytes.
pub(super) enum Field {
    Varint(u64),
    Bytes(Bytes),
}

pub(super) fn fields(mut buf: Bytes) -> Result<Vec<(u64, Field)>> {
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

pub(super) fn varint(buf: &mut Bytes) -> Result<u64> {
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

pub(super) fn text(bytes: &Bytes) -> Result<String> {
    String::from_utf8(bytes.to_vec()).context("protobuf string is not UTF-8")
}

/// `VersionResponse { version = 1; runtime_name = 2; runtime_version = 3; runtime_api_version = 4 }`.
pub(super) fn decode_version(body: &Bytes) -> Result<Version> {
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
pub(super) fn decode_status(body: &Bytes) -> Result<Vec<Condition>> {
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

pub(super) const STATES: [&str; 4] = [
    "CONTAINER_CREATED",
    "CONTAINER_RUNNING",
    "CONTAINER_EXITED",
    "CONTAINER_UNKNOWN",
];

/// `ListContainersResponse { repeated Container containers = 1 }`, `Container { id = 1;
/// ContainerMetadata metadata = 3; ContainerState state = 6; map<string,string> labels = 8 }`,
/// `ContainerMetadata { name = 1; uint32 attempt = 2 }`.
pub(super) fn decode_containers(body: &Bytes) -> Result<Vec<Container>> {
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
                        "io.kubernetes.pod.uid" => c.pod_uid = value,
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
pub(super) fn decode_exit(body: &Bytes) -> Result<(i32, String)> {
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

/// `ListPodSandboxResponse { repeated PodSandbox items = 1 }`, `PodSandbox { id = 1;
/// PodSandboxMetadata metadata = 2 }`, `PodSandboxMetadata { name = 1; uid = 2; namespace = 3 }`.
pub(super) fn decode_sandboxes(body: &Bytes) -> Result<Vec<Sandbox>> {
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
