//! What every request handler shares: the release being served, the object cache, the
//! grant checker and issuer, metrics and the access log (built by `server.rs`).

use std::sync::Arc;

use crate::access_log::AccessLog;
use crate::cache::ObjectCache;
use crate::grants::issue::Issuer;
use crate::grants::verify::Verifier;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::release::Current;

pub(crate) struct State {
    pub current: Arc<Current>,
    pub objects: Arc<ObjectCache>,
    pub metrics: Arc<Metrics>,
    /// Bearer token of the admin endpoints; `None` turns them off.
    pub admin_token: Option<String>,
    pub verifier: Verifier,
    /// `false` only in local previews: enrolled courses open without grants.
    pub enforce_grants: bool,
    pub issuer: Option<Issuer>,
    pub access_log: AccessLog,
    /// `course serve`'s live reload and error overlay (`None` everywhere else).
    pub live: Option<Arc<Live>>,
}
