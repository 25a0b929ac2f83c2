//! Signing and verifying keys: RSA (PKCS#1 v1.5, 2048 to 4096 bits) and ECDSA P-256 (DER
//! signatures), read from PEM.

use std::fmt;

use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{GrantError, HashAlgorithm};

/// RSA keys below this size are refused (CloudFront uses 2048-bit keys).
const MIN_RSA_BITS: usize = 2048;
/// RSA keys above this size are refused (bounds the cost of a verification).
const MAX_RSA_BITS: usize = 4096;

/// A private key that issues grants. Its `Debug` shows the algorithm only, never the key.
#[derive(Clone)]
pub struct SigningKey(SigningInner);

#[derive(Clone)]
enum SigningInner {
    Rsa(Box<RsaPrivateKey>),
    Ec(p256::ecdsa::SigningKey),
}

/// A public key that checks grants.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey(VerifyingInner);

#[derive(Clone, PartialEq, Eq)]
enum VerifyingInner {
    Rsa(RsaPublicKey),
    Ec(p256::ecdsa::VerifyingKey),
}

impl SigningKey {
    /// Reads the first private key PEM block: PKCS#8 `PRIVATE KEY` (RSA or P-256), PKCS#1
    /// `RSA PRIVATE KEY`, or SEC1 `EC PRIVATE KEY` (other blocks, such as `EC PARAMETERS`,
    /// are skipped). Encrypted keys, other curves and RSA keys under 2048 bits are refused.
    pub fn from_pem(pem: &str) -> Result<Self, GrantError> {
        let (label, block) = pem_block(pem, &["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"])?;
        let inner = match label {
            "RSA PRIVATE KEY" => SigningInner::Rsa(Box::new(
                RsaPrivateKey::from_pkcs1_pem(block).map_err(|e| key_error("PKCS#1 RSA private key", e))?,
            )),
            "EC PRIVATE KEY" => SigningInner::Ec(
                p256::SecretKey::from_sec1_pem(block)
                    .map_err(|e| key_error("SEC1 P-256 private key", e))?
                    .into(),
            ),
            _ => match RsaPrivateKey::from_pkcs8_pem(block) {
                Ok(key) => SigningInner::Rsa(Box::new(key)),
                Err(rsa_err) => match p256::SecretKey::from_pkcs8_pem(block) {
                    Ok(key) => SigningInner::Ec(key.into()),
                    Err(ec_err) => {
                        return Err(GrantError::Key(format!(
                            "PKCS#8 private key is neither RSA ({rsa_err}) nor P-256 ({ec_err})"
                        )))
                    }
                },
            },
        };
        if let SigningInner::Rsa(key) = &inner {
            check_rsa_size(key.size())?;
            key.validate().map_err(|e| key_error("RSA private key", e))?;
        }
        Ok(SigningKey(inner))
    }

    /// Whether this is an RSA key (whose signing here is not constant-time).
    pub fn is_rsa(&self) -> bool {
        matches!(self.0, SigningInner::Rsa(_))
    }

    /// Signs `message` (the policy JSON bytes): RSASSA-PKCS1-v1_5, or ECDSA P-256 with a DER
    /// signature. Deterministic for both (RFC 6979 nonces for ECDSA).
    ///
    /// RSA signing here is unblinded (no randomness in this crate); prefer ECDSA keys for a
    /// signer that answers requests online.
    pub fn sign(&self, message: &[u8], hash: HashAlgorithm) -> Vec<u8> {
        match &self.0 {
            SigningInner::Rsa(key) => {
                let result = match hash {
                    HashAlgorithm::Sha1 => key.sign(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(message)),
                    HashAlgorithm::Sha256 => {
                        key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message))
                    }
                };
                // Only fails for a modulus too small for the digest info; keys are >= 2048 bits.
                result.expect("RSA PKCS#1 v1.5 signing with a key of at least 2048 bits")
            }
            SigningInner::Ec(key) => {
                let signature: p256::ecdsa::Signature = key
                    .sign_prehash(&digest(hash, message))
                    .expect("ECDSA P-256 signing of a 20- or 32-byte digest");
                signature.to_der().as_bytes().to_vec()
            }
        }
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(match &self.0 {
            SigningInner::Rsa(key) => VerifyingInner::Rsa(key.to_public_key()),
            SigningInner::Ec(key) => VerifyingInner::Ec(*key.verifying_key()),
        })
    }

    /// `"RSA-<bits>"` or `"ECDSA-P256"`.
    pub fn algorithm(&self) -> String {
        self.verifying_key().algorithm()
    }

    #[cfg(test)]
    pub(super) fn ec_from_scalar(bytes: &[u8; 32]) -> Self {
        SigningKey(SigningInner::Ec(
            p256::ecdsa::SigningKey::from_slice(bytes).expect("a valid P-256 scalar"),
        ))
    }
}

impl VerifyingKey {
    /// Reads the first public key PEM block: SPKI `PUBLIC KEY` (RSA or P-256) or PKCS#1
    /// `RSA PUBLIC KEY`. Other curves and RSA keys under 2048 or over 4096 bits are refused.
    pub fn from_pem(pem: &str) -> Result<Self, GrantError> {
        let (label, block) = pem_block(pem, &["PUBLIC KEY", "RSA PUBLIC KEY"])?;
        let inner = match label {
            "RSA PUBLIC KEY" => VerifyingInner::Rsa(
                RsaPublicKey::from_pkcs1_pem(block).map_err(|e| key_error("PKCS#1 RSA public key", e))?,
            ),
            _ => match RsaPublicKey::from_public_key_pem(block) {
                Ok(key) => VerifyingInner::Rsa(key),
                Err(rsa_err) => match p256::ecdsa::VerifyingKey::from_public_key_pem(block) {
                    Ok(key) => VerifyingInner::Ec(key),
                    Err(ec_err) => {
                        return Err(GrantError::Key(format!(
                            "public key is neither RSA ({rsa_err}) nor P-256 ({ec_err})"
                        )))
                    }
                },
            },
        };
        if let VerifyingInner::Rsa(key) = &inner {
            check_rsa_size(key.size())?;
        }
        Ok(VerifyingKey(inner))
    }

    /// Whether `signature` is a valid signature of `message` under this key with `hash`. An
    /// ECDSA signature must be DER-encoded (as CloudFront's are); both low and high `s` pass,
    /// as with OpenSSL.
    pub fn verify(&self, message: &[u8], signature: &[u8], hash: HashAlgorithm) -> bool {
        match &self.0 {
            VerifyingInner::Rsa(key) => match hash {
                HashAlgorithm::Sha1 => {
                    key.verify(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(message), signature).is_ok()
                }
                HashAlgorithm::Sha256 => {
                    key.verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message), signature).is_ok()
                }
            },
            VerifyingInner::Ec(key) => match p256::ecdsa::Signature::from_der(signature) {
                Ok(signature) => key.verify_prehash(&digest(hash, message), &signature).is_ok(),
                Err(_) => false,
            },
        }
    }

    /// `"RSA-<bits>"` or `"ECDSA-P256"`.
    pub fn algorithm(&self) -> String {
        match &self.0 {
            VerifyingInner::Rsa(key) => format!("RSA-{}", key.size() * 8),
            VerifyingInner::Ec(_) => "ECDSA-P256".to_owned(),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.algorithm())
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", self.algorithm())
    }
}

fn digest(hash: HashAlgorithm, message: &[u8]) -> Vec<u8> {
    match hash {
        HashAlgorithm::Sha1 => Sha1::digest(message).to_vec(),
        HashAlgorithm::Sha256 => Sha256::digest(message).to_vec(),
    }
}

fn check_rsa_size(bytes: usize) -> Result<(), GrantError> {
    let bits = bytes * 8;
    if (MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(GrantError::Key(format!("RSA key of {bits} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} accepted")))
    }
}

fn key_error(what: &str, error: impl fmt::Display) -> GrantError {
    GrantError::Key(format!("{what}: {error}"))
}

/// The first PEM block (from `-----BEGIN` to its `-----END` line) whose label is one of
/// `labels`, with that label.
fn pem_block<'a>(pem: &'a str, labels: &[&'static str]) -> Result<(&'static str, &'a str), GrantError> {
    const BEGIN: &str = "-----BEGIN ";
    let mut from = 0;
    let mut saw_encrypted = false;
    while let Some(found) = pem[from..].find(BEGIN) {
        let start = from + found;
        let label_start = start + BEGIN.len();
        let Some(label_len) = pem[label_start..].find("-----") else { break };
        let label = &pem[label_start..label_start + label_len];
        if let Some(&known) = labels.iter().find(|&&l| l == label) {
            let end_marker = format!("-----END {known}-----");
            let Some(end) = pem[label_start..].find(&end_marker) else {
                return Err(GrantError::Key(format!("unterminated {known} PEM block")));
            };
            return Ok((known, &pem[start..label_start + end + end_marker.len()]));
        }
        saw_encrypted |= label.starts_with("ENCRYPTED");
        from = label_start + label_len;
    }
    if saw_encrypted {
        return Err(GrantError::Key("encrypted private keys are not supported".into()));
    }
    Err(GrantError::Key(format!("no PEM block labelled {}", labels.join(" or "))))
}
