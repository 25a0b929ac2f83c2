use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

const NOW: u64 = 1_700_000_000;
const ID: &str = "K2JCJMDEHXQW5F";

fn ec_key() -> SigningKey {
    let mut scalar = [0u8; 32];
    scalar[31] = 7;
    scalar[0] = 0x42;
    SigningKey::ec_from_scalar(&scalar)
}

fn trusted(key: &SigningKey) -> TrustedKeys {
    let mut keys = TrustedKeys::new();
    keys.insert(ID, key.verifying_key());
    keys
}

fn request(url: &str) -> Request<'_> {
    Request { url, now: NOW, client_ip: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5)) }
}

#[test]
fn cf_base64_substitutes_and_round_trips() {
    // 0xfb 0xff -> standard "+/8=" -> "-~8_".
    assert_eq!(encode_cf_base64(&[0xfb, 0xff]), "-~8_");
    assert_eq!(decode_cf_base64("-~8_").expect("valid"), vec![0xfb, 0xff]);
    assert_eq!(encode_cf_base64(b""), "");
    for len in 0..40u8 {
        let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37).wrapping_add(250)).collect();
        let text = encode_cf_base64(&bytes);
        assert!(!text.contains(['+', '/', '=']), "{text}");
        assert_eq!(decode_cf_base64(&text).expect("round trip"), bytes);
    }
}

#[test]
fn cf_base64_is_strict() {
    for bad in ["+/8=", "-~8", "-~8__", "-~8_ ", "-~8%", "AB", "A", "QQ_=", "QR__"] {
        assert!(decode_cf_base64(bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(decode_cf_base64("QQ__").expect("valid"), b"A");
}

#[test]
fn policy_json_is_cloudfront_bytes() {
    let mut policy = Policy::new("https://h/courses/py1/*", 1_700_003_600);
    assert_eq!(
        policy.to_json(),
        r#"{"Statement":[{"Resource":"https://h/courses/py1/*","Condition":{"DateLessThan":{"AWS:EpochTime":1700003600}}}]}"#
    );
    policy.date_greater_than = Some(1_699_999_000);
    policy.ip_address = Some("10.0.0.0/8".parse().expect("cidr"));
    assert_eq!(
        policy.to_json(),
        concat!(
            r#"{"Statement":[{"Resource":"https://h/courses/py1/*","Condition":{"#,
            r#""DateLessThan":{"AWS:EpochTime":1700003600},"#,
            r#""DateGreaterThan":{"AWS:EpochTime":1699999000},"#,
            r#""IpAddress":{"AWS:SourceIp":"10.0.0.0/8"}}}]}"#
        )
    );
    assert_eq!(Policy::from_json(policy.to_json().as_bytes()).expect("parses"), policy);
    assert_eq!(
        Policy::canned_json("https://h/a.mp4", 5),
        r#"{"Statement":[{"Resource":"https://h/a.mp4","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}"#
    );
    // Odd characters are escaped, and read back.
    let odd = Policy::new("https://h/a\"b\\c\u{1}", 1);
    assert!(odd.to_json().contains(r#""https://h/a\"b\\c\u0001""#));
    assert_eq!(Policy::from_json(odd.to_json().as_bytes()).expect("parses"), odd);
}

#[test]
fn policy_parsing_accepts_whitespace_and_bare_addresses() {
    let json = br#"{ "Statement": [ { "Resource": "https://h/*", "Condition": {
        "IpAddress": {"AWS:SourceIp": "192.0.2.10"}, "DateLessThan": {"AWS:EpochTime": 10} } } ] }"#;
    let policy = Policy::from_json(json).expect("parses");
    assert_eq!(policy.ip_address, Some("192.0.2.10/32".parse().expect("cidr")));
    assert_eq!(policy.date_less_than, 10);
    assert_eq!(policy.date_greater_than, None);
}

#[test]
fn policy_parsing_rejects_other_shapes() {
    let cases: &[&str] = &[
        "",
        "not json",
        "[]",
        r#"{"Statement":[]}"#,
        r#"{"Statement":[{"Resource":"https://h/a","Condition":{"DateLessThan":{"AWS:EpochTime":1}}},{"Resource":"https://h/b","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}"#,
        r#"{"Statement":[{"Resource":"https://h/a","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}],"Extra":1}"#,
        r#"{"Statement":[{"Resource":"https://h/a","Effect":"Allow","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}"#,
        r#"{"Statement":[{"Resource":"https://h/a","Condition":{"DateLessThan":{"AWS:EpochTime":1},"Other":{}}}]}"#,
        r#"{"Statement":[{"Resource":"https://h/a","Condition":{}}]}"#,
        r#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}"#,
        r#"{"Statement":[{"Resource":"","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}"#,
        r#"{"Statement":[{"Resource":"https://h/a","Condition":{"DateLessThan":{"AWS:EpochTime":1.5}}}]}"#,
        r#"{"Statement":[{"Resource":"https://h/a","Condition":{"DateLessThan":{"AWS:EpochTime":-1}}}]}"#,
        r#"{"Statement":[{"Resource":"https://h/a","Condition":{"DateLessThan":{"AWS:EpochTime":"1"}}}]}"#,
        r#"{"Statement":[{"Resource":"https://h/a","Condition":{"DateLessThan":{"AWS:EpochTime":18446744073709551616}}}]}"#,
        r#"{"Statement":[{"Resource":"https://h/a","Condition":{"DateLessThan":{"AWS:EpochTime":1},"IpAddress":{"AWS:SourceIp":"10.0.0.0/33"}}}]}"#,
        // A repeated field is not "the last one wins".
        r#"{"Statement":[{"Resource":"https://h/a","Resource":"https://h/*","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}"#,
        r#"{"Statement":[{"Resource":"https://h/a","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]} trailing"#,
    ];
    for json in cases {
        assert!(
            matches!(Policy::from_json(json.as_bytes()), Err(GrantError::MalformedPolicy(_))),
            "accepted {json}"
        );
    }
}

#[test]
fn resource_wildcards() {
    let cases: &[(&str, &str, bool)] = &[
        ("https://h/courses/py1/*", "https://h/courses/py1/lesson/", true),
        ("https://h/courses/py1/*", "https://h/courses/py1/", true),
        ("https://h/courses/py1/*", "https://h/courses/py1", false),
        ("https://h/courses/py1/*", "https://h/courses/py10/lesson/", false),
        ("https://h/courses/py1/*", "https://h/courses/py2/lesson/", false),
        ("https://h/courses/py1/*", "http://h/courses/py1/x", false),
        ("https://h/courses/py1/*", "https://h.evil/courses/py1/x", false),
        ("https://h/courses/py1/*", "https://hh/courses/py1/x", false),
        ("https://h/courses/py?/*", "https://h/courses/py2/x", true),
        ("https://h/courses/py?/*", "https://h/courses/py/x", false),
        ("https://h/courses/py?/*", "https://h/courses/py10/x", false),
        ("https://h/a?c", "https://h/a/c", true),
        ("http*://h/*", "https://h/x", true),
        ("https://*.example.com/x/*", "https://cdn.example.com/x/y", true),
        ("https://*.example.com/x/*", "https://example.com/x/y", false),
        ("*", "https://anything/at/all", true),
        ("https://h/a*b*c", "https://h/aXXbYYbZZc", true),
        ("https://h/a*b*c", "https://h/aXXbYYcZZ", false),
        ("https://h/exact.mp4", "https://h/exact.mp4", true),
        ("https://h/exact.mp4", "https://h/exact.mp4x", false),
        ("https://h/exact.mp4", "https://h/exact.mp", false),
        // Scheme and host ignore case, the path does not.
        ("HTTPS://H/courses/*", "https://h/courses/x", true),
        ("https://h/courses/*", "https://H:8443/courses/x", false),
        ("https://h:8443/courses/*", "https://H:8443/courses/x", true),
        ("https://h/Courses/*", "https://h/courses/x", false),
        ("https://h/courses/A", "https://h/courses/a", false),
        ("https://h/é?", "https://h/éü", true),
        ("", "", true),
        ("", "https://h/", false),
    ];
    for &(pattern, url, expected) in cases {
        assert_eq!(resource_matches(pattern, url), expected, "{pattern} vs {url}");
    }
    // Pathological patterns stay polynomial.
    let url = format!("https://h/{}", "a".repeat(3000));
    let pattern = format!("https://h/{}b", "*a".repeat(500));
    assert!(!resource_matches(&pattern, &url));
}

#[test]
fn strip_keeps_other_params_in_order() {
    assert_eq!(strip_grant_params(""), None);
    assert_eq!(strip_grant_params("Policy=a&Signature=b&Key-Pair-Id=c&Hash-Algorithm=SHA256"), None);
    assert_eq!(
        strip_grant_params("t=1&Expires=5&Signature=b&x&Key-Pair-Id=c&&v=2&policy=keep"),
        Some("t=1&x&v=2&policy=keep".to_owned())
    );
    assert_eq!(strip_grant_params("a=1&Policy&b=2"), Some("a=1&b=2".to_owned()));
}

#[test]
fn query_parsing() {
    assert_eq!(Grant::from_query("").expect("ok"), None);
    assert_eq!(Grant::from_query("t=1&x=Signature").expect("ok"), None);
    let grant = Grant::from_query("t=1&Policy=QQ__&Signature=Qg__&Key-Pair-Id=K1&Hash-Algorithm=SHA256")
        .expect("ok")
        .expect("present");
    assert_eq!(
        grant,
        Grant {
            policy: GrantPolicy::Custom(b"A".to_vec()),
            signature: b"B".to_vec(),
            key_pair_id: "K1".to_owned(),
            hash: HashAlgorithm::Sha256
        }
    );
    let canned = Grant::from_query("Expires=17&Signature=Qg__&Key-Pair-Id=K1").expect("ok").expect("present");
    assert_eq!(canned.policy, GrantPolicy::Canned { expires: 17 });
    assert_eq!(canned.hash, HashAlgorithm::Sha1);
    // Percent-encoded values (some clients encode `~` and `_`).
    let encoded = Grant::from_query("Policy=QQ%5F%5F&Signature=%7E%7E%7E%7E&Key-Pair-Id=K%31")
        .expect("ok")
        .expect("present");
    assert_eq!(encoded.key_pair_id, "K1");
    assert_eq!(encoded.signature, vec![0xff, 0xff, 0xff]);

    use GrantError as E;
    let errors: &[(&str, E)] = &[
        ("Signature=Qg__", E::Missing("Policy")),
        ("Policy=QQ__&Key-Pair-Id=K1", E::Missing("Signature")),
        ("Policy=QQ__&Signature=Qg__", E::Missing("Key-Pair-Id")),
        ("Hash-Algorithm=SHA256", E::Missing("Policy")),
        (
            "Policy=QQ__&Expires=1&Signature=Qg__&Key-Pair-Id=K1",
            E::Conflicting { policy: "Policy", expires: "Expires" },
        ),
        ("Policy=QQ__&Signature=Qg__&Signature=Qg__&Key-Pair-Id=K1", E::Duplicate("Signature")),
        ("Policy=QQ__&Policy=QQ__&Signature=Qg__&Key-Pair-Id=K1", E::Duplicate("Policy")),
        ("Policy=QQ_&Signature=Qg__&Key-Pair-Id=K1", E::InvalidBase64("Policy")),
        ("Policy=&Signature=Qg__&Key-Pair-Id=K1", E::InvalidBase64("Policy")),
        ("Policy=QQ__&Signature=Qg&Key-Pair-Id=K1", E::InvalidBase64("Signature")),
        ("Policy=QQ__&Signature&Key-Pair-Id=K1", E::InvalidBase64("Signature")),
        ("Policy=QQ+_&Signature=Qg__&Key-Pair-Id=K1", E::InvalidBase64("Policy")),
        ("Policy=QQ__&Signature=Qg__&Key-Pair-Id=", E::InvalidValue("Key-Pair-Id")),
        ("Policy=QQ__&Signature=Qg__&Key-Pair-Id=K1%26x", E::InvalidValue("Key-Pair-Id")),
        ("Policy=QQ__&Signature=Qg__&Key-Pair-Id=K1&Hash-Algorithm=MD5", E::InvalidValue("Hash-Algorithm")),
        (
            "Policy=QQ__&Signature=Qg__&Key-Pair-Id=K1&Hash-Algorithm=sha256",
            E::InvalidValue("Hash-Algorithm"),
        ),
        ("Expires=-1&Signature=Qg__&Key-Pair-Id=K1", E::InvalidValue("Expires")),
        ("Expires=1e9&Signature=Qg__&Key-Pair-Id=K1", E::InvalidValue("Expires")),
        ("Expires=18446744073709551616&Signature=Qg__&Key-Pair-Id=K1", E::InvalidValue("Expires")),
        ("Expires=&Signature=Qg__&Key-Pair-Id=K1", E::InvalidValue("Expires")),
        ("Policy=QQ__&Signature=%FF&Key-Pair-Id=K1", E::InvalidValue("Signature")),
    ];
    for (query, expected) in errors {
        assert_eq!(Grant::from_query(query).as_ref(), Err(expected), "{query}");
    }
    let huge = format!("Policy={}&Signature=Qg__&Key-Pair-Id=K1", "QUFB".repeat(1025));
    assert_eq!(
        Grant::from_query(&huge),
        Err(E::TooLarge { param: "Policy", len: 4100, limit: MAX_POLICY_LEN })
    );
    let huge_sig = format!("Policy=QQ__&Signature={}&Key-Pair-Id=K1", "QUFB".repeat(257));
    assert!(matches!(Grant::from_query(&huge_sig), Err(E::TooLarge { param: "Signature", .. })));
    let huge_id = format!("Policy=QQ__&Signature=Qg__&Key-Pair-Id={}", "K".repeat(129));
    assert_eq!(Grant::from_query(&huge_id), Err(E::InvalidValue("Key-Pair-Id")));
}

#[test]
fn cookie_parsing() {
    assert_eq!(Grant::from_cookie_header("").expect("ok"), None);
    assert_eq!(Grant::from_cookie_header("session=abc; theme=dark").expect("ok"), None);
    let grant = Grant::from_cookie_header(
        "session=abc; CloudFront-Policy=QQ__;CloudFront-Signature=\"Qg__\";  CloudFront-Key-Pair-Id=K1; x=y",
    )
    .expect("ok")
    .expect("present");
    assert_eq!(grant.policy, GrantPolicy::Custom(b"A".to_vec()));
    assert_eq!(grant.hash, HashAlgorithm::Sha1);
    let canned = Grant::from_cookie_header(
        "CloudFront-Expires=9; CloudFront-Signature=Qg__; CloudFront-Key-Pair-Id=K1; CloudFront-Hash-Algorithm=SHA256",
    )
    .expect("ok")
    .expect("present");
    assert_eq!(canned.policy, GrantPolicy::Canned { expires: 9 });
    assert_eq!(canned.hash, HashAlgorithm::Sha256);
    // Query names are not cookie names, and the other way round.
    assert_eq!(Grant::from_cookie_header("Policy=QQ__; Signature=Qg__; Key-Pair-Id=K1").expect("ok"), None);
    assert_eq!(Grant::from_query("CloudFront-Policy=QQ__").expect("ok"), None);
    assert_eq!(
        Grant::from_cookie_header("CloudFront-Policy=QQ__; CloudFront-Signature=Qg__"),
        Err(GrantError::Missing("CloudFront-Key-Pair-Id"))
    );
    assert_eq!(
        Grant::from_cookie_header(
            "CloudFront-Policy=QQ__; CloudFront-Policy=Qg__; CloudFront-Signature=Qg__; CloudFront-Key-Pair-Id=K1"
        ),
        Err(GrantError::Duplicate("CloudFront-Policy"))
    );
}

#[test]
fn pem_errors_are_errors() {
    assert!(matches!(SigningKey::from_pem(""), Err(GrantError::Key(_))));
    assert!(matches!(SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n"), Err(GrantError::Key(_))));
    assert!(matches!(
        SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        Err(GrantError::Key(_))
    ));
    assert!(matches!(
        SigningKey::from_pem("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"),
        Err(GrantError::Key(message)) if message.contains("encrypted")
    ));
    assert!(matches!(VerifyingKey::from_pem("-----BEGIN CERTIFICATE-----\n"), Err(GrantError::Key(_))));
}

#[test]
fn ecdsa_sign_and_verify_both_hashes() {
    let key = ec_key();
    assert_eq!(format!("{key:?}"), "SigningKey(ECDSA-P256)");
    let public = key.verifying_key();
    for hash in [HashAlgorithm::Sha1, HashAlgorithm::Sha256] {
        let signature = key.sign(b"policy", hash);
        assert_eq!(signature[0], 0x30, "DER sequence");
        assert_eq!(key.sign(b"policy", hash), signature, "deterministic");
        assert!(public.verify(b"policy", &signature, hash));
        assert!(!public.verify(b"policx", &signature, hash));
        let other = if hash == HashAlgorithm::Sha1 { HashAlgorithm::Sha256 } else { HashAlgorithm::Sha1 };
        assert!(!public.verify(b"policy", &signature, other));
        assert!(!public.verify(b"policy", &signature[..signature.len() - 1], hash));
        assert!(!public.verify(b"policy", &[], hash));
    }
}

#[test]
fn issued_grants_verify_and_bad_ones_are_denied() {
    let key = ec_key();
    let keys = trusted(&key);
    let policy = Policy::new("https://h/courses/py1/*", NOW + 60);
    let issued = sign_custom(&policy, &key, ID, HashAlgorithm::Sha256);
    assert!(issued.query.starts_with("Policy="));
    assert!(issued.query.ends_with(&format!("&Key-Pair-Id={ID}&Hash-Algorithm=SHA256")));
    let names: Vec<&str> = issued.cookies.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id", "CloudFront-Hash-Algorithm"]
    );

    let from_query = Grant::from_query(&issued.query).expect("parses").expect("present");
    let header = issued.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
    let from_cookies = Grant::from_cookie_header(&header).expect("parses").expect("present");
    assert_eq!(from_query, from_cookies);
    assert_eq!(from_query.policy, GrantPolicy::Custom(policy.to_json().into_bytes()));

    let ok = request("https://h/courses/py1/lesson/");
    assert_eq!(verify(&from_query, &keys, &ok, 0), Ok(()));
    assert_eq!(
        verify(&from_query, &keys, &request("https://h/courses/py10/lesson/"), 0),
        Err(Denied::WrongResource)
    );
    assert_eq!(verify(&from_query, &TrustedKeys::new(), &ok, 0), Err(Denied::UnknownKeyPair));
    let late = Request { now: NOW + 60, ..ok };
    assert_eq!(verify(&from_query, &keys, &late, 0), Err(Denied::Expired));
    assert_eq!(verify(&from_query, &keys, &late, 1), Ok(()));

    // SHA-1 issues no Hash-Algorithm and parses back as SHA-1.
    let sha1 = sign_custom(&policy, &key, ID, HashAlgorithm::Sha1);
    assert!(!sha1.query.contains("Hash-Algorithm"));
    assert_eq!(sha1.cookies.len(), 3);
    let sha1 = Grant::from_query(&sha1.query).expect("parses").expect("present");
    assert_eq!(sha1.hash, HashAlgorithm::Sha1);
    assert_eq!(verify(&sha1, &keys, &ok, 0), Ok(()));
    // The same signature claimed as SHA-256 does not verify.
    let relabelled = Grant { hash: HashAlgorithm::Sha256, ..sha1 };
    assert_eq!(verify(&relabelled, &keys, &ok, 0), Err(Denied::BadSignature));

    // A signed policy of another shape.
    let two = br#"{"Statement":[{"Resource":"https://h/*","Condition":{"DateLessThan":{"AWS:EpochTime":1}}},{"Resource":"https://h/*","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}"#;
    let malformed = Grant {
        policy: GrantPolicy::Custom(two.to_vec()),
        signature: key.sign(two, HashAlgorithm::Sha256),
        key_pair_id: ID.to_owned(),
        hash: HashAlgorithm::Sha256,
    };
    assert_eq!(verify(&malformed, &keys, &ok, 0), Err(Denied::MalformedPolicy));
}

#[test]
fn times_and_addresses() {
    let key = ec_key();
    let keys = trusted(&key);
    let grant = |policy: &Policy| {
        Grant::from_query(&sign_custom(policy, &key, ID, HashAlgorithm::Sha256).query)
            .expect("parses")
            .expect("present")
    };
    let url = "https://h/courses/py1/x";
    let at = |now: u64, ip: IpAddr| Request { url, now, client_ip: ip };
    let v4 = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));

    let mut policy = Policy::new("https://h/courses/py1/*", NOW);
    policy.date_greater_than = Some(NOW - 100);
    let windowed = grant(&policy);
    assert_eq!(verify(&windowed, &keys, &at(NOW - 1, v4), 0), Ok(()));
    assert_eq!(verify(&windowed, &keys, &at(NOW, v4), 0), Err(Denied::Expired));
    assert_eq!(verify(&windowed, &keys, &at(NOW + 29, v4), 30), Ok(()));
    assert_eq!(verify(&windowed, &keys, &at(NOW + 30, v4), 30), Err(Denied::Expired));
    assert_eq!(verify(&windowed, &keys, &at(NOW - 100, v4), 0), Ok(()));
    assert_eq!(verify(&windowed, &keys, &at(NOW - 101, v4), 0), Err(Denied::NotYetValid));
    assert_eq!(verify(&windowed, &keys, &at(NOW - 130, v4), 30), Ok(()));
    assert_eq!(verify(&windowed, &keys, &at(NOW - 131, v4), 30), Err(Denied::NotYetValid));
    // Saturation at the ends of time.
    let forever = grant(&Policy::new("https://h/courses/py1/*", u64::MAX));
    assert_eq!(verify(&forever, &keys, &at(u64::MAX - 1, v4), u64::MAX), Ok(()));

    policy = Policy::new("https://h/courses/py1/*", NOW + 10);
    policy.ip_address = Some("10.0.0.0/8".parse().expect("cidr"));
    let pinned = grant(&policy);
    assert_eq!(verify(&pinned, &keys, &at(NOW, v4), 0), Ok(()));
    let mapped = IpAddr::V6(Ipv4Addr::new(10, 9, 9, 9).to_ipv6_mapped());
    assert_eq!(verify(&pinned, &keys, &at(NOW, mapped), 0), Ok(()));
    let outside = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5));
    assert_eq!(verify(&pinned, &keys, &at(NOW, outside), 0), Err(Denied::WrongIp));
    assert_eq!(verify(&pinned, &keys, &at(NOW, IpAddr::V6(Ipv6Addr::LOCALHOST)), 0), Err(Denied::WrongIp));
    // Expiry is reported before the address.
    assert_eq!(verify(&pinned, &keys, &at(NOW + 10, outside), 0), Err(Denied::Expired));

    policy.ip_address = Some("2001:db8::/32".parse().expect("cidr"));
    let pinned6 = grant(&policy);
    assert_eq!(verify(&pinned6, &keys, &at(NOW, "2001:db8::1".parse().expect("ip")), 0), Ok(()));
    assert_eq!(verify(&pinned6, &keys, &at(NOW, v4), 0), Err(Denied::WrongIp));
}

#[test]
fn canned_grants_sign_the_exact_url() {
    let key = ec_key();
    let keys = trusted(&key);
    let url = "https://h/courses/py1/lesson/";
    let query = sign_canned(url, NOW + 5, &key, ID, HashAlgorithm::Sha256);
    assert!(query.starts_with(&format!("Expires={}&Signature=", NOW + 5)));
    let grant = Grant::from_query(&query).expect("parses").expect("present");
    assert_eq!(grant.canned_expires(), Some(NOW + 5));
    assert_eq!(verify(&grant, &keys, &request(url), 0), Ok(()));
    assert_eq!(
        verify(&grant, &keys, &request("https://h/courses/py1/lesson/x"), 0),
        Err(Denied::BadSignature)
    );
    assert_eq!(verify(&grant, &keys, &Request { now: NOW + 5, ..request(url) }, 0), Err(Denied::Expired));
    // The canned expiry is signed: moving it breaks the signature.
    let moved = Grant { policy: GrantPolicy::Canned { expires: NOW + 500 }, ..grant };
    assert_eq!(verify(&moved, &keys, &request(url), 0), Err(Denied::BadSignature));
}

#[test]
fn display_for_logs() {
    assert_eq!(Denied::WrongResource.to_string(), "grant is for another resource");
    assert_eq!(
        GrantError::TooLarge { param: "Policy", len: 5000, limit: 4096 }.to_string(),
        "Policy is 5000 bytes, over the 4096-byte limit"
    );
    assert_eq!("SHA256".parse::<HashAlgorithm>(), Ok(HashAlgorithm::Sha256));
    assert_eq!(HashAlgorithm::Sha1.as_str(), "SHA1");
}
