//! The workflows: each a phase table in kubeadm's order plus the glue that picks clients and data.

pub mod certs;
pub mod clients;
pub mod init;
pub mod join;
pub mod reset;
