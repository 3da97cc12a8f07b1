//! The certificates after init (kubeadm's `app/phases/certs/renewal`): when each expires, and
//! renewing them with the CAs on disk (or CSRs for an external CA).

pub mod expiry;
pub mod renew;

pub use expiry::{
    Expiration, RENEW_WITHIN, Renewable, State, Summary, check_expiration, expires_text,
    short_duration,
};
pub use renew::{CsrFiles, Outcome, generate_csrs, renew as renew_certificate};
