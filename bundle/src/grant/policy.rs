//! The policy statement: the JSON document a grant signs.

use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use super::GrantError;

/// A custom policy: which resource, until when, from when, and from where.
///
/// [`Policy::to_json`] writes the exact bytes CloudFront expects (no whitespace, fixed field
/// order); [`Policy::from_json`] reads any JSON of the same shape, strictly.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    /// The URL (scheme://host/path) the grant is for; may contain the wildcards `*` (any run of
    /// characters, none included) and `?` (exactly one character).
    pub resource: String,
    /// Epoch seconds; the grant is valid strictly before this time.
    pub date_less_than: u64,
    /// Epoch seconds; when present, the grant is valid only from this time on.
    pub date_greater_than: Option<u64>,
    /// When present, only clients whose address is in this network may use the grant.
    pub ip_address: Option<IpNet>,
}

impl Policy {
    /// A policy for `resource` valid until `date_less_than`, with no other condition.
    pub fn new(resource: impl Into<String>, date_less_than: u64) -> Self {
        Policy { resource: resource.into(), date_less_than, date_greater_than: None, ip_address: None }
    }

    /// The custom policy JSON, byte for byte as CloudFront expects it:
    /// `{"Statement":[{"Resource":"<url>","Condition":{"DateLessThan":{"AWS:EpochTime":<secs>},`
    /// `"DateGreaterThan":{"AWS:EpochTime":<secs>},"IpAddress":{"AWS:SourceIp":"<cidr>"}}}]}`,
    /// the last two conditions only when set.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.resource.len() + 160);
        out.push_str(r#"{"Statement":[{"Resource":"#);
        push_json_string(&mut out, &self.resource);
        // Writing into a String cannot fail.
        let _ = write!(out, r#","Condition":{{"DateLessThan":{{"AWS:EpochTime":{}}}"#, self.date_less_than);
        if let Some(start) = self.date_greater_than {
            let _ = write!(out, r#","DateGreaterThan":{{"AWS:EpochTime":{start}}}"#);
        }
        if let Some(net) = self.ip_address {
            out.push_str(r#","IpAddress":{"AWS:SourceIp":"#);
            push_json_string(&mut out, &net.to_string());
            out.push('}');
        }
        out.push_str("}}]}");
        out
    }

    /// The canned policy CloudFront signs for a URL carrying `Expires=<expires>`: the exact
    /// `resource` and the expiry, nothing else. It is signed but never sent.
    pub fn canned_json(resource: &str, expires: u64) -> String {
        Policy::new(resource, expires).to_json()
    }

    /// Reads a policy statement. Exactly one statement with a `Resource` and a `Condition`
    /// holding `DateLessThan` and optionally `DateGreaterThan` and `IpAddress`; epoch times are
    /// non-negative integers; unknown or repeated fields are errors.
    pub fn from_json(json: &[u8]) -> Result<Policy, GrantError> {
        let doc: PolicyDoc =
            serde_json::from_slice(json).map_err(|e| GrantError::MalformedPolicy(e.to_string()))?;
        let [statement]: [StatementDoc; 1] = doc.statement.try_into().map_err(|v: Vec<StatementDoc>| {
            GrantError::MalformedPolicy(format!("{} statements, exactly one expected", v.len()))
        })?;
        if statement.resource.is_empty() {
            return Err(GrantError::MalformedPolicy("empty Resource".into()));
        }
        let condition = statement.condition;
        let ip_address = match condition.ip_address {
            None => None,
            Some(ip) => Some(parse_source_ip(&ip.source_ip).ok_or_else(|| {
                GrantError::MalformedPolicy(format!("AWS:SourceIp is not a CIDR: {:?}", ip.source_ip))
            })?),
        };
        Ok(Policy {
            resource: statement.resource,
            date_less_than: condition.date_less_than.epoch_time,
            date_greater_than: condition.date_greater_than.map(|t| t.epoch_time),
            ip_address,
        })
    }
}

/// `a.b.c.d/n` or `x::y/n`; a bare address means that one address.
fn parse_source_ip(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Appends `text` as a JSON string literal (quotes included).
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDoc {
    #[serde(rename = "Statement")]
    statement: Vec<StatementDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementDoc {
    #[serde(rename = "Resource")]
    resource: String,
    #[serde(rename = "Condition")]
    condition: ConditionDoc,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionDoc {
    #[serde(rename = "DateLessThan")]
    date_less_than: EpochDoc,
    #[serde(rename = "DateGreaterThan", default)]
    date_greater_than: Option<EpochDoc>,
    #[serde(rename = "IpAddress", default)]
    ip_address: Option<SourceIpDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EpochDoc {
    #[serde(rename = "AWS:EpochTime")]
    epoch_time: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceIpDoc {
    #[serde(rename = "AWS:SourceIp")]
    source_ip: String,
}
