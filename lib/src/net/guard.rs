//! The address rules: which IP addresses Postora may contact when it fetches from an address a person supplied, and
//! why the others are refused.
//!
//! Everything that is not on the public internet is refused: this machine, the private networks around it, the
//! cloud's metadata service, link-local and multicast ranges, and the ranges kept back for special use. An IPv6
//! address that carries an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64
//! `64:ff9b::a.b.c.d` and 6to4 `2002:aabb:ccdd::`) gets the answer its IPv4 address gets, so no spelling of a
//! refused IPv4 address gets through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// Why an address is refused. Its `Display` is the short reason shown to people ("loopback", "private", ...);
/// [`Refusal::describe`] is the same as a phrase ("a private network address").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Refusal {
    /// `0.0.0.0/8` and `::`: "this host", which reaches this machine.
    #[error("unspecified")]
    Unspecified,
    /// `127.0.0.0/8` and `::1`: this machine.
    #[error("loopback")]
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16` and IPv6 unique local addresses (`fc00::/7`).
    #[error("private")]
    Private,
    /// `169.254/16` and `fe80::/10`.
    #[error("link-local")]
    LinkLocal,
    /// `fec0::/10`, the deprecated IPv6 site-local range.
    #[error("site-local")]
    SiteLocal,
    /// `100.64/10`, shared address space behind a carrier's NAT.
    #[error("carrier-grade NAT")]
    CarrierGradeNat,
    /// `224/4` and `ff00::/8`.
    #[error("multicast")]
    Multicast,
    /// `255.255.255.255`.
    #[error("broadcast")]
    Broadcast,
    /// A cloud provider's instance metadata service (`169.254.169.254`, `fd00:ec2::254`, `100.100.100.200`), which
    /// hands out credentials to whoever asks from inside.
    #[error("cloud metadata")]
    CloudMetadata,
    /// Ranges kept back for special use: `240/4`, `192.0.0/24`, `198.18/15`, IPv6 discard-only, Teredo and
    /// local-use NAT64 prefixes.
    #[error("reserved")]
    Reserved,
}

impl Refusal {
    /// The short reason, as its `Display` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unspecified => "unspecified",
            Refusal::Loopback => "loopback",
            Refusal::Private => "private",
            Refusal::LinkLocal => "link-local",
            Refusal::SiteLocal => "site-local",
            Refusal::CarrierGradeNat => "carrier-grade NAT",
            Refusal::Multicast => "multicast",
            Refusal::Broadcast => "broadcast",
            Refusal::CloudMetadata => "cloud metadata",
            Refusal::Reserved => "reserved",
        }
    }

    /// The reason as a phrase for a sentence: "a private network address", "the cloud metadata address".
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::Unspecified => "an unspecified address",
            Refusal::Loopback => "a loopback address",
            Refusal::Private => "a private network address",
            Refusal::LinkLocal => "a link-local address",
            Refusal::SiteLocal => "a site-local address",
            Refusal::CarrierGradeNat => "a carrier-grade NAT address",
            Refusal::Multicast => "a multicast address",
            Refusal::Broadcast => "the broadcast address",
            Refusal::CloudMetadata => "a cloud metadata address",
            Refusal::Reserved => "a reserved address",
        }
    }
}

/// Which addresses may be contacted. The default refuses every address [`refusal`] names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Lets loopback addresses (`127.0.0.0/8` and `::1`) through, and nothing else. For tests that fetch from a
    /// server on this machine; never on in production.
    pub allow_loopback: bool,
}

impl AddressPolicy {
    /// The policy for tests against a local server: loopback allowed, everything else refused as usual.
    pub fn allowing_loopback() -> Self {
        Self {
            allow_loopback: true,
        }
    }

    /// Whether `ip` may be contacted under this policy, and if not, why.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        match refusal(ip) {
            None => Ok(()),
            Some(Refusal::Loopback) if self.allow_loopback => Ok(()),
            Some(reason) => Err(reason),
        }
    }
}

/// Whether `ip` may be contacted under the default policy, and if not, why.
pub fn check(ip: IpAddr) -> Result<(), Refusal> {
    AddressPolicy::default().check(ip)
}

/// Why `ip` is refused, or `None` when it is a public address.
pub fn refusal(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(segments: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// The IPv4 rules, most specific first: the first range that holds an address gives its reason.
const V4_RULES: [(Ipv4Net, Refusal); 15] = [
    // AWS, Azure, Google Cloud and most others.
    (v4(169, 254, 169, 254, 32), Refusal::CloudMetadata),
    // Alibaba Cloud.
    (v4(100, 100, 100, 200, 32), Refusal::CloudMetadata),
    (v4(0, 0, 0, 0, 8), Refusal::Unspecified),
    (v4(127, 0, 0, 0, 8), Refusal::Loopback),
    (v4(10, 0, 0, 0, 8), Refusal::Private),
    (v4(172, 16, 0, 0, 12), Refusal::Private),
    (v4(192, 168, 0, 0, 16), Refusal::Private),
    (v4(169, 254, 0, 0, 16), Refusal::LinkLocal),
    (v4(100, 64, 0, 0, 10), Refusal::CarrierGradeNat),
    (v4(224, 0, 0, 0, 4), Refusal::Multicast),
    (v4(255, 255, 255, 255, 32), Refusal::Broadcast),
    (v4(240, 0, 0, 0, 4), Refusal::Reserved),
    // IETF protocol assignments.
    (v4(192, 0, 0, 0, 24), Refusal::Reserved),
    // Benchmarking.
    (v4(198, 18, 0, 0, 15), Refusal::Reserved),
    // 6to4 relay anycast, deprecated.
    (v4(192, 88, 99, 0, 24), Refusal::Reserved),
];

/// The IPv6 rules for addresses that carry no IPv4 address, most specific first.
const V6_RULES: [(Ipv6Net, Refusal); 10] = [
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), Refusal::Unspecified),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), Refusal::Loopback),
    // AWS's metadata service over IPv6.
    (
        v6([0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254], 128),
        Refusal::CloudMetadata,
    ),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), Refusal::LinkLocal),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), Refusal::SiteLocal),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), Refusal::Private),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), Refusal::Multicast),
    // Discard-only.
    (v6([0x0100, 0, 0, 0, 0, 0, 0, 0], 64), Refusal::Reserved),
    // Teredo, whose addresses hide an IPv4 address behind a relay.
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), Refusal::Reserved),
    // Local-use NAT64, translating to whatever the local network chooses.
    (
        v6([0x0064, 0xff9b, 0x0001, 0, 0, 0, 0, 0], 48),
        Refusal::Reserved,
    ),
];

/// IPv4-compatible addresses (`::a.b.c.d`, deprecated), which also hold `::` and `::1`.
const COMPATIBLE: Ipv6Net = v6([0, 0, 0, 0, 0, 0, 0, 0], 96);
/// The well-known NAT64 prefix: `64:ff9b::a.b.c.d` reaches `a.b.c.d`.
const NAT64: Ipv6Net = v6([0x0064, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
/// 6to4: `2002:aabb:ccdd::/48` is routed to `aa.bb.cc.dd`.
const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

fn refusal_v4(ip: Ipv4Addr) -> Option<Refusal> {
    V4_RULES
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|&(_, reason)| reason)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<Refusal> {
    if let Some(reason) = V6_RULES
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|&(_, reason)| reason)
    {
        return Some(reason);
    }
    embedded_v4(ip).and_then(refusal_v4)
}

/// The IPv4 address an IPv6 address carries, in any of the forms that reach it: IPv4-mapped, IPv4-compatible,
/// NAT64 and 6to4. `::` and `::1` are not IPv4-compatible addresses; the IPv6 rules answer for them first.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(mapped) = ip.to_ipv4_mapped() {
        return Some(mapped);
    }
    let o = ip.octets();
    if COMPATIBLE.contains(&ip) || NAT64.contains(&ip) {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if SIX_TO_FOUR.contains(&ip) {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn why(s: &str) -> Option<Refusal> {
        refusal(ip(s))
    }

    #[test]
    fn ipv4_ranges_are_refused_with_their_reason() {
        let cases = [
            ("0.0.0.0", Refusal::Unspecified),
            ("0.1.2.3", Refusal::Unspecified),
            ("127.0.0.1", Refusal::Loopback),
            ("127.255.255.254", Refusal::Loopback),
            ("10.0.0.5", Refusal::Private),
            ("10.255.255.255", Refusal::Private),
            ("172.16.0.1", Refusal::Private),
            ("172.31.255.255", Refusal::Private),
            ("192.168.1.1", Refusal::Private),
            ("169.254.0.1", Refusal::LinkLocal),
            ("169.254.169.254", Refusal::CloudMetadata),
            ("100.100.100.200", Refusal::CloudMetadata),
            ("100.64.0.1", Refusal::CarrierGradeNat),
            ("100.127.255.255", Refusal::CarrierGradeNat),
            ("224.0.0.1", Refusal::Multicast),
            ("239.255.255.250", Refusal::Multicast),
            ("240.0.0.1", Refusal::Reserved),
            ("255.255.255.254", Refusal::Reserved),
            ("255.255.255.255", Refusal::Broadcast),
            ("192.0.0.8", Refusal::Reserved),
            ("198.18.0.1", Refusal::Reserved),
            ("198.19.255.255", Refusal::Reserved),
            ("192.88.99.1", Refusal::Reserved),
        ];
        for (addr, reason) in cases {
            assert_eq!(why(addr), Some(reason), "{addr}");
        }
    }

    #[test]
    fn public_ipv4_addresses_and_the_neighbours_of_refused_ranges_are_allowed() {
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "1.0.0.0",
            "9.255.255.255",
            "11.0.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "223.255.255.255",
            "192.0.1.0",
            "198.17.255.255",
            "198.20.0.0",
        ] {
            assert_eq!(why(addr), None, "{addr}");
        }
    }

    #[test]
    fn ipv6_ranges_are_refused_with_their_reason() {
        let cases = [
            ("::", Refusal::Unspecified),
            ("::1", Refusal::Loopback),
            ("fe80::1", Refusal::LinkLocal),
            ("febf:ffff::1", Refusal::LinkLocal),
            ("fec0::1", Refusal::SiteLocal),
            ("fc00::1", Refusal::Private),
            ("fd12:3456::1", Refusal::Private),
            ("fd00:ec2::254", Refusal::CloudMetadata),
            ("fd00:ec2::253", Refusal::Private),
            ("ff02::1", Refusal::Multicast),
            ("ff0e::1", Refusal::Multicast),
            ("100::1", Refusal::Reserved),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Refusal::Reserved),
            ("64:ff9b:1::a00:1", Refusal::Reserved),
        ];
        for (addr, reason) in cases {
            assert_eq!(why(addr), Some(reason), "{addr}");
        }
        for addr in [
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2001:4860:4860::8888",
        ] {
            assert_eq!(why(addr), None, "{addr}");
        }
    }

    #[test]
    fn ipv4_carried_in_ipv6_gets_the_ipv4_answer() {
        let cases = [
            // IPv4-mapped.
            ("::ffff:127.0.0.1", Some(Refusal::Loopback)),
            ("::ffff:10.0.0.1", Some(Refusal::Private)),
            ("::ffff:169.254.169.254", Some(Refusal::CloudMetadata)),
            ("::ffff:8.8.8.8", None),
            // IPv4-compatible.
            ("::127.0.0.1", Some(Refusal::Loopback)),
            ("::192.168.0.1", Some(Refusal::Private)),
            ("::0.0.0.2", Some(Refusal::Unspecified)),
            ("::8.8.8.8", None),
            // NAT64.
            ("64:ff9b::127.0.0.1", Some(Refusal::Loopback)),
            ("64:ff9b::a9fe:a9fe", Some(Refusal::CloudMetadata)),
            ("64:ff9b::100.64.0.1", Some(Refusal::CarrierGradeNat)),
            ("64:ff9b::8.8.8.8", None),
            // 6to4.
            ("2002:7f00:1::1", Some(Refusal::Loopback)),
            ("2002:a00:1::", Some(Refusal::Private)),
            ("2002:a9fe:a9fe::1", Some(Refusal::CloudMetadata)),
            ("2002:e000:1::1", Some(Refusal::Multicast)),
            ("2002:808:808::1", None),
        ];
        for (addr, reason) in cases {
            assert_eq!(why(addr), reason, "{addr}");
        }
    }

    #[test]
    fn allowing_loopback_lets_loopback_through_and_nothing_else() {
        let policy = AddressPolicy::allowing_loopback();
        for addr in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(policy.check(ip(addr)), Ok(()), "{addr}");
            assert_eq!(check(ip(addr)), Err(Refusal::Loopback), "{addr}");
        }
        for addr in [
            "0.0.0.0",
            "::",
            "10.0.0.1",
            "169.254.169.254",
            "fd00:ec2::254",
            "fe80::1",
            "100.64.0.1",
        ] {
            assert!(policy.check(ip(addr)).is_err(), "{addr}");
        }
        assert!(!AddressPolicy::default().allow_loopback);
    }

    #[test]
    fn reasons_read_as_short_words_and_phrases() {
        assert_eq!(Refusal::CarrierGradeNat.to_string(), "carrier-grade NAT");
        assert_eq!(Refusal::CloudMetadata.to_string(), "cloud metadata");
        assert_eq!(Refusal::Private.describe(), "a private network address");
        for r in [
            Refusal::Unspecified,
            Refusal::Loopback,
            Refusal::Private,
            Refusal::LinkLocal,
            Refusal::SiteLocal,
            Refusal::CarrierGradeNat,
            Refusal::Multicast,
            Refusal::Broadcast,
            Refusal::CloudMetadata,
            Refusal::Reserved,
        ] {
            assert_eq!(r.to_string(), r.as_str());
        }
    }

    fn policies() -> impl Strategy<Value = AddressPolicy> {
        any::<bool>().prop_map(|allow_loopback| AddressPolicy { allow_loopback })
    }

    proptest! {
        #[test]
        fn any_ipv4_mapped_address_gets_the_answer_of_its_ipv4_address(
            raw in any::<u32>(), policy in policies(),
        ) {
            let v4 = Ipv4Addr::from(raw);
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            prop_assert_eq!(policy.check(mapped), policy.check(IpAddr::V4(v4)));
        }

        #[test]
        fn any_nat64_or_6to4_address_gets_the_answer_of_its_ipv4_address(
            raw in any::<u32>(), low in any::<u64>(),
        ) {
            let v4 = Ipv4Addr::from(raw);
            let nat64 = Ipv6Addr::from((0x0064_ff9b_u128 << 96) | u128::from(raw));
            prop_assert_eq!(refusal(IpAddr::V6(nat64)), refusal(IpAddr::V4(v4)));
            let six_to_four =
                Ipv6Addr::from((0x2002_u128 << 112) | (u128::from(raw) << 80) | u128::from(low));
            prop_assert_eq!(refusal(IpAddr::V6(six_to_four)), refusal(IpAddr::V4(v4)));
        }

        #[test]
        fn any_refused_ipv4_address_is_refused_in_every_ipv6_form(
            rule in 0..V4_RULES.len(), host in any::<u32>(),
        ) {
            let net = V4_RULES[rule].0;
            let raw = u32::from(net.network()) | (host & u32::from(net.hostmask()));
            let v4 = Ipv4Addr::from(raw);
            prop_assert!(refusal(IpAddr::V4(v4)).is_some());
            let forms = [
                u128::from(raw) | (0xffff_u128 << 32),
                u128::from(raw),
                (0x0064_ff9b_u128 << 96) | u128::from(raw),
                (0x2002_u128 << 112) | (u128::from(raw) << 80),
            ];
            for form in forms {
                prop_assert!(refusal(IpAddr::V6(Ipv6Addr::from(form))).is_some(), "{}", Ipv6Addr::from(form));
            }
        }
    }
}
