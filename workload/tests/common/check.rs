//! Line checker: parses one event line and verifies the documented shape, key
//! order, compact formatting, id patterns and per-action resource/metadata rules.

use auditlog_workload::ACTIONS;

use super::json::{Json, dump, parse};

const TOP_KEYS: [&str; 8] = [
    "timestamp",
    "actor",
    "organization",
    "action",
    "resource",
    "outcome",
    "ip_address",
    "user_agent",
];
const TLDS: [&str; 6] = ["com", "io", "co", "dev", "ai", "net"];
const ROLES: [&str; 7] = [
    "admin",
    "owner",
    "billing_admin",
    "developer",
    "viewer",
    "auditor",
    "support",
];
const PLANS: [&str; 5] = ["free", "starter", "pro", "business", "enterprise"];
const ENVS: [&str; 3] = ["production", "staging", "development"];
const SCOPES: [&str; 7] = [
    "read",
    "write",
    "admin",
    "flags:read",
    "flags:write",
    "audit:read",
    "billing:read",
];
const API_UAS: [&str; 8] = [
    "python-requests/2.31.0",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "okhttp/4.12.0",
    "axios/1.6.7",
    "acme-cli/2.4.1 (linux; amd64)",
    "Terraform/1.7.4 terraform-provider-acme/0.9.2",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
];

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

fn is_b36(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn has_id(s: &str, prefix: &str, n: usize, pred: fn(u8) -> bool) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == n && rest.bytes().all(pred))
}

fn lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn check_timestamp(ts: &str) -> Result<(), String> {
    let b = ts.as_bytes();
    let digits_at = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    ensure(
        b.len() == 20
            && digits_at.iter().all(|&i| b[i].is_ascii_digit())
            && (b[4], b[7], b[10], b[13], b[16], b[19]) == (b'-', b'-', b'T', b':', b':', b'Z'),
        || format!("bad timestamp {ts}"),
    )?;
    let num = |r: std::ops::Range<usize>| ts[r].parse::<u32>().unwrap_or(99);
    ensure(
        (1..=12).contains(&num(5..7))
            && (1..=31).contains(&num(8..10))
            && num(11..13) < 24
            && num(14..16) < 60
            && num(17..19) < 60,
        || format!("timestamp out of range {ts}"),
    )
}

fn check_email(email: &str, org_name: &str) -> Result<(), String> {
    let (local, domain) = email
        .split_once('@')
        .ok_or_else(|| format!("no @ in {email}"))?;
    let base = local.trim_end_matches(|c: char| c.is_ascii_digit());
    let suffix = &local[base.len()..];
    let (first, last) = base
        .split_once('.')
        .ok_or_else(|| format!("bad local {local}"))?;
    ensure(
        [first, last]
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
            && (suffix.is_empty() || (2..=99).contains(&suffix.parse::<u32>().unwrap_or(0))),
        || format!("bad email local part {local}"),
    )?;
    let (host, tld) = domain
        .rsplit_once('.')
        .ok_or_else(|| format!("bad domain {domain}"))?;
    let words: Vec<&str> = org_name.split(' ').collect();
    let expected_host = format!("{}{}", words[0], words.get(1).unwrap_or(&"")).to_lowercase();
    ensure(TLDS.contains(&tld) && host == expected_host, || {
        format!("{email} vs {org_name}")
    })
}

fn check_ip(ip: &str) -> Result<(), String> {
    if let Some(rest) = ip.strip_prefix("2001:db8:") {
        let groups: Vec<&str> = rest.split(':').collect();
        let hex_group = |g: &str| (1..=4).contains(&g.len()) && g.bytes().all(lower_hex);
        return ensure(
            groups.len() == 4
                && groups[2].is_empty()
                && [0, 1, 3].iter().all(|&i| hex_group(groups[i])),
            || format!("bad IPv6 {ip}"),
        );
    }
    let (net, host) = ip.rsplit_once('.').ok_or_else(|| format!("bad IP {ip}"))?;
    ensure(
        ["192.0.2", "198.51.100", "203.0.113"].contains(&net)
            && (1..=254).contains(&host.parse::<u32>().unwrap_or(0))
            && !host.starts_with('0'),
        || format!("bad IPv4 {ip}"),
    )
}

fn check_resource(action: &str, res: &Json, org_id: &str) -> Result<(), String> {
    ensure(res.keys() == ["type", "id"], || {
        format!("resource keys {:?}", res.keys())
    })?;
    let (kind, id) = (res.str_at("type"), res.str_at("id"));
    let ok = match action.split('.').next().unwrap_or_default() {
        "auth" => kind == "session" && has_id(id, "ses_", 8, lower_hex),
        "billing" if action.contains("invoice") => {
            kind == "invoice" && has_id(id, "in_", 6, |b| b.is_ascii_digit())
        }
        "billing" if action.contains("payment_method") => {
            kind == "payment_method" && has_id(id, "pm_", 8, lower_hex)
        }
        "billing" => {
            kind == "subscription" && id.strip_prefix("sub_") == org_id.strip_prefix("org_")
        }
        "feature_flag" => {
            let parts: Vec<&str> = id.split('-').collect();
            kind == "flag"
                && parts.len() == 3
                && parts.iter().all(|p| is_b36(p, p.len()) && !p.is_empty())
        }
        "config" if action.contains("secret") => {
            kind == "secret" && has_id(id, "sec_", 6, lower_hex)
        }
        "config" if action.contains("webhook") => {
            kind == "webhook" && has_id(id, "wh_", 6, lower_hex)
        }
        "config" => kind == "config_key" && id.contains('.'),
        "api_key" => kind == "api_key" && id.strip_prefix("key_").is_some_and(|k| is_b36(k, 12)),
        "permission" => {
            kind == "role" && id.strip_prefix("role_").is_some_and(|r| ROLES.contains(&r))
        }
        "user" => kind == "user" && id.strip_prefix("usr_").is_some_and(|u| is_b36(u, 10)),
        "data_export" => kind == "export" && has_id(id, "exp_", 8, lower_hex),
        _ => false,
    };
    ensure(ok, || format!("bad resource {kind}/{id} for {action}"))
}

fn check_metadata(
    action: &str,
    outcome: &str,
    resource_id: &str,
    meta: Option<&Json>,
) -> Result<(), String> {
    let keys = meta.map(Json::keys).unwrap_or_default();
    let m = |k: &str| meta.and_then(|m| m.get(k)).cloned().unwrap_or(Json::Null);
    let s = |k: &str| m(k).as_str().unwrap_or_default().to_owned();
    let is_bool = |k: &str| matches!(m(k), Json::Bool(_));
    let env_ok = || ENVS.contains(&s("environment").as_str());
    let ok = match action {
        "auth.login" | "auth.sso.login" => {
            let reason = match outcome {
                "success" => None,
                "failure" => Some("invalid_credentials"),
                _ => Some("ip_not_allowed"),
            };
            let expected_keys: &[&str] = if reason.is_some() {
                &["method", "mfa", "reason"]
            } else {
                &["method", "mfa"]
            };
            let method_ok = if action == "auth.sso.login" {
                s("method") == "sso"
            } else {
                ["password", "oauth_google"].contains(&s("method").as_str())
            };
            keys == expected_keys
                && method_ok
                && is_bool("mfa")
                && reason.is_none_or(|r| s("reason") == r)
        }
        "billing.payment_method.update" => {
            keys == ["brand", "last4"]
                && ["visa", "mastercard"].contains(&s("brand").as_str())
                && s("last4").len() == 4
                && s("last4").bytes().all(|b| b.is_ascii_digit())
        }
        "billing.plan.change" => {
            keys == ["from", "to"]
                && PLANS.contains(&s("from").as_str())
                && PLANS.contains(&s("to").as_str())
                && s("from") != s("to")
        }
        "feature_flag.toggle" => {
            keys == ["environment", "previous", "new"]
                && env_ok()
                && matches!((m("previous"), m("new")), (Json::Bool(a), Json::Bool(b)) if a != b)
        }
        "feature_flag.override.create" | "feature_flag.override.delete" => {
            keys == ["environment", "target", "value"]
                && env_ok()
                && ["org", "user"].contains(&s("target").as_str())
                && is_bool("value")
        }
        "feature_flag.update" => {
            keys == ["environment", "rollout_pct"]
                && env_ok()
                && m("rollout_pct").as_uint().is_some_and(|p| p <= 100)
        }
        "feature_flag.create" | "feature_flag.delete" => keys == ["environment"] && env_ok(),
        "config.update" => keys == ["key", "environment"] && s("key") == resource_id && env_ok(),
        "api_key.use" => {
            keys == ["endpoint", "method"]
                && ["/v1/flags", "/v1/events", "/v1/config", "/v1/users"]
                    .contains(&s("endpoint").as_str())
                && ["GET", "POST"].contains(&s("method").as_str())
        }
        "api_key.create" => match m("scopes") {
            Json::Arr(items) => {
                let names: Vec<&str> = items.iter().filter_map(Json::as_str).collect();
                keys == ["scopes"]
                    && (1..=3).contains(&names.len())
                    && names.len() == items.len()
                    && names.windows(2).all(|w| w[0] < w[1])
                    && names.iter().all(|n| SCOPES.contains(n))
            }
            _ => false,
        },
        "permission.role.assign" | "permission.role.revoke" => {
            keys == ["role", "target_user_id"]
                && resource_id == format!("role_{}", s("role"))
                && s("target_user_id")
                    .strip_prefix("usr_")
                    .is_some_and(|u| is_b36(u, 10))
        }
        "user.invite" => {
            keys == ["role"] && ["developer", "viewer", "auditor"].contains(&s("role").as_str())
        }
        "user.update" => {
            let mut fields = String::new();
            dump(&m("fields"), &mut fields);
            keys == ["fields"] && (fields == r#"["name"]"# || fields == r#"["name","locale"]"#)
        }
        "data_export.create" | "data_export.schedule" => {
            keys == ["format", "dataset"]
                && ["csv", "jsonl"].contains(&s("format").as_str())
                && ["users", "audit_logs", "billing", "flags"].contains(&s("dataset").as_str())
        }
        "data_export.download" => {
            keys == ["bytes"] && m("bytes").as_uint().is_some_and(|b| b < 50_000_000)
        }
        _ => meta.is_none(),
    };
    ensure(ok, || {
        format!("bad metadata for {action}/{outcome}: {meta:?}")
    })
}

/// Checks one line; returns the parsed event.
pub(crate) fn check_line(line: &str) -> Result<Json, String> {
    let event = parse(line)?;
    let mut again = String::new();
    dump(&event, &mut again);
    ensure(again == line, || {
        "not in compact json.dumps form".to_owned()
    })?;
    let keys = event.keys();
    let has_meta = keys.len() == 9 && keys[8] == "metadata";
    ensure(
        keys[..keys.len().min(8)] == TOP_KEYS && (keys.len() == 8 || has_meta),
        || format!("top-level keys {keys:?}"),
    )?;
    check_timestamp(event.str_at("timestamp"))?;

    let actor = event.get("actor").ok_or("no actor")?;
    let org = event.get("organization").ok_or("no organization")?;
    ensure(actor.keys() == ["user_id", "email"], || {
        format!("actor keys {:?}", actor.keys())
    })?;
    ensure(org.keys() == ["id", "name"], || {
        format!("organization keys {:?}", org.keys())
    })?;
    let user_id = actor.str_at("user_id");
    let org_id = org.str_at("id");
    ensure(
        user_id.strip_prefix("usr_").is_some_and(|u| is_b36(u, 10)),
        || format!("user_id {user_id}"),
    )?;
    ensure(
        org_id.strip_prefix("org_").is_some_and(|o| is_b36(o, 8)),
        || format!("org id {org_id}"),
    )?;
    let name = org.str_at("name");
    let words: Vec<&str> = name.split(' ').collect();
    ensure(
        (2..=3).contains(&words.len())
            && words.iter().all(|w| {
                w.starts_with(|c: char| c.is_ascii_uppercase())
                    && w.bytes().all(|b| b.is_ascii_alphabetic())
            }),
        || format!("org name {name:?}"),
    )?;
    check_email(actor.str_at("email"), name)?;

    let action = event.str_at("action");
    ensure(ACTIONS.iter().any(|a| a.0 == action), || {
        format!("unknown action {action}")
    })?;
    let resource = event.get("resource").ok_or("no resource")?;
    check_resource(action, resource, org_id)?;
    let outcome = event.str_at("outcome");
    ensure(["success", "failure", "denied"].contains(&outcome), || {
        format!("outcome {outcome}")
    })?;
    check_ip(event.str_at("ip_address"))?;

    let ua = event.str_at("user_agent");
    let api = API_UAS.contains(&ua);
    ensure(api || ua.starts_with("Mozilla/5.0 ("), || {
        format!("unknown UA {ua}")
    })?;
    let ns = action.split('.').next().unwrap_or_default();
    match ns {
        "api_key" => ensure(api, || format!("{action} must use the API client"))?,
        "config" | "feature_flag" => {}
        _ => ensure(!api, || format!("{action} must use the browser"))?,
    }
    check_metadata(
        action,
        outcome,
        resource.str_at("id"),
        event.get("metadata"),
    )?;
    Ok(event)
}
