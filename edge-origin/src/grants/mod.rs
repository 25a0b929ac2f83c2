//! Grants for enrolled-only courses (CloudFront signed URLs and cookies): checking the
//! ones requests carry ([`verify`]), the edge's verdict on one ([`edge`]) and issuing new
//! ones to the LMS ([`issue`]).

pub(crate) mod edge;
pub(crate) mod issue;
pub(crate) mod verify;
