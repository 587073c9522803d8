//! The action catalog's rules, compiled (docs/CATALOG.md): per catalogued action its
//! metadata schema, ready to check each event as it comes in, and what becomes of an
//! event that fails it. The engine keeps the catalog (`auditlog_engine::catalog`); the
//! servers and the command-line tool compile it with this crate.
//!
//! Schemas are JSON Schema, draft 2020-12 unless one says otherwise (`$schema`), with
//! `format` asserted. A schema may refer only to itself: no `$ref` reaches a file or the
//! network, so a definition cannot make the server read anything.

#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(feature = "testing")]
#[allow(clippy::unwrap_used, clippy::panic)]
pub mod fuzzing;

use std::collections::HashMap;
use std::fmt::Write;

use auditlog_engine::catalog::{Catalog, OnInvalid};
use boon::{Compiler, Draft, ErrorKind, InstanceToken, SchemaIndex, Schemas, ValidationError};
use serde_json::Value;

/// The longest message a violation keeps: enough to name the rule.
const MAX_MESSAGE_CHARS: usize = 300;
/// The most subschemas a check of one event may walk, each `$ref` counted as the schema
/// it names: a schema past it is refused (its cost is paid by every event of its action).
const MAX_EXPANSION: u64 = 10_000;
/// References followed in a chain before a schema is called too deep.
const MAX_REF_DEPTH: u32 = 64;
/// The longest field path a violation keeps (a client chooses the metadata's keys): the
/// refusal and the flag event stay far below their limits.
const MAX_FIELD_BYTES: usize = 256;

/// Why an event's metadata fails its action's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The schema version it fails.
    pub version: u32,
    /// What becomes of the event.
    pub on_invalid: OnInvalid,
    /// The failing field in the metadata: `amount`, `items[2].sku`; empty for the
    /// metadata as a whole.
    pub field: String,
    /// Why, as the validator says it.
    pub message: String,
}

/// The checks of one catalogued action.
#[derive(Debug)]
struct Rule {
    version: u32,
    on_invalid: OnInvalid,
    schema: Compiled,
}

/// A schema compiled.
struct Compiled {
    schemas: Schemas,
    index: SchemaIndex,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiled")
    }
}

/// The catalog's schemas, compiled: what the ingest paths check events against.
#[derive(Debug, Default)]
pub struct Rules {
    by_action: HashMap<String, Rule>,
}

/// A schema that did not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// Its action.
    pub action: String,
    /// Why.
    pub message: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: the schema does not compile: {}",
            self.action, self.message
        )
    }
}

impl std::error::Error for SchemaError {}

impl Rules {
    /// The rules of `catalog`: every catalogued schema compiled. A schema that no longer
    /// compiles (a stored one this build reads otherwise) is left out, its events
    /// unchecked, and returned among the errors for the caller to report.
    pub fn compile(catalog: &Catalog) -> (Rules, Vec<SchemaError>) {
        let mut rules = Rules::default();
        let mut errors = Vec::new();
        for entry in catalog.entries() {
            let Some(schema) = &entry.spec.schema else {
                continue;
            };
            match compile(&entry.spec.action, schema) {
                Ok(compiled) => {
                    let rule = Rule {
                        version: entry.version,
                        on_invalid: entry.spec.on_invalid,
                        schema: compiled,
                    };
                    rules.by_action.insert(entry.spec.action.clone(), rule);
                }
                Err(e) => errors.push(e),
            }
        }
        (rules, errors)
    }

    /// Whether no action has a schema: nothing to check.
    pub fn is_empty(&self) -> bool {
        self.by_action.is_empty()
    }

    /// Checks an event of `action` with `metadata` (its JSON text; none is checked as
    /// `{}`): the violation, if its action has a schema the metadata fails.
    pub fn check(&self, action: &str, metadata: Option<&str>) -> Option<Violation> {
        let rule = self.by_action.get(action)?;
        let value = match metadata {
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(value) => value,
                // Validated events hold a JSON object; anything else fails as a whole.
                Err(e) => {
                    return Some(rule.violation(String::new(), format!("not JSON: {e}")));
                }
            },
            None => Value::Object(serde_json::Map::new()),
        };
        let error = rule
            .schema
            .schemas
            .validate(&value, rule.schema.index)
            .err()?;
        let (field, message) = named(&error);
        Some(rule.violation(field, message))
    }
}

impl Rule {
    fn violation(&self, field: String, message: String) -> Violation {
        Violation {
            version: self.version,
            on_invalid: self.on_invalid,
            field,
            message: clip(message),
        }
    }
}

/// Checks that `schema` compiles, as `action`'s: before it is defined.
pub fn check_schema(action: &str, schema: &Value) -> Result<(), SchemaError> {
    compile(action, schema).map(|_| ())
}

/// Refuses every URL a schema names outside itself (the standard meta-schemas are
/// built in, and never asked of a loader).
struct NoLoader;

impl boon::UrlLoader for NoLoader {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        Err(format!("{url}: a catalog schema may refer only to itself").into())
    }
}

fn compile(action: &str, schema: &Value) -> Result<Compiled, SchemaError> {
    let failed = |e: &dyn std::fmt::Display| SchemaError {
        action: action.to_owned(),
        message: clip(format!("{e:#}")),
    };
    let walked = expansion(schema);
    if walked > MAX_EXPANSION {
        return Err(SchemaError {
            action: action.to_owned(),
            message: format!(
                "too complex: a check would walk {} subschemas (each `$ref` counted as what \
                 it names), at most {MAX_EXPANSION}",
                if walked == u64::MAX {
                    "an unbounded number of".to_owned()
                } else {
                    walked.to_string()
                }
            ),
        });
    }
    let mut compiler = Compiler::new();
    compiler.set_default_draft(Draft::V2020_12);
    compiler.enable_format_assertions();
    compiler.use_loader(Box::new(NoLoader));
    let url = format!("https://catalog.auditlog.invalid/{action}.json");
    let mut schemas = Schemas::new();
    compiler
        .add_resource(&url, schema.clone())
        .map_err(|e| failed(&e))?;
    let index = compiler
        .compile(&url, &mut schemas)
        .map_err(|e| failed(&e))?;
    Ok(Compiled { schemas, index })
}

/// About how many subschemas a check walks: every schema object, each `$ref` counted as
/// the schema it names (once per place it is named; a reference back into itself counts
/// one, as the data's depth bounds it). Saturates; `u64::MAX` past [`MAX_REF_DEPTH`].
fn expansion(root: &Value) -> u64 {
    struct Walk<'a> {
        root: &'a Value,
        sizes: HashMap<&'a str, u64>,
        open: Vec<&'a str>,
    }
    impl<'a> Walk<'a> {
        fn value(&mut self, value: &'a Value) -> u64 {
            match value {
                Value::Object(members) => {
                    let mut n: u64 = 1;
                    for (key, member) in members {
                        let more = match (key.as_str(), member) {
                            ("$ref", Value::String(target)) => self.reference(target),
                            // Data, not schemas.
                            ("enum" | "const" | "default" | "examples", _) => 0,
                            _ => self.value(member),
                        };
                        n = n.saturating_add(more);
                    }
                    n
                }
                Value::Array(items) => items
                    .iter()
                    .fold(0, |n: u64, item| n.saturating_add(self.value(item))),
                _ => 0,
            }
        }

        fn reference(&mut self, target: &'a str) -> u64 {
            let Some(pointer) = target.strip_prefix('#') else {
                return 1;
            };
            if let Some(&n) = self.sizes.get(pointer) {
                return n;
            }
            if self.open.contains(&pointer) {
                return 1;
            }
            if self.open.len() as u32 >= MAX_REF_DEPTH {
                return u64::MAX;
            }
            let Some(named) = self.root.pointer(pointer) else {
                return 1;
            };
            self.open.push(pointer);
            let n = self.value(named);
            self.open.pop();
            self.sizes.insert(pointer, n);
            n
        }
    }
    Walk {
        root,
        sizes: HashMap::new(),
        open: Vec::new(),
    }
    .value(root)
}

/// The failing field (a path in the metadata) and the reason, from the deepest first
/// cause of `error`: where the validator stopped.
fn named(error: &ValidationError<'_, '_>) -> (String, String) {
    let mut leaf = error;
    while let Some(cause) = leaf.causes.first() {
        leaf = cause;
    }
    let mut field = String::new();
    for token in &leaf.instance_location.tokens {
        match token {
            InstanceToken::Prop(name) => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(name);
            }
            InstanceToken::Item(i) => {
                let _ = write!(field, "[{i}]");
            }
        }
    }
    // A property missing or not allowed: name it, not its parent.
    let named_property = match &leaf.kind {
        ErrorKind::Required { want } => want.first().copied(),
        ErrorKind::AdditionalProperties { got } => got.first().map(|g| g.as_ref()),
        ErrorKind::DependentRequired { missing, .. } => missing.first().copied(),
        _ => None,
    };
    if let Some(name) = named_property {
        if !field.is_empty() {
            field.push('.');
        }
        field.push_str(name);
    }
    if field.len() > MAX_FIELD_BYTES {
        let mut at = MAX_FIELD_BYTES;
        while !field.is_char_boundary(at) {
            at -= 1;
        }
        field.truncate(at);
        field.push('…');
    }
    (field, message_of(&leaf.kind))
}

/// Why, in the schema's terms, never quoting the value: a message is answered to the
/// client and, for a flag, kept in a `_system` event, outside sealing and erasure of
/// personal data.
fn message_of(kind: &ErrorKind<'_, '_>) -> String {
    match kind {
        ErrorKind::Format { want, .. } => format!("is not a valid {want}"),
        ErrorKind::Pattern { want, .. } => format!("does not match pattern {want:?}"),
        ErrorKind::ContentEncoding { want, .. } => format!("is not {want} encoded"),
        ErrorKind::ContentMediaType { want, .. } => format!("is not of media type {want}"),
        ErrorKind::Minimum { want, .. } => format!("must be >= {want}"),
        ErrorKind::Maximum { want, .. } => format!("must be <= {want}"),
        ErrorKind::ExclusiveMinimum { want, .. } => format!("must be > {want}"),
        ErrorKind::ExclusiveMaximum { want, .. } => format!("must be < {want}"),
        ErrorKind::MultipleOf { want, .. } => format!("must be a multiple of {want}"),
        other => other.to_string(),
    }
}

#[cfg(feature = "testing")]
pub(crate) use named as named_for_fuzzing;

fn clip(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auditlog_engine::catalog::ActionSpec;
    use auditlog_engine::system::SystemActor;
    use serde_json::json;

    fn rules(specs: &[ActionSpec]) -> Rules {
        let dir = tempfile::tempdir().unwrap();
        let log = auditlog_engine::Log::create(dir.path(), &Default::default()).unwrap();
        for spec in specs {
            log.define_action(SystemActor::Cli, spec).unwrap();
        }
        let (rules, errors) = Rules::compile(&log.catalog().unwrap());
        assert_eq!(errors, vec![]);
        rules
    }

    fn refund(on_invalid: OnInvalid) -> ActionSpec {
        ActionSpec {
            action: "invoice.refund".into(),
            schema: Some(json!({
                "type": "object",
                "required": ["amount", "currency"],
                "properties": {
                    "amount": {"type": "number", "minimum": 0},
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                    "items": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"sku": {"type": "string"}},
                        "additionalProperties": false
                    }},
                    "by": {"type": "string", "format": "email"}
                }
            })),
            on_invalid,
            ..ActionSpec::default()
        }
    }

    #[test]
    fn the_failing_field_is_named() {
        let rules = rules(&[refund(OnInvalid::Refuse)]);
        let check = |m: &str| rules.check("invoice.refund", Some(m));
        assert_eq!(check(r#"{"amount":5,"currency":"EUR"}"#), None);
        let cases = [
            (r#"{"currency":"EUR"}"#, "amount", "missing"),
            (
                r#"{"amount":-1,"currency":"EUR"}"#,
                "amount",
                "must be >= 0",
            ),
            (
                r#"{"amount":1,"currency":"euro"}"#,
                "currency",
                "does not match pattern",
            ),
            (
                r#"{"amount":1,"currency":"EUR","items":[{"sku":"a"},{"sku":7}]}"#,
                "items[1].sku",
                "want string",
            ),
            (
                r#"{"amount":1,"currency":"EUR","items":[{"sku":"a","qty":1}]}"#,
                "items[0].qty",
                "not allowed",
            ),
            (
                r#"{"amount":1,"currency":"EUR","by":"nobody"}"#,
                "by",
                "not a valid email",
            ),
        ];
        for (metadata, field, says) in cases {
            let v = check(metadata).unwrap_or_else(|| panic!("{metadata} passed"));
            assert_eq!(v.field, field, "{metadata}: {v:?}");
            assert!(v.message.contains(says), "{metadata}: {v:?}");
            // The value is never quoted (it may be personal data).
            for value in ["-1", "euro", "nobody", "7"] {
                assert!(!v.message.contains(value), "{metadata}: {v:?}");
            }
            assert_eq!((v.version, v.on_invalid), (1, OnInvalid::Refuse));
        }
        // No metadata is checked as {}: both required fields are missing.
        assert_eq!(rules.check("invoice.refund", None).unwrap().field, "amount");
        // Actions without a schema, or not catalogued, pass.
        assert_eq!(rules.check("user.login", Some("{}")), None);
    }

    #[test]
    fn a_schema_may_not_reach_outside_itself() {
        let outside = [
            json!({"$ref": "file:///etc/passwd"}),
            json!({"$ref": "https://example.com/s.json"}),
            json!({"$ref": "other.json"}),
        ];
        for schema in outside {
            let err = check_schema("a.b", &schema).unwrap_err();
            assert!(err.message.contains("refer only to itself"), "{err}");
        }
        let local = json!({"$defs": {"n": {"type": "integer"}}, "properties": {"x": {"$ref": "#/$defs/n"}}});
        check_schema("a.b", &local).unwrap();
        assert!(check_schema("a.b", &json!({"type": "nothing"})).is_err());
        // References that double at each level: every check would walk 2^30 schemas.
        let mut defs = serde_json::Map::new();
        defs.insert("d0".into(), json!({"type": "object"}));
        for k in 1..=30 {
            let below = format!("#/$defs/d{}", k - 1);
            defs.insert(
                format!("d{k}"),
                json!({"allOf": [{"$ref": below}, {"$ref": below}]}),
            );
        }
        let doubling = json!({"$defs": defs, "$ref": "#/$defs/d30"});
        let err = check_schema("a.b", &doubling).unwrap_err();
        assert!(err.message.contains("too complex"), "{err}");
        // A schema naming itself (a tree of any depth) is fine: the data bounds it.
        let tree = json!({"properties": {"children": {"type": "array", "items": {"$ref": "#"}}}});
        check_schema("a.b", &tree).unwrap();
        assert!(check_schema("a.b", &json!({"minimum": "x"})).is_err());
    }

    #[test]
    fn the_policy_and_version_travel_with_the_violation() {
        let mut spec = refund(OnInvalid::Refuse);
        let dir = tempfile::tempdir().unwrap();
        let log = auditlog_engine::Log::create(dir.path(), &Default::default()).unwrap();
        log.define_action(SystemActor::Cli, &spec).unwrap();
        spec.on_invalid = OnInvalid::Flag;
        log.define_action(SystemActor::Cli, &spec).unwrap();
        let (rules, _) = Rules::compile(&log.catalog().unwrap());
        let v = rules.check("invoice.refund", Some("{}")).unwrap();
        assert_eq!((v.version, v.on_invalid), (2, OnInvalid::Flag));
        let long = format!(r#"{{"amount":1,"currency":"{}"}}"#, "x".repeat(5000));
        let v = rules.check("invoice.refund", Some(&long)).unwrap();
        assert!(v.message.chars().count() <= MAX_MESSAGE_CHARS + 1, "{v:?}");
        // A key of the client's as long as the metadata allows: the path is clipped.
        let key = "k".repeat(10_000);
        let deep = format!(r#"{{"amount":1,"currency":"EUR","items":[{{"{key}":1}}]}}"#);
        let v = rules.check("invoice.refund", Some(&deep)).unwrap();
        assert!(
            v.field.len() <= MAX_FIELD_BYTES + '…'.len_utf8(),
            "{}",
            v.field.len()
        );
        assert!(v.field.starts_with("items[0].kkk"), "{}", &v.field[..20]);
    }
}
