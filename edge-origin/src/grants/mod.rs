//! Grants for enrolled-only courses (CloudFront signed URLs and cookies): checking the
//! ones requests carry ([`verify`]) and issuing new ones to the LMS ([`issue`]).

pub(crate) mod issue;
pub(crate) mod verify;
