//! The Meta family: Threads, Instagram and Facebook Pages. They share Graph API conventions (the token as a
//! parameter, one error shape, the same rate-limit headers), the media container flow (Threads and Instagram), and
//! Facebook Login (Pages and Instagram's Facebook-login variant), so each of those lives here once.

pub mod config;
mod container;
pub mod facebook;
pub mod graph;
pub mod instagram;
mod login;
pub mod threads;
mod token;

pub use config::MetaApp;
pub use container::ContainerPolling;
pub use facebook::{FacebookConfig, FacebookPlatform};
pub use instagram::{InstagramConfig, InstagramLogin, InstagramPlatform};
pub use threads::{ThreadsConfig, ThreadsPlatform};
