//! What goes wrong during the soak: random faults on the sandbox network, and moments to kill Postora.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};

/// A random sandbox fault for one of `users` sandbox people (`sbx-soak<n>`), through `POST /sandbox/faults`.
pub fn random_fault(rng: &mut StdRng, users: usize) -> Value {
    let user = format!("sbx-soak{}", rng.gen_range(0..users));
    let roll = rng.gen_range(0..100);
    match roll {
        0..=29 => {
            json!({"kind": "fail_before_accept", "user": user, "count": rng.gen_range(1..=2)})
        }
        30..=49 => json!({"kind": "accept_then_drop", "user": user}),
        // Stored at once, answered after Postora's HTTP timeout: the answer is lost.
        50..=59 => json!({"kind": "slow", "user": user, "delay_ms": 5000}),
        60..=79 => {
            json!({"kind": "rate_limit", "user": user, "retry_after_secs": rng.gen_range(1..=3)})
        }
        80..=89 => json!({"kind": "expire_token", "user": user}),
        90..=95 => json!({"kind": "reject", "user": user}),
        // Rarely, the whole app: every account waits a second.
        _ => json!({"kind": "rate_limit", "user": user, "scope": "app", "retry_after_secs": 1}),
    }
}

/// When to kill the server, measured from the start of the due window: `kills` moments spread over it, each at a
/// random point of its own slice, so the kills land while deliveries are being published.
pub fn kill_moments(rng: &mut StdRng, kills: usize, window: Duration) -> Vec<Duration> {
    if kills == 0 {
        return Vec::new();
    }
    let slice = window.as_secs_f64() / kills as f64;
    (0..kills)
        .map(|i| Duration::from_secs_f64(slice * (i as f64 + rng.gen_range(0.2..0.8))))
        .collect()
}
