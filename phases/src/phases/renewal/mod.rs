//! The certificates after init (kubeadm's `app/phases/certs/renewal`): when each expires, and
//! renewing them with the CAs on disk (or CSRs for an external CA).

pub mod expiry;
pub mod renew;
