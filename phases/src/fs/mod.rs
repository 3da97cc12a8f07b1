//! Files: [`root::Root`], through which every read and write goes, and the logical paths.

pub mod at;
pub mod bounded;
pub mod fault;
pub mod home;
pub mod lock;
pub mod paths;
pub mod remove;
pub mod resolve;
pub mod root;
pub mod system_dirs;
