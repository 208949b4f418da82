//! Implementations of the ports: on AWS, and on one machine.

pub mod aws;
pub mod local;
