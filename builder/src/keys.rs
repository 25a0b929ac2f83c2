//! `course keys new`: a key pair for signing grants, written as PEM (PKCS#8 private key,
//! SPKI public key), with the lines to give edge-origin and CloudFront.
//!
//! ECDSA P-256 is the default: its signatures are constant-time in the `p256` crate, while
//! the `rsa` crate's private-key operation is not (RUSTSEC-2023-0071, the Marvin attack), which
//! matters for a signer that answers requests online (`POST /_origin/grants`). RSA-2048 is
//! offered for CDNs or tools that only take RSA keys.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rand_core::{OsRng, RngCore};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    /// ECDSA over P-256 (default).
    P256,
    /// RSA-2048 (PKCS#1 v1.5 signatures).
    Rsa,
}

/// What [`new_pair`] wrote.
#[derive(Debug)]
pub struct NewKeys {
    pub id: String,
    pub algorithm: Algorithm,
    pub private: PathBuf,
    pub public: PathBuf,
}

impl std::fmt::Display for NewKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (id, private, public) = (&self.id, self.private.display(), self.public.display());
        let kind = match self.algorithm {
            Algorithm::P256 => "ECDSA P-256",
            Algorithm::Rsa => "RSA-2048",
        };
        writeln!(f, "wrote {kind} key pair {id}:")?;
        writeln!(f, "  private key {private} (mode 0600: keep it secret)")?;
        writeln!(f, "  public key  {public}")?;
        writeln!(f, "edge-origin, to check grants:  --trusted-key {id}={public}")?;
        writeln!(f, "edge-origin, to issue grants:  --signing-key {private} --signing-key-pair-id {id}")?;
        writeln!(
            f,
            "offline grants:                course sign --key {private} --key-pair-id {id} --url-prefix ..."
        )?;
        write!(
            f,
            "CloudFront: upload {public} as a public key, add it to the distribution's trusted key group, \
             and use the id CloudFront gives it as the key pair id (rename the files to match)"
        )
    }
}

/// A key pair id like CloudFront's: `K` and 13 characters of A-Z and 2-7.
pub fn random_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = [0u8; 13];
    OsRng.fill_bytes(&mut bytes);
    std::iter::once('K').chain(bytes.iter().map(|b| ALPHABET[usize::from(*b) % 32] as char)).collect()
}

/// Writes `<dir>/<id>.pem` (private, mode 0600) and `<dir>/<id>.pub.pem`; refuses to
/// overwrite either.
pub fn new_pair(dir: &Path, id: &str, algorithm: Algorithm) -> anyhow::Result<NewKeys> {
    if !bundle::grant::is_valid_key_pair_id(id) {
        bail!("key pair id {id:?}: use 1 to 128 of A-Z a-z 0-9 - _");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let private = dir.join(format!("{id}.pem"));
    let public = dir.join(format!("{id}.pub.pem"));
    for path in [&private, &public] {
        if path.exists() {
            bail!("{} exists: refusing to overwrite a key", path.display());
        }
    }
    let (private_pem, public_pem) = match algorithm {
        Algorithm::P256 => {
            let secret = p256::SecretKey::random(&mut OsRng);
            let private_pem = secret.to_pkcs8_pem(LineEnding::LF).context("encoding the private key")?;
            let public_pem =
                secret.public_key().to_public_key_pem(LineEnding::LF).context("encoding the public key")?;
            (private_pem.to_string(), public_pem)
        }
        Algorithm::Rsa => {
            let secret = rsa::RsaPrivateKey::new(&mut OsRng, 2048).context("generating an RSA key")?;
            let private_pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&secret, LineEnding::LF)
                .context("encoding the private key")?;
            let public_pem = rsa::pkcs8::EncodePublicKey::to_public_key_pem(
                &rsa::RsaPublicKey::from(&secret),
                LineEnding::LF,
            )
            .context("encoding the public key")?;
            (private_pem.to_string(), public_pem)
        }
    };
    write_new(&private, private_pem.as_bytes(), 0o600)?;
    write_new(&public, public_pem.as_bytes(), 0o644)?;
    Ok(NewKeys { id: id.to_owned(), algorithm, private, public })
}

/// Creates `path` (never overwriting) with `mode` from the start, so a private key is never
/// readable by others, not even for a moment.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundle::grant::{
        sign_custom, verify, HashAlgorithm, Policy, Request, SigningKey, TrustedKeys, VerifyingKey,
    };

    #[test]
    fn new_pairs_sign_grants_that_verify() {
        let dir = tempfile::tempdir().expect("tempdir");
        for algorithm in [Algorithm::P256, Algorithm::Rsa] {
            let id = random_id();
            assert_eq!(id.len(), 14);
            let keys = new_pair(dir.path(), &id, algorithm).expect("keys");
            let private = std::fs::read_to_string(&keys.private).expect("private");
            let public = std::fs::read_to_string(&keys.public).expect("public");
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&keys.private).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let signer = SigningKey::from_pem(&private).expect("signing key");
            let mut trusted = TrustedKeys::new();
            trusted.insert(&id, VerifyingKey::from_pem(&public).expect("verifying key"));
            let policy = Policy::new("https://learn.test/courses/a/*", 2_000_000_000);
            let issued = sign_custom(&policy, &signer, &id, HashAlgorithm::Sha256);
            let grant = bundle::grant::Grant::from_query(&issued.query).expect("parse").expect("grant");
            let request = Request {
                url: "https://learn.test/courses/a/b/",
                now: 1_000_000_000,
                client_ip: [127, 0, 0, 1].into(),
            };
            assert_eq!(verify(&grant, &trusted, &request, 0), Ok(()));
            assert!(new_pair(dir.path(), &id, algorithm).is_err(), "never overwrites");
        }
    }
}
