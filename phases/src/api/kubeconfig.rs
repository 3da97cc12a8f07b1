//! The kubeconfig file format (`apiVersion: v1`, `kind: Config`): the serde type, reading and
//! writing it, and building one from a CA plus a client certificate or a bearer token.

use anyhow::{Context as _, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// The largest kubeconfig read from a path a user gives (admin.conf is a few KiB).
pub const MAX_KUBECONFIG_BYTES: u64 = 1 << 20;

/// A kubeconfig file (`apiVersion: v1`, `kind: Config`), fields in client-go's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kubeconfig {
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    #[serde(default)]
    pub clusters: Vec<NamedCluster>,
    #[serde(default)]
    pub contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default)]
    pub current_context: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub preferences: serde_yaml::Mapping,
    #[serde(default)]
    pub users: Vec<NamedUser>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub cluster: Cluster,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// Base64 of the CA certificate PEM.
    #[serde(
        rename = "certificate-authority-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_authority_data: Option<String>,
    #[serde(
        rename = "certificate-authority",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_authority: Option<String>,
    pub server: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedContext {
    pub context: ContextRef,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextRef {
    pub cluster: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub user: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    pub user: User,
}

/// Credentials: embedded (`…-data`), files, or a bearer token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    #[serde(
        rename = "client-certificate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_certificate: Option<String>,
    #[serde(
        rename = "client-certificate-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_certificate_data: Option<String>,
    #[serde(
        rename = "client-key",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_key: Option<String>,
    #[serde(
        rename = "client-key-data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_key_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Kubeconfig {
    /// One cluster, one user and their context `<user>@<cluster>`, as kubeadm writes them.
    pub fn new(
        cluster_name: &str,
        server: &str,
        ca_pem: &str,
        user_name: &str,
        user: User,
    ) -> Self {
        let context = format!("{user_name}@{cluster_name}");
        Kubeconfig {
            api_version: "v1".into(),
            clusters: vec![NamedCluster {
                cluster: Cluster {
                    certificate_authority_data: Some(BASE64.encode(ca_pem)),
                    certificate_authority: None,
                    server: server.into(),
                },
                name: cluster_name.into(),
            }],
            contexts: vec![NamedContext {
                context: ContextRef {
                    cluster: cluster_name.into(),
                    namespace: None,
                    user: user_name.into(),
                },
                name: context.clone(),
            }],
            current_context: context,
            kind: "Config".into(),
            preferences: serde_yaml::Mapping::new(),
            users: vec![NamedUser {
                name: user_name.into(),
                user,
            }],
        }
    }

    /// A kubeconfig whose user authenticates with a client certificate and key (PEM, embedded).
    pub fn with_client_cert(
        cluster_name: &str,
        server: &str,
        ca_pem: &str,
        user_name: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Self {
        let user = Self::client_cert_user(cert_pem, key_pem);
        Kubeconfig::new(cluster_name, server, ca_pem, user_name, user)
    }

    /// A kubeconfig whose user authenticates with a bearer token (a bootstrap token, say).
    pub fn with_token(
        cluster_name: &str,
        server: &str,
        ca_pem: &str,
        user_name: &str,
        token: &str,
    ) -> Self {
        let user = User {
            token: Some(token.to_string()),
            ..User::default()
        };
        Kubeconfig::new(cluster_name, server, ca_pem, user_name, user)
    }

    /// Client-certificate credentials embedded as data.
    pub fn client_cert_user(cert_pem: &str, key_pem: &str) -> User {
        User {
            client_certificate_data: Some(BASE64.encode(cert_pem)),
            client_key_data: Some(BASE64.encode(key_pem)),
            ..User::default()
        }
    }

    /// Parses kubeconfig YAML.
    pub fn parse(text: &str) -> Result<Self> {
        let mut value = crate::config::yaml::to_value(text)?;
        // client-go writes empty lists as `null` (cluster-info has `contexts: null`).
        if let Some(map) = value.as_mapping_mut() {
            map.retain(|_, v| !v.is_null());
        }
        Ok(serde_yaml::from_value(value)?)
    }

    /// The YAML text.
    pub fn to_yaml(&self) -> Result<String> {
        Ok(serde_yaml::to_string(self)?)
    }

    fn current(&self) -> Option<&ContextRef> {
        self.contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .map(|c| &c.context)
    }

    /// The cluster of the current context.
    pub fn current_cluster(&self) -> Option<&Cluster> {
        let name = &self.current()?.cluster;
        self.clusters
            .iter()
            .find(|c| &c.name == name)
            .map(|c| &c.cluster)
    }

    /// The user of the current context.
    pub fn current_user(&self) -> Option<&User> {
        let name = &self.current()?.user;
        self.users.iter().find(|u| &u.name == name).map(|u| &u.user)
    }
}

/// Decodes a `…-data` field.
pub fn decode_data(data: &str) -> Result<Vec<u8>> {
    BASE64
        .decode(data.trim())
        .context("invalid base64 in kubeconfig data")
}

/// The kubeconfig published in `cluster-info`: one nameless cluster with its CA embedded, in the
/// exact text the controller-manager's bootstrap signer signs.
pub fn cluster_info(server: &str, ca_pem: &[u8]) -> String {
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {{}}\nusers: null\n",
        BASE64.encode(ca_pem)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_client_go_layout_and_reads_it_back() {
        let config = Kubeconfig::new(
            "kubernetes",
            "https://10.0.0.1:6443",
            "CA",
            "kubernetes-admin",
            Kubeconfig::client_cert_user("CERT", "KEY"),
        );
        let yaml = config.to_yaml().unwrap();
        let expected = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://10.0.0.1:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubernetes-admin
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
";
        assert_eq!(yaml, expected);
        let back = Kubeconfig::parse(&yaml).unwrap();
        assert_eq!(back, config);
        assert_eq!(
            back.current_cluster().unwrap().server,
            "https://10.0.0.1:6443"
        );
        assert_eq!(
            decode_data(
                back.current_user()
                    .unwrap()
                    .client_key_data
                    .as_deref()
                    .unwrap()
            )
            .unwrap(),
            b"KEY"
        );
    }

    #[test]
    fn a_token_user_carries_only_the_token() {
        let config = Kubeconfig::with_token(
            "kubernetes",
            "https://10.0.0.1:6443",
            "CA",
            "tls-bootstrap-token-user",
            "abcdef.0123456789abcdef",
        );
        let yaml = config.to_yaml().unwrap();
        assert!(
            yaml.contains("  user:\n    token: abcdef.0123456789abcdef\n"),
            "{yaml}"
        );
        let back = Kubeconfig::parse(&yaml).unwrap();
        assert_eq!(
            back.current_user().unwrap().token.as_deref(),
            Some("abcdef.0123456789abcdef")
        );
        assert_eq!(
            back.current_cluster()
                .unwrap()
                .certificate_authority_data
                .as_deref(),
            Some("Q0E=")
        );
    }
}
