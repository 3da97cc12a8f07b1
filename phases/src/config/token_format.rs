//! The bootstrap token format (`[a-z0-9]{6}.[a-z0-9]{16}`), its usages and the group rule:
//! what config validation, the `bootstrap-token` phase and `kubestrap token` all check.

use std::fmt;

use anyhow::{Result, bail};

/// Characters of token IDs and secrets.
const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
/// Usages a token may have.
pub const USAGES: &[&str] = &["signing", "authentication"];
/// The group joining nodes authenticate in.
pub const DEFAULT_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// The format message kubeadm prints for a malformed token.
pub const FORMAT: &str = r"\A([a-z0-9]{6})\.([a-z0-9]{16})\z";

/// A bootstrap token `<id>.<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    pub secret: String,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.id, self.secret)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}.<secret>)", self.id)
    }
}

fn is_part(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b))
}

/// Whether `s` is a token ID (`[a-z0-9]{6}`).
pub fn is_id(s: &str) -> bool {
    is_part(s, 6)
}

impl Token {
    /// Parses `<id>.<secret>`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.split_once('.') {
            Some((id, secret)) if is_token(s) => Ok(Token {
                id: id.into(),
                secret: secret.into(),
            }),
            _ => bail!(
                "the bootstrap token {s:?} was not of the form {FORMAT:?}\n\nhint: `kubestrap token generate` prints a valid one"
            ),
        }
    }

    /// A random token.
    pub fn generate() -> Result<Self> {
        Ok(Token {
            id: random_chars(6)?,
            secret: random_chars(16)?,
        })
    }

    /// The Secret's name: `bootstrap-token-<id>`.
    pub fn secret_name(&self) -> String {
        format!("bootstrap-token-{}", self.id)
    }
}

fn random_chars(n: usize) -> Result<String> {
    use ring::rand::{SecureRandom, SystemRandom};
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 32];
    while out.len() < n {
        rng.fill(&mut buf)
            .map_err(|_| anyhow::anyhow!("the system random number generator failed"))?;
        // 252 = 7 × 36: rejecting larger bytes keeps every character equally likely.
        for b in buf.iter().filter(|b| **b < 252) {
            if out.len() < n {
                out.push(ALPHABET[(*b % 36) as usize] as char);
            }
        }
    }
    Ok(out)
}

/// Whether `s` is a token `<id>.<secret>`.
pub fn is_token(s: &str) -> bool {
    s.split_once('.')
        .is_some_and(|(id, secret)| is_part(id, 6) && is_part(secret, 16))
}

/// Whether `g` is a group a token may add: `system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]`.
pub fn is_bootstrap_group(g: &str) -> bool {
    g.strip_prefix("system:bootstrappers:").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 256
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'-')
            && !rest.ends_with([':', '-'])
    })
}

/// Checks usages and groups as kubeadm does.
pub fn validate(usages: &[String], groups: &[String]) -> Result<()> {
    for u in usages {
        if !USAGES.contains(&u.as_str()) {
            bail!(
                "invalid bootstrap token usage {u:?}; valid usages are: {}",
                USAGES.join(", ")
            );
        }
    }
    if !groups.is_empty() && !usages.iter().any(|u| u == "authentication") {
        bail!("token groups cannot be specified unless --usages includes \"authentication\"");
    }
    for g in groups {
        if !is_bootstrap_group(g) {
            bail!(
                "{g:?} is not a valid bootstrap group: it must match system:bootstrappers:[a-z0-9:-]{{0,255}}[a-z0-9]"
            );
        }
    }
    Ok(())
}
