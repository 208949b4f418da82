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

mod instagram {
    use postora_test_support::platform_suite::meta::InstagramPeer;

    postora_test_support::platform_suite!(InstagramPeer::start());
}

mod facebook {
    use postora_test_support::platform_suite::meta::FacebookPeer;

    postora_test_support::platform_suite!(FacebookPeer::start());
}

mod x {
    use std::sync::Arc;

    use postora_test_support::fakes::x::FakeX;
    use postora_test_support::platform_suite::PlatformPeer;

    postora_test_support::platform_suite!(async {
        Arc::new(FakeX::start().await) as Arc<dyn PlatformPeer>
    });
}

mod mastodon {
    use postora_test_support::fakes::mastodon::FakeMastodon;

    postora_test_support::platform_suite!(FakeMastodon::peer());
}

mod bluesky {
    use postora_test_support::platform_suite::bluesky::BlueskyPeer;

    postora_test_support::platform_suite!(BlueskyPeer::start());
}

mod youtube {
    use postora_test_support::fakes::youtube::FakeYoutube;

    postora_test_support::platform_suite!(FakeYoutube::peer());
}

mod tiktok {
    use postora_test_support::fakes::tiktok::FakeTiktok;

    postora_test_support::platform_suite!(FakeTiktok::peer());
}

mod linkedin {
    use postora_test_support::fakes::linkedin::FakeLinkedIn;

    postora_test_support::platform_suite!(FakeLinkedIn::peer());
}
