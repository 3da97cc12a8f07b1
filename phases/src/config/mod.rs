//! kubeadm's configuration API (`kubeadm.k8s.io/v1beta3` and `v1beta4`): types, defaults, loading.
//!
//! One set of types serves both API versions: extraArgs accept v1beta3's map and v1beta4's
//! name/value list, and fields that only v1beta4 has are refused in a v1beta3 file by [`load`].
//! After loading, [`Config`] also holds the values kubeadm resolves at run time (node name,
//! advertise address, Kubernetes version, CRI socket), so phases never guess.

use std::fmt;
use std::net::IpAddr;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::version::KubeVersion;

/// The kubeadm config API group.
pub const GROUP: &str = "kubeadm.k8s.io";

/// A kubeadm config API version kubestrap reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiVersion {
    V1Beta3,
    V1Beta4,
}

impl ApiVersion {
    /// `kubeadm.k8s.io/v1beta3` or `kubeadm.k8s.io/v1beta4`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1Beta3 => "kubeadm.k8s.io/v1beta3",
            ApiVersion::V1Beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }

    /// Parses an `apiVersion` value.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "kubeadm.k8s.io/v1beta3" => Some(ApiVersion::V1Beta3),
            "kubeadm.k8s.io/v1beta4" => Some(ApiVersion::V1Beta4),
            _ => None,
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One command-line argument of a component: `--name=value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arg {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// extraArgs: v1beta3 writes a map, v1beta4 an ordered list of `{name, value}`; both load here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraArgs {
    pub args: Vec<Arg>,
    /// Whether the file used v1beta3's map form.
    pub from_map: bool,
}

impl ExtraArgs {
    /// Whether no argument is set.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }
}

impl Serialize for ExtraArgs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The list form; `to_api_version` turns it back into a map for v1beta3.
        self.args.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ExtraArgs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = ExtraArgs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of flag: value (v1beta3) or a list of {name, value} (v1beta4)")
            }
            fn visit_unit<E: de::Error>(self) -> Result<ExtraArgs, E> {
                Ok(ExtraArgs::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExtraArgs, A::Error> {
                let mut args = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, String>()? {
                    args.push(Arg { name, value });
                }
                // A Go map has no order; kubeadm sorts by name.
                args.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(ExtraArgs {
                    args,
                    from_map: true,
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ExtraArgs, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element::<Arg>()? {
                    args.push(arg);
                }
                Ok(ExtraArgs {
                    args,
                    from_map: false,
                })
            }
        }
        d.deserialize_any(ArgsVisitor)
    }
}
/// Everything an init run works from: the two kubeadm documents, the component configs passed
/// through, and the values resolved on this host.
#[derive(Debug, Clone)]
pub struct Config {
    /// The API version of the file read (v1beta4 when there was none).
    pub api_version: ApiVersion,
    pub init: InitConfiguration,
    pub cluster: ClusterConfiguration,
    /// A `KubeletConfiguration` document from the file, merged over kubeadm's defaults.
    pub kubelet: Option<serde_yaml::Mapping>,
    /// A `KubeProxyConfiguration` document from the file.
    pub kube_proxy: Option<serde_yaml::Mapping>,
    /// The Kubernetes version to deploy.
    pub version: KubeVersion,
    /// `nodeRegistration.name`, or the host name in lower case.
    pub node_name: String,
    /// `localAPIEndpoint.advertiseAddress`, or the address of the default-route interface.
    pub advertise_address: IpAddr,
    /// `localAPIEndpoint.bindPort`.
    pub bind_port: u16,
    /// `nodeRegistration.criSocket`, or the detected runtime's socket.
    pub cri_socket: String,
    /// The file the configuration came from, to point at fields in problems.
    pub source: Option<std::sync::Arc<Source>>,
    /// The settings of a join (`kubestrap join`); `None` for init.
    pub join: Option<join::Join>,
    /// Settings of the file that have no effect, one sentence each, for the command to show.
    pub warnings: Vec<String>,
    /// The patches of `patches.directory` (`--patches`), read and checked when resolved.
    pub patches: Option<std::sync::Arc<crate::render::patches::PatchSet>>,
}

impl Config {
    /// Whether this is a join that makes a control-plane node (`join --control-plane`).
    pub fn joins_control_plane(&self) -> bool {
        self.join.as_ref().is_some_and(|j| j.control_plane)
    }

    /// The CRI socket as a path (`unix:///run/containerd/containerd.sock` → `/run/…`).
    pub fn cri_socket_path(&self) -> &str {
        let socket = &self.cri_socket;
        socket.strip_prefix("unix://").unwrap_or(socket)
    }

    /// The preflight checks whose errors are only warnings, lower-cased (`all` for every check).
    pub fn ignored_preflight_errors(&self) -> Vec<String> {
        self.init
            .node_registration
            .ignore_preflight_errors
            .iter()
            .map(|s| s.to_lowercase())
            .collect()
    }
}
pub mod duration;
pub mod fields;
mod types;

pub use types::{
    ApiEndpoint, ApiServer, BootstrapToken, ClusterConfiguration, ControlPlaneComponent, Dns,
    EnvVar, Etcd, ExternalEtcd, HostPathMount, InitConfiguration, LocalEtcd, Networking,
    NodeRegistration, Patches, Proxy, Taint, Timeouts, default_image_repository,
};

pub mod flags;
pub mod join;
pub mod known_flags;
pub mod kubeadm_config;
mod resolve;

pub use resolve::{
    CRI_SOCKETS, Documents, ImagesConfig, Overrides, detect_cri_socket, kubelet_version, path_dirs,
    resolve, resolve_images,
};

pub mod component;
mod component_values;
mod defaults;
pub mod discovery_file;
mod load;
pub mod locate;
mod migrate;
pub mod net;
pub mod reset;
mod source;
mod suggest;
pub mod token_format;
pub mod upgrade;
mod validate;
mod validate_file;
pub mod yaml;

pub use defaults::{document, print_init_defaults, print_join_defaults, print_reset_defaults};
pub use load::{InvalidConfig, check, load_file, parse, read_config};
pub use migrate::{migrate, migrate_file, write_migrated};
pub use source::Source;
pub use validate::{Problem, validate};
pub use validate_file::{validate_file, validate_text};
