//! Files: [`root::Root`], through which every read and write goes, and the logical paths.

pub mod bounded;
pub mod fault;
pub mod paths;
pub mod root;
