//! Golden tests of `bundle::grant` against OpenSSL: keys made by `openssl genpkey`,
//! signatures made here checked by `openssl dgst -verify`, signatures made by
//! `openssl dgst -sign` accepted here, and the table of bad and good grants.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use bundle::grant::{
    decode_cf_base64, encode_cf_base64, sign_canned, sign_custom, verify, Denied, Grant, GrantError,
    HashAlgorithm, Policy, Request, SigningKey, TrustedKeys, VerifyingKey,
};

const NOW: u64 = 1_750_000_000;
const RSA_ID: &str = "K2JCJMDEHXQW5F";
const EC_ID: &str = "KEC256EXAMPLE1";

/// Runs openssl in `dir`; a missing openssl fails the test (never a skip).
fn openssl_output(dir: &Path, args: &[&str]) -> Output {
    match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("install openssl: apt-get install -y openssl")
        }
        Err(e) => panic!("running openssl {args:?}: {e}"),
    }
}

/// Runs openssl and requires success.
fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = openssl_output(dir, args);
    assert!(output.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect("read a file openssl wrote")
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), bytes).expect("write into the temporary directory");
}

/// The PEM texts of one key pair.
struct Pair {
    private: String,
    public: String,
}

struct Fixture {
    rsa: Pair,
    ec: Pair,
    /// The RSA key again, as PKCS#1 `RSA PRIVATE KEY` and `RSA PUBLIC KEY`.
    rsa_pkcs1: Pair,
    /// The EC key again, as SEC1 `EC PRIVATE KEY`.
    ec_sec1: String,
}

/// Keys are generated once per test binary (RSA generation is the slow part).
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempdir();
        let d = dir.path();
        openssl(d, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.pem"]);
        openssl(d, &["pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa.pub.pem"]);
        openssl(d, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.pem"]);
        openssl(d, &["pkey", "-in", "ec.pem", "-pubout", "-out", "ec.pub.pem"]);
        openssl(d, &["rsa", "-in", "rsa.pem", "-traditional", "-out", "rsa.pkcs1.pem"]);
        openssl(d, &["rsa", "-in", "rsa.pem", "-RSAPublicKey_out", "-out", "rsa.pkcs1.pub.pem"]);
        openssl(d, &["ec", "-in", "ec.pem", "-out", "ec.sec1.pem"]);
        Fixture {
            rsa: Pair { private: read(d, "rsa.pem"), public: read(d, "rsa.pub.pem") },
            ec: Pair { private: read(d, "ec.pem"), public: read(d, "ec.pub.pem") },
            rsa_pkcs1: Pair { private: read(d, "rsa.pkcs1.pem"), public: read(d, "rsa.pkcs1.pub.pem") },
            ec_sec1: read(d, "ec.sec1.pem"),
        }
    })
}

fn signing(pem: &str) -> SigningKey {
    SigningKey::from_pem(pem).expect("openssl's private key parses")
}

fn public(pem: &str) -> VerifyingKey {
    VerifyingKey::from_pem(pem).expect("openssl's public key parses")
}

fn trusted() -> TrustedKeys {
    let f = fixture();
    let mut keys = TrustedKeys::new();
    keys.insert(RSA_ID, public(&f.rsa.public));
    keys.insert(EC_ID, public(&f.ec.public));
    keys
}

fn digest_flag(hash: HashAlgorithm) -> &'static str {
    match hash {
        HashAlgorithm::Sha1 => "-sha1",
        HashAlgorithm::Sha256 => "-sha256",
    }
}

const HASHES: [HashAlgorithm; 2] = [HashAlgorithm::Sha256, HashAlgorithm::Sha1];

fn sample_policy() -> Policy {
    Policy {
        resource: "https://h/courses/py1/*".to_owned(),
        date_less_than: NOW + 3600,
        date_greater_than: Some(NOW - 60),
        ip_address: Some("192.168.0.0/16".parse().expect("cidr")),
    }
}

fn client() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5))
}

fn request(url: &str) -> Request<'_> {
    Request { url, now: NOW, client_ip: client() }
}

#[test]
fn key_formats_from_openssl() {
    let f = fixture();
    let rsa = signing(&f.rsa.private);
    let ec = signing(&f.ec.private);
    assert_eq!(rsa.algorithm(), "RSA-2048");
    assert_eq!(ec.algorithm(), "ECDSA-P256");
    assert_eq!(rsa.verifying_key(), public(&f.rsa.public));
    assert_eq!(ec.verifying_key(), public(&f.ec.public));
    // PKCS#1 and SEC1 forms are the same keys.
    assert_eq!(signing(&f.rsa_pkcs1.private).verifying_key(), rsa.verifying_key());
    assert_eq!(public(&f.rsa_pkcs1.public), rsa.verifying_key());
    assert_eq!(signing(&f.ec_sec1).verifying_key(), ec.verifying_key());
    // A public key is not a private key, and the other way round.
    assert!(matches!(SigningKey::from_pem(&f.rsa.public), Err(GrantError::Key(_))));
    assert!(matches!(VerifyingKey::from_pem(&f.ec.private), Err(GrantError::Key(_))));

    // `openssl ecparam -genkey` writes an EC PARAMETERS block before the key.
    let dir = tempdir();
    let d = dir.path();
    let with_params = openssl(d, &["ecparam", "-name", "prime256v1", "-genkey"]);
    let with_params = String::from_utf8(with_params).expect("PEM is text");
    assert!(with_params.contains("EC PARAMETERS"));
    assert_eq!(signing(&with_params).algorithm(), "ECDSA-P256");

    // Refused: short RSA keys, other curves, encrypted keys.
    openssl(d, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", "short.pem"]);
    openssl(d, &["pkey", "-in", "short.pem", "-pubout", "-out", "short.pub.pem"]);
    assert!(
        matches!(SigningKey::from_pem(&read(d, "short.pem")), Err(GrantError::Key(m)) if m.contains("1024"))
    );
    assert!(matches!(VerifyingKey::from_pem(&read(d, "short.pub.pem")), Err(GrantError::Key(_))));
    openssl(d, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "p384.pem"]);
    openssl(d, &["pkey", "-in", "p384.pem", "-pubout", "-out", "p384.pub.pem"]);
    assert!(matches!(SigningKey::from_pem(&read(d, "p384.pem")), Err(GrantError::Key(_))));
    assert!(matches!(VerifyingKey::from_pem(&read(d, "p384.pub.pem")), Err(GrantError::Key(_))));
    openssl(d, &["pkey", "-in", "p384.pem", "-aes256", "-passout", "pass:secret", "-out", "enc.pem"]);
    assert!(
        matches!(SigningKey::from_pem(&read(d, "enc.pem")), Err(GrantError::Key(m)) if m.contains("encrypted"))
    );
}

#[test]
fn our_signatures_verify_with_openssl() {
    let f = fixture();
    let dir = tempdir();
    let d = dir.path();
    let json = sample_policy().to_json();
    write(d, "policy.json", &json);
    write(d, "tampered.json", json.replace("py1", "py2"));
    for (name, pair) in [("rsa", &f.rsa), ("ec", &f.ec)] {
        write(d, "pub.pem", &pair.public);
        let key = signing(&pair.private);
        for hash in HASHES {
            write(d, "sig.bin", key.sign(json.as_bytes(), hash));
            let args = ["dgst", digest_flag(hash), "-verify", "pub.pem", "-signature", "sig.bin"];
            let ok = openssl_output(d, &[&args[..], &["policy.json"]].concat());
            assert!(
                ok.status.success() && String::from_utf8_lossy(&ok.stdout).contains("Verified OK"),
                "{name} {hash:?}: openssl refused our signature: {}{}",
                String::from_utf8_lossy(&ok.stdout),
                String::from_utf8_lossy(&ok.stderr)
            );
            let bad = openssl_output(d, &[&args[..], &["tampered.json"]].concat());
            assert!(!bad.status.success(), "{name} {hash:?}: openssl accepted a tampered policy");
        }
    }
}

#[test]
fn openssl_signatures_verify_here() {
    let f = fixture();
    let keys = trusted();
    let dir = tempdir();
    let d = dir.path();
    let policy = sample_policy();
    let json = policy.to_json();
    write(d, "policy.json", &json);
    let url = "https://h/courses/py1/lesson/";
    let canned = Policy::canned_json(url, NOW + 60);
    write(d, "canned.json", &canned);

    for (id, pair) in [(RSA_ID, &f.rsa), (EC_ID, &f.ec)] {
        write(d, "key.pem", &pair.private);
        // ECDSA signatures are randomised: several rounds cover both low and high `s`.
        let rounds = if id == EC_ID { 8 } else { 1 };
        for hash in HASHES {
            let hash_param = match hash {
                HashAlgorithm::Sha256 => "&Hash-Algorithm=SHA256",
                HashAlgorithm::Sha1 => "",
            };
            for _ in 0..rounds {
                let signature = openssl(d, &["dgst", digest_flag(hash), "-sign", "key.pem", "policy.json"]);
                // Built by hand, as a third-party signer would.
                let query = format!(
                    "lang=en&Policy={}&Signature={}&Key-Pair-Id={id}{hash_param}",
                    encode_cf_base64(json.as_bytes()),
                    encode_cf_base64(&signature)
                );
                let grant = Grant::from_query(&query).expect("parses").expect("present");
                assert_eq!(grant.hash, hash);
                assert_eq!(verify(&grant, &keys, &request(url), 0), Ok(()), "{id} {hash:?} URL");
                assert_eq!(
                    verify(&grant, &keys, &request("https://h/courses/py2/lesson/"), 0),
                    Err(Denied::WrongResource)
                );

                let mut cookie = format!(
                    "other=1; CloudFront-Policy={}; CloudFront-Signature={}; CloudFront-Key-Pair-Id={id}",
                    encode_cf_base64(json.as_bytes()),
                    encode_cf_base64(&signature)
                );
                if hash == HashAlgorithm::Sha256 {
                    cookie.push_str("; CloudFront-Hash-Algorithm=SHA256");
                }
                let grant = Grant::from_cookie_header(&cookie).expect("parses").expect("present");
                assert_eq!(verify(&grant, &keys, &request(url), 0), Ok(()), "{id} {hash:?} cookie");

                let signature = openssl(d, &["dgst", digest_flag(hash), "-sign", "key.pem", "canned.json"]);
                let query = format!(
                    "Expires={}&Signature={}&Key-Pair-Id={id}{hash_param}",
                    NOW + 60,
                    encode_cf_base64(&signature)
                );
                let grant = Grant::from_query(&query).expect("parses").expect("present");
                assert_eq!(verify(&grant, &keys, &request(url), 0), Ok(()), "{id} {hash:?} canned");
            }
        }
    }
}

/// What a case must come to.
#[derive(Debug)]
enum Expect {
    Accepted,
    Denied(Denied),
    Unparsable(fn(&GrantError) -> bool),
}

enum Form {
    Query(String),
    Cookie(String),
}

struct Case {
    name: &'static str,
    form: Form,
    url: &'static str,
    now: u64,
    client_ip: IpAddr,
    skew: u64,
    expect: Expect,
}

fn case(name: &'static str, form: Form, url: &'static str, expect: Expect) -> Case {
    Case { name, form, url, now: NOW, client_ip: client(), skew: 0, expect }
}

fn cookie_header(cookies: &[(String, String)]) -> String {
    let mut parts = vec!["session=s3cr3t".to_owned()];
    parts.extend(cookies.iter().map(|(name, value)| format!("{name}={value}")));
    parts.join("; ")
}

/// Replaces the value of query parameter `name`.
fn with_param(query: &str, name: &str, value: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((n, _)) if n == name => format!("{n}={value}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn param<'q>(query: &'q str, name: &str) -> &'q str {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
        .expect("parameter present")
}

fn run(cases: Vec<Case>) {
    let keys = trusted();
    let mut failures = Vec::new();
    for case in &cases {
        let parsed = match &case.form {
            Form::Query(query) => Grant::from_query(query),
            Form::Cookie(header) => Grant::from_cookie_header(header),
        };
        let request = Request { url: case.url, now: case.now, client_ip: case.client_ip };
        let outcome = parsed.map(|grant| grant.map(|grant| verify(&grant, &keys, &request, case.skew)));
        let ok = match (&case.expect, &outcome) {
            (Expect::Accepted, Ok(Some(Ok(())))) => true,
            (Expect::Denied(want), Ok(Some(Err(got)))) => want == got,
            (Expect::Unparsable(check), Err(error)) => check(error),
            _ => false,
        };
        if !ok {
            failures.push(format!("{}: expected {:?}, got {:?}", case.name, case.expect, outcome));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn grant_table(key: &SigningKey, id: &'static str) -> Vec<Case> {
    let sha256 = HashAlgorithm::Sha256;
    let py1 = Policy::new("https://h/courses/py1/*", NOW + 3600);
    let issued = sign_custom(&py1, key, id, sha256);
    let q = issued.query.clone();
    let lesson = "https://h/courses/py1/lesson/";

    // One byte of the policy JSON changed, re-encoded: the signature no longer covers it.
    let mut json = decode_cf_base64(param(&q, "Policy")).expect("own policy decodes");
    let at = json.iter().position(|&b| b == b'1').expect("a digit in the policy");
    json[at] = b'2';
    let tampered_policy = with_param(&q, "Policy", &encode_cf_base64(&json));
    let mut signature = decode_cf_base64(param(&q, "Signature")).expect("own signature decodes");
    let last = signature.len() - 1;
    signature[last] ^= 0x01;
    let tampered_signature = with_param(&q, "Signature", &encode_cf_base64(&signature));
    let truncated_signature = {
        let s = param(&q, "Signature");
        with_param(&q, "Signature", &s[..s.len() - 1])
    };
    let truncated_policy = {
        let p = param(&q, "Policy");
        with_param(&q, "Policy", &p[..p.len() - 3])
    };

    let sign = |policy: &Policy| sign_custom(policy, key, id, sha256).query;
    let expired = sign(&Policy::new("https://h/courses/py1/*", NOW - 31));
    let expired_10s = sign(&Policy::new("https://h/courses/py1/*", NOW - 10));
    let mut future = Policy::new("https://h/courses/py1/*", NOW + 3600);
    future.date_greater_than = Some(NOW + 31);
    let not_yet = sign(&future);
    let py2 = sign(&Policy::new("https://h/courses/py2/*", NOW + 3600));
    let huge = sign(&Policy::new(format!("https://h/courses/py1/{}*", "x".repeat(3100)), NOW + 3600));
    let mut pinned = py1.clone();
    pinned.ip_address = Some("10.0.0.0/8".parse().expect("cidr"));
    let pinned = sign(&pinned);
    let canned = sign_canned(lesson, NOW + 3600, key, id, sha256);
    let sha1 = sign_custom(&py1, key, id, HashAlgorithm::Sha1).query;
    let sha1_as_sha256 = format!("{sha1}&Hash-Algorithm=SHA256");
    let sha256_as_sha1 = q.replace("&Hash-Algorithm=SHA256", "");
    let other_id = if id == RSA_ID { EC_ID } else { RSA_ID };
    let two_statements = {
        let json = format!(
            r#"{{"Statement":[{},{}]}}"#,
            r#"{"Resource":"https://h/courses/py1/*","Condition":{"DateLessThan":{"AWS:EpochTime":1750003600}}}"#,
            r#"{"Resource":"https://h/*","Condition":{"DateLessThan":{"AWS:EpochTime":1750003600}}}"#
        );
        format!(
            "Policy={}&Signature={}&Key-Pair-Id={id}&Hash-Algorithm=SHA256",
            encode_cf_base64(json.as_bytes()),
            encode_cf_base64(&key.sign(json.as_bytes(), sha256))
        )
    };

    let is_base64 = |e: &GrantError| matches!(e, GrantError::InvalidBase64(_));
    let is_too_large = |e: &GrantError| matches!(e, GrantError::TooLarge { param: "Policy", .. });
    let is_missing = |e: &GrantError| matches!(e, GrantError::Missing(_));
    let is_duplicate = |e: &GrantError| matches!(e, GrantError::Duplicate(_));
    use Expect::{Accepted, Denied as D, Unparsable};
    use Form::{Cookie, Query};
    vec![
        // Bad grants.
        case("tampered policy", Query(tampered_policy), lesson, D(Denied::BadSignature)),
        case("tampered signature", Query(tampered_signature), lesson, D(Denied::BadSignature)),
        case(
            "wrong key pair id",
            Query(with_param(&q, "Key-Pair-Id", "KUNKNOWN")),
            lesson,
            D(Denied::UnknownKeyPair),
        ),
        case(
            "other trusted key's id",
            Query(with_param(&q, "Key-Pair-Id", other_id)),
            lesson,
            D(Denied::BadSignature),
        ),
        Case { skew: 30, ..case("expired 1 s past skew", Query(expired), lesson, D(Denied::Expired)) },
        Case {
            skew: 30,
            ..case("not yet valid 1 s past skew", Query(not_yet), lesson, D(Denied::NotYetValid))
        },
        case("other course", Query(py2.clone()), lesson, D(Denied::WrongResource)),
        case(
            "prefix confusion",
            Query(q.clone()),
            "https://h/courses/py10/lesson/",
            D(Denied::WrongResource),
        ),
        case(
            "course root without slash",
            Query(q.clone()),
            "https://h/courses/py1",
            D(Denied::WrongResource),
        ),
        case(
            "other host",
            Query(q.clone()),
            "https://h.evil.example/courses/py1/lesson/",
            D(Denied::WrongResource),
        ),
        case("other scheme", Query(q.clone()), "http://h/courses/py1/lesson/", D(Denied::WrongResource)),
        case(
            "cookie for another course",
            Cookie(cookie_header(
                &sign_custom(&Policy::new("https://h/courses/py2/*", NOW + 3600), key, id, sha256).cookies,
            )),
            lesson,
            D(Denied::WrongResource),
        ),
        case("truncated signature base64", Query(truncated_signature), lesson, Unparsable(is_base64)),
        case("truncated policy base64", Query(truncated_policy), lesson, Unparsable(is_base64)),
        case("huge policy", Query(huge), lesson, Unparsable(is_too_large)),
        case("wrong ip", Query(pinned.clone()), lesson, D(Denied::WrongIp)),
        case(
            "canned grant on another URL",
            Query(canned.clone()),
            "https://h/courses/py1/other/",
            D(Denied::BadSignature),
        ),
        case("SHA-1 signature labelled SHA-256", Query(sha1_as_sha256), lesson, D(Denied::BadSignature)),
        case("SHA-256 signature without its label", Query(sha256_as_sha1), lesson, D(Denied::BadSignature)),
        case("two statements", Query(two_statements), lesson, D(Denied::MalformedPolicy)),
        case(
            "partial grant",
            Query(format!("Policy={}", param(&q, "Policy"))),
            lesson,
            Unparsable(is_missing),
        ),
        case(
            "repeated signature",
            Query(format!("{q}&Signature={}", param(&q, "Signature"))),
            lesson,
            Unparsable(is_duplicate),
        ),
        // Good grants.
        case("custom URL form", Query(format!("lang=en&{q}")), lesson, Accepted),
        case("cookie form", Cookie(cookie_header(&issued.cookies)), lesson, Accepted),
        case("canned form", Query(canned), lesson, Accepted),
        case("SHA-1 form", Query(sha1), lesson, Accepted),
        Case { skew: 30, ..case("expired 10 s ago, 30 s skew", Query(expired_10s), lesson, Accepted) },
        Case {
            client_ip: IpAddr::V4(Ipv4Addr::new(10, 20, 30, 40)),
            ..case("ip in range", Query(pinned), lesson, Accepted)
        },
        case("wildcard covers nested pages", Query(q.clone()), "https://h/courses/py1/a/b/c.png", Accepted),
        case("host case ignored", Query(q), "https://H/courses/py1/lesson/", Accepted),
    ]
}

#[test]
fn grant_table_rsa() {
    run(grant_table(&signing(&fixture().rsa.private), RSA_ID));
}

#[test]
fn grant_table_ecdsa() {
    run(grant_table(&signing(&fixture().ec.private), EC_ID));
}
