//! The end-to-end tests: one binary (linking the AWS SDK once), one module per feature,
//! sharing the harness in `tests/src` (the `e2e` library). Run one feature with
//! `cargo test -p e2e --test testsuite <module>::`.
//!
//! All modules share one process: a test that sets this process's environment (AWS
//! credentials for its Garage or moto, the publish hooks) holds [`e2e::lock_process_env`],
//! and every `course` a test starts comes from [`e2e::course`], which drops the hooks.

mod access_grants;
mod browser_pages;
mod content_errors;
mod content_trust;
mod course_pack;
mod drafts;
mod edge_fleet;
mod edge_grants;
mod edge_warm;
mod external_links;
mod generate;
mod history;
mod incremental;
mod invalidate;
mod live_authoring;
mod offline;
mod origin_cache;
mod origin_client_ip;
mod origin_config_errors;
mod origin_http;
mod origin_limits;
mod origin_load_failures;
mod origin_operations;
mod origin_release_follow;
mod origin_s3;
mod origin_varnish;
mod publish;
mod publish_cli;
mod publish_race;
mod release_store;
mod search;
