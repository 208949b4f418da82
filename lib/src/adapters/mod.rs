//! Implementations of the ports: on AWS, and on one machine.

pub mod aws;
#[cfg(feature = "embedded")]
pub mod local;
