//! The `resource` object and the optional `metadata` object of an event,
//! drawn per action kind with the same rules as the Python generator.

use crate::json;
use crate::rng::Rng;
use crate::rules::{Detail, Outcome};
use crate::vocab::{API_ENDPOINTS, CONFIG_KEYS, ENVS, EXPORT_DATASETS, PLANS, ROLES, SCOPES};
use crate::world::Org;

/// Incremental writer of a flat JSON object (keys are trusted literals).
struct Obj<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut String) -> Self {
        out.push('{');
        Obj { out, empty: true }
    }

    fn key(&mut self, key: &str) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        self.out
    }

    fn str(mut self, key: &str, value: &str) -> Self {
        json::push_str(self.key(key), value);
        self
    }

    fn bool(mut self, key: &str, value: bool) -> Self {
        json::push_bool(self.key(key), value);
        self
    }

    fn int(mut self, key: &str, value: u64) -> Self {
        json::push_dec(self.key(key), value, 0);
        self
    }

    fn list(mut self, key: &str, values: &[&str]) -> Self {
        let out = self.key(key);
        out.push('[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::push_str(out, v);
        }
        out.push(']');
        self
    }

    fn close(self) {
        self.out.push('}');
    }
}

/// Appends `{"type":"<kind>","id":"<prefix><id>"}`; `id` is JSON-escaped.
fn resource(out: &mut String, kind: &str, prefix: &str, id: &str) {
    out.push_str("{\"type\":\"");
    out.push_str(kind);
    out.push_str("\",\"id\":\"");
    out.push_str(prefix);
    json::push_str_content(out, id);
    out.push_str("\"}");
}

/// Appends `{"type":"<kind>","id":"<prefix><number>"}`, the number formatted
/// in hex or decimal with zero padding to `width` digits.
fn numbered_resource(out: &mut String, kind: &str, prefix: &str, n: u64, hex: bool, width: usize) {
    out.push_str("{\"type\":\"");
    out.push_str(kind);
    out.push_str("\",\"id\":\"");
    out.push_str(prefix);
    if hex {
        json::push_hex(out, n, width);
    } else {
        json::push_dec(out, n, width);
    }
    out.push_str("\"}");
}

/// Draws the event's resource (appended to `res`) and metadata object (appended
/// to `meta`, which stays untouched when the event has no metadata).
pub(crate) fn push_details(
    res: &mut String,
    meta: &mut String,
    detail: Detail,
    outcome: Outcome,
    org: &Org,
    rng: &mut Rng,
) {
    match detail {
        Detail::AuthLogin | Detail::AuthSsoLogin | Detail::AuthOther => {
            numbered_resource(res, "session", "ses_", rng.below(0xffff_ffff), true, 8);
            if detail != Detail::AuthOther {
                let method = if detail == Detail::AuthSsoLogin {
                    "sso"
                } else if rng.chance(0.7) {
                    "password"
                } else {
                    "oauth_google"
                };
                let obj = Obj::open(meta)
                    .str("method", method)
                    .bool("mfa", rng.chance(0.6));
                let obj = match outcome {
                    Outcome::Success => obj,
                    Outcome::Failure => obj.str("reason", "invalid_credentials"),
                    Outcome::Denied => obj.str("reason", "ip_not_allowed"),
                };
                obj.close();
            }
        }
        Detail::Invoice => numbered_resource(res, "invoice", "in_", rng.below(999_999), false, 6),
        Detail::PaymentMethod => {
            numbered_resource(
                res,
                "payment_method",
                "pm_",
                rng.below(0xffff_ffff),
                true,
                8,
            );
            let brand = if rng.chance(0.6) {
                "visa"
            } else {
                "mastercard"
            };
            let mut last4 = String::with_capacity(4);
            json::push_dec(&mut last4, rng.below(9999), 4);
            Obj::open(meta)
                .str("brand", brand)
                .str("last4", &last4)
                .close();
        }
        Detail::PlanChange | Detail::Subscription => {
            resource(
                res,
                "subscription",
                "sub_",
                org.id.get(4..).unwrap_or_default(),
            );
            if detail == Detail::PlanChange {
                let to = (org.plan + 1 + rng.index(4)) % PLANS.len();
                Obj::open(meta)
                    .str("from", PLANS[org.plan])
                    .str("to", PLANS[to])
                    .close();
            }
        }
        Detail::FlagToggle | Detail::FlagOverride | Detail::FlagUpdate | Detail::FlagOther => {
            resource(res, "flag", "", rng.choose(&org.flags).as_str());
            let obj = Obj::open(meta).str("environment", rng.pick(ENVS));
            let obj = match detail {
                Detail::FlagToggle => {
                    let on = rng.chance(0.5);
                    obj.bool("previous", !on).bool("new", on)
                }
                Detail::FlagOverride => {
                    let target = if rng.chance(0.3) { "org" } else { "user" };
                    obj.str("target", target).bool("value", rng.chance(0.7))
                }
                Detail::FlagUpdate => obj.int("rollout_pct", rng.below(101)),
                _ => obj,
            };
            obj.close();
        }
        Detail::Secret => numbered_resource(res, "secret", "sec_", rng.below(0xff_ffff), true, 6),
        Detail::Webhook => numbered_resource(res, "webhook", "wh_", rng.below(0xff_ffff), true, 6),
        Detail::ConfigRead | Detail::ConfigUpdate => {
            let key = rng.pick(CONFIG_KEYS);
            resource(res, "config_key", "", key);
            if detail == Detail::ConfigUpdate {
                Obj::open(meta)
                    .str("key", key)
                    .str("environment", rng.pick(ENVS))
                    .close();
            }
        }
        Detail::KeyUse | Detail::KeyCreate | Detail::KeyOther => {
            resource(res, "api_key", "", rng.choose(&org.keys).as_str());
            if detail == Detail::KeyUse {
                let endpoint = rng.pick(API_ENDPOINTS);
                let method = if rng.chance(0.8) { "GET" } else { "POST" };
                Obj::open(meta)
                    .str("endpoint", endpoint)
                    .str("method", method)
                    .close();
            } else if detail == Detail::KeyCreate {
                let n = 1 + rng.index(3);
                let mut scopes = [""; 3];
                for s in &mut scopes[..n] {
                    *s = rng.pick(SCOPES);
                }
                scopes[..n].sort_unstable();
                // de-duplicate the sorted prefix in place (Python: sorted(set(...)))
                let mut len = 0;
                for i in 0..n {
                    if len == 0 || scopes[len - 1] != scopes[i] {
                        scopes[len] = scopes[i];
                        len += 1;
                    }
                }
                Obj::open(meta).list("scopes", &scopes[..len]).close();
            }
        }
        Detail::RoleWithTarget | Detail::RoleOther => {
            let role = rng.pick(ROLES);
            resource(res, "role", "role_", role);
            if detail == Detail::RoleWithTarget {
                let target = &rng.choose(&org.users).id;
                Obj::open(meta)
                    .str("role", role)
                    .str("target_user_id", target)
                    .close();
            }
        }
        Detail::UserInvite | Detail::UserUpdate | Detail::UserOther => {
            resource(res, "user", "", &rng.choose(&org.users).id);
            if detail == Detail::UserInvite {
                Obj::open(meta).str("role", ROLES[3 + rng.index(3)]).close();
            } else if detail == Detail::UserUpdate {
                let fields: &[&str] = if rng.chance(0.5) {
                    &["name"]
                } else {
                    &["name", "locale"]
                };
                Obj::open(meta).list("fields", fields).close();
            }
        }
        Detail::ExportSpec | Detail::ExportDownload => {
            numbered_resource(res, "export", "exp_", rng.below(0xffff_ffff), true, 8);
            if detail == Detail::ExportSpec {
                let format = if rng.chance(0.7) { "csv" } else { "jsonl" };
                let dataset = rng.pick(EXPORT_DATASETS);
                Obj::open(meta)
                    .str("format", format)
                    .str("dataset", dataset)
                    .close();
            } else {
                Obj::open(meta).int("bytes", rng.below(50_000_000)).close();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::World;

    #[test]
    fn metadata_shapes() {
        let mut rng = Rng::new(2);
        let world = World::build(&mut rng, 3, 10, 1.0);
        let org = &world.orgs[0];
        let mut res = String::new();
        let mut meta = String::new();
        for _ in 0..200 {
            res.clear();
            meta.clear();
            push_details(
                &mut res,
                &mut meta,
                Detail::AuthLogin,
                Outcome::Denied,
                org,
                &mut rng,
            );
            assert!(
                res.starts_with("{\"type\":\"session\",\"id\":\"ses_") && res.len() == 38,
                "{res}"
            );
            assert!(meta.starts_with("{\"method\":\""), "{meta}");
            assert!(meta.ends_with(",\"reason\":\"ip_not_allowed\"}"), "{meta}");

            res.clear();
            meta.clear();
            push_details(
                &mut res,
                &mut meta,
                Detail::KeyCreate,
                Outcome::Success,
                org,
                &mut rng,
            );
            let list = meta.strip_prefix("{\"scopes\":[\"").expect("scopes");
            let items: Vec<&str> = list.trim_end_matches("\"]}").split("\",\"").collect();
            assert!((1..=3).contains(&items.len()));
            assert!(
                items.windows(2).all(|w| w[0] < w[1]),
                "sorted, unique: {meta}"
            );

            res.clear();
            meta.clear();
            push_details(
                &mut res,
                &mut meta,
                Detail::FlagUpdate,
                Outcome::Success,
                org,
                &mut rng,
            );
            let pct = meta.split("\"rollout_pct\":").nth(1).unwrap_or_default();
            let pct: u32 = pct.trim_end_matches('}').parse().expect("integer");
            assert!(pct <= 100);

            res.clear();
            meta.clear();
            push_details(
                &mut res,
                &mut meta,
                Detail::PlanChange,
                Outcome::Success,
                org,
                &mut rng,
            );
            let expected = format!("{{\"from\":\"{}\",\"to\":\"", PLANS[org.plan]);
            assert!(meta.starts_with(&expected), "{meta}");
            assert!(
                !meta.ends_with(&format!("\"{}\"}}", PLANS[org.plan])),
                "plan changes"
            );
            assert_eq!(
                res,
                format!(
                    "{{\"type\":\"subscription\",\"id\":\"sub_{}\"}}",
                    &org.id[4..]
                )
            );

            res.clear();
            meta.clear();
            push_details(
                &mut res,
                &mut meta,
                Detail::AuthOther,
                Outcome::Success,
                org,
                &mut rng,
            );
            assert!(meta.is_empty());
        }
    }
}
