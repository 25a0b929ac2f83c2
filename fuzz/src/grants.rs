//! A trusted P-256 key made from a fixed scalar (no randomness), the grants it signed, and
//! the property every parsed grant must satisfy: only what the key signed verifies.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use bundle::grant::{
    self, sign_canned, sign_custom, Denied, Grant, GrantPolicy, HashAlgorithm, Policy, SigningKey,
    TrustedKeys,
};

/// The key pair id and clock of `bundle/src/grant/tests.rs`, whose grants seed the corpus.
pub const KEY_PAIR_ID: &str = "K2JCJMDEHXQW5F";
pub const NOW: u64 = 1_700_000_000;

/// The URLs grants are checked against: in scope, a sibling course sharing a prefix, the
/// canned grant's exact URL, another host.
const URLS: [&str; 4] = [
    "https://h/courses/py1/lesson/",
    "https://h/courses/py10/lesson/",
    "https://h/courses/py1/x",
    "http://learn.test/courses/a/x",
];

pub struct Fixture {
    pub keys: TrustedKeys,
    /// (message bytes, hash) of everything the key signed.
    signed: HashSet<(Vec<u8>, HashAlgorithm)>,
    /// Query strings of grants the key issued (what the seeds hold).
    pub issued_queries: Vec<String>,
}

/// The scalar of the unit tests' key (`0x42, 0, ..., 0, 7`).
fn signing_key() -> SigningKey {
    let mut scalar = [0u8; 32];
    scalar[31] = 7;
    scalar[0] = 0x42;
    let secret = p256::SecretKey::from_slice(&scalar).expect("a valid P-256 scalar");
    let pem = secret.to_sec1_pem(p256::pkcs8::LineEnding::LF).expect("SEC1 PEM");
    SigningKey::from_pem(&pem).expect("the crate reads its own SEC1 PEM")
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = signing_key();
        let mut keys = TrustedKeys::new();
        keys.insert(KEY_PAIR_ID, key.verifying_key());
        let mut signed = HashSet::new();
        let mut issued_queries = Vec::new();
        let mut windowed = Policy::new("https://h/courses/py1/*", NOW + 3600);
        windowed.date_greater_than = Some(NOW - 100);
        windowed.ip_address = Some("10.0.0.0/8".parse().expect("cidr"));
        for policy in [Policy::new("https://h/courses/py1/*", NOW + 60), windowed] {
            for hash in [HashAlgorithm::Sha256, HashAlgorithm::Sha1] {
                issued_queries.push(sign_custom(&policy, &key, KEY_PAIR_ID, hash).query);
                signed.insert((policy.to_json().into_bytes(), hash));
            }
        }
        let (url, expires) = (URLS[0], NOW + 5);
        issued_queries.push(sign_canned(url, expires, &key, KEY_PAIR_ID, HashAlgorithm::Sha256));
        signed.insert((Policy::canned_json(url, expires).into_bytes(), HashAlgorithm::Sha256));
        Fixture { keys, signed, issued_queries }
    })
}

/// Checks `grant` against every URL, client and skew of the fixture: a grant verifies only if
/// the fixed key signed exactly its message with its hash, and then only where its policy
/// allows (resource, time window).
pub fn assert_only_signed_grants_verify(grant: &Grant) {
    let fixture = fixture();
    let clients = [IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5)), IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))];
    for url in URLS {
        for client_ip in clients {
            for (now, skew) in [(NOW, 0), (NOW + 30, 30), (u64::MAX, u64::MAX)] {
                let request = grant::Request { url, now, client_ip };
                let verdict = grant::verify(grant, &fixture.keys, &request, skew);
                if verdict.is_err() {
                    continue;
                }
                let message = match &grant.policy {
                    GrantPolicy::Custom(json) => json.clone(),
                    GrantPolicy::Canned { expires } => Policy::canned_json(url, *expires).into_bytes(),
                };
                assert!(
                    fixture.signed.contains(&(message.clone(), grant.hash)),
                    "a grant the key never signed verified: {grant:?} for {url}"
                );
                assert_eq!(grant.key_pair_id, KEY_PAIR_ID);
                if let GrantPolicy::Custom(json) = &grant.policy {
                    let policy = Policy::from_json(json).expect("a verified policy parses");
                    assert!(grant::resource_matches(&policy.resource, url), "{policy:?} opened {url}");
                    assert!(policy.date_less_than.saturating_add(skew) > now, "expired grant verified");
                }
            }
        }
    }
    // An unknown key pair id never verifies, whatever else the grant says.
    let mut stranger = grant.clone();
    stranger.key_pair_id.push('X');
    let request = grant::Request { url: URLS[0], now: NOW, client_ip: clients[0] };
    assert_eq!(grant::verify(&stranger, &fixture.keys, &request, 0), Err(Denied::UnknownKeyPair));
}
