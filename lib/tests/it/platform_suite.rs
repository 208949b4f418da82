//! The platform conformance suite (`postora_test_support::platform_suite`), one row per platform: every scenario
//! against the platform's adapter and its peer, on the local backend and on AWS.

mod sandbox {
    use postora_test_support::platform_suite::sandbox::SandboxPeer;

    postora_test_support::platform_suite!(async { SandboxPeer::start() });
}

mod threads {
    use postora_test_support::platform_suite::meta::ThreadsPeer;

    postora_test_support::platform_suite!(ThreadsPeer::start());
}

mod bluesky {
    use postora_test_support::platform_suite::bluesky::BlueskyPeer;

    postora_test_support::platform_suite!(BlueskyPeer::start());
}
