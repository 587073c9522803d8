//! Events in and out: generated workload lines come back byte for byte, records decode
//! to the same event, and each kind of bad input gets its own clear error.

use auditlog_engine::HashAlg;
use auditlog_engine::codec::{TenantLink, decode_event, encode_frame_into, encode_record_into};
use auditlog_engine::event::{EventError, parse_json};

fn workload(count: u64, seed: u64) -> String {
    let config = auditlog_workload::Config {
        count,
        seed,
        ..Default::default()
    };
    let mut out = Vec::new();
    auditlog_workload::write_jsonl(&config, &mut out).expect("generate");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn generated_events_round_trip_exactly() {
    for line in workload(20_000, 3).lines() {
        let event = parse_json(line.as_bytes()).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(event.to_json(), line);
        let mut record = Vec::new();
        encode_record_into(&event, TenantLink::Previous(1), &mut record);
        let decoded = decode_event(&record).expect("record decodes");
        assert_eq!(decoded, event);
        assert_eq!(decoded.to_json(), line);
    }
}

#[test]
fn the_format_examples_encode_as_documented() {
    // docs/FORMAT.md, "Event record": the example's frames and SHA-256 leaf hashes.
    let line = r#"{"timestamp":"2026-03-08T14:32:01Z","actor":{"user_id":"u1"},"organization":{"id":"o1"},"action":"auth.login","outcome":"denied"}"#;
    let event = parse_json(line.as_bytes()).expect("valid");
    let event_bytes = "fd8034744c08990c00027531000002 6f31000a617574682e6c6f67696e0000020000 0000";
    let cases = [
        (
            TenantLink::First,
            "2d000000da3145df02",
            "ffffffffffffffff",
            "c79785af4878c0fd067b0d06a8355066b576bdb92425485b3cea6e2f2cbf61e6",
        ),
        (
            TenantLink::Previous(0),
            "2d000000af31239b02",
            "0000000000000000",
            "72659cc9e0f885dabd08c43c24a86603c85ac94142b644118ae84d540c1ef27e",
        ),
        (
            TenantLink::Unlinked,
            "25000000f03f3f2401",
            "",
            "b19dfba0b39b85ac222fd0db66898299c80efeb5c640a633cffb721294cd2dcf",
        ),
    ];
    for (link, head, tail, leaf) in cases {
        let mut payload = Vec::new();
        encode_record_into(&event, link, &mut payload);
        let mut frame = Vec::new();
        encode_frame_into(&payload, &mut frame).expect("frame");
        let want = format!("{head}{event_bytes}{tail}").replace(' ', "");
        assert_eq!(auditlog_engine::hex::encode(&frame), want, "{link:?}");
        assert_eq!(
            auditlog_engine::hex::encode(&HashAlg::Sha256.hash_leaf(&payload)),
            leaf
        );
    }
}

#[test]
fn optional_fields_round_trip() {
    let line = r#"{"timestamp":"2026-03-08T14:32:01.250Z","actor":{"user_id":"svc_billing","kind":"service"},"organization":{"id":"org_1"},"action":"invoice.finalize","outcome":"error","event_id":"evt-42"}"#;
    let event = parse_json(line.as_bytes()).expect("valid");
    assert_eq!(event.to_json(), line);
    assert_eq!(event.actor_email, None);
    let mut seq_json = Vec::new();
    event.write_json(Some(7), &mut seq_json);
    assert!(
        String::from_utf8(seq_json)
            .expect("utf-8")
            .starts_with(r#"{"seq":7,"timestamp":"#)
    );
}

#[test]
fn escapes_survive() {
    let line = r#"{"timestamp":"2026-03-08T14:32:01Z","actor":{"user_id":"u\"1\\é"},"organization":{"id":"o","name":"Ünïcode \u2603"},"action":"a.b","outcome":"success","metadata":{"k":"v\n"}}"#;
    let event = parse_json(line.as_bytes()).expect("valid");
    assert_eq!(event.actor_id, "u\"1\\é");
    assert_eq!(event.tenant_name.as_deref(), Some("Ünïcode ☃"));
    let text = event.to_json();
    let again = parse_json(text.as_bytes()).expect("re-parses");
    assert_eq!(again, event);
}

fn error_of(line: &str) -> EventError {
    parse_json(line.as_bytes()).expect_err(line)
}

fn event_with(field: &str, value: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(
        r#"{"timestamp":"2026-03-08T14:32:01Z","actor":{"user_id":"usr_1","email":"a@b.c"},"organization":{"id":"org_1","name":"Org"},"action":"auth.login","resource":{"type":"session","id":"s1"},"outcome":"success","ip_address":"203.0.113.4","user_agent":"ua","metadata":{"k":1}}"#,
    )
    .expect("template");
    let parsed: serde_json::Value = serde_json::from_str(value).expect("value is json");
    match field.split_once('.') {
        Some((outer, inner)) => v[outer][inner] = parsed,
        None => v[field] = parsed,
    }
    v.to_string()
}

fn without(field: &str) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&event_with("action", r#""auth.login""#)).expect("json");
    match field.split_once('.') {
        Some((outer, inner)) => v[outer].as_object_mut().expect("object").remove(inner),
        None => v.as_object_mut().expect("object").remove(field),
    };
    v.to_string()
}

#[test]
fn the_template_is_valid() {
    assert!(parse_json(event_with("action", r#""auth.login""#).as_bytes()).is_ok());
}

#[test]
fn missing_required_fields_are_named() {
    for field in [
        "timestamp",
        "actor",
        "organization",
        "action",
        "outcome",
        "actor.user_id",
        "organization.id",
    ] {
        let leaf = field.rsplit('.').next().unwrap_or(field);
        match error_of(&without(field)) {
            EventError::Json(message) => assert!(
                message.contains(&format!("missing field `{leaf}`")),
                "{field}: {message}"
            ),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn each_bad_input_has_its_own_error() {
    assert!(matches!(
        error_of(&event_with("timestamp", r#""2026-03-08 14:32""#)),
        EventError::BadTimestamp(_)
    ));
    assert!(matches!(
        error_of(&event_with("timestamp", r#""2026-02-30T00:00:00Z""#)),
        EventError::BadTimestamp(_)
    ));
    assert!(matches!(
        error_of(&event_with("action", r#""login""#)),
        EventError::BadAction(_)
    ));
    assert!(matches!(
        error_of(&event_with("action", r#""Auth.Login""#)),
        EventError::BadAction(_)
    ));
    assert!(matches!(
        error_of(&event_with("ip_address", r#""300.1.1.1""#)),
        EventError::BadIpAddress(_)
    ));
    assert!(matches!(
        error_of(&event_with("ip_address", r#""localhost""#)),
        EventError::BadIpAddress(_)
    ));
    assert!(matches!(
        error_of(&event_with("metadata", r#"[1,2]"#)),
        EventError::MetadataNotObject
    ));
    assert!(matches!(
        error_of(&event_with("metadata", r#""text""#)),
        EventError::MetadataNotObject
    ));
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(16 * 1024));
    assert!(matches!(
        error_of(&event_with("metadata", &big)),
        EventError::TooLong {
            field: "metadata",
            ..
        }
    ));
    let long_id = format!(r#""{}""#, "u".repeat(257));
    assert!(matches!(
        error_of(&event_with("actor.user_id", &long_id)),
        EventError::TooLong {
            field: "actor.user_id",
            ..
        }
    ));
    assert!(matches!(
        error_of(&event_with("actor.user_id", r#""""#)),
        EventError::Empty {
            field: "actor.user_id"
        }
    ));
    assert!(matches!(
        error_of(&event_with("actor.email", r#""not-an-email""#)),
        EventError::BadEmail(_)
    ));
    assert!(matches!(
        error_of(&event_with("user_agent", r#""a\u0000b""#)),
        EventError::ControlCharacter {
            field: "user_agent"
        }
    ));
    match error_of(&event_with("outcome", r#""maybe""#)) {
        EventError::Json(m) => assert!(m.contains("unknown variant `maybe`"), "{m}"),
        other => panic!("{other:?}"),
    }
    match error_of(&event_with("colour", r#""red""#)) {
        EventError::Json(m) => assert!(m.contains("unknown field `colour`"), "{m}"),
        other => panic!("{other:?}"),
    }
    match error_of(&event_with("action", "42")) {
        EventError::Json(m) => assert!(m.contains("invalid type"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_utf8_and_syntax_are_reported() {
    let mut bytes = event_with("action", r#""auth.login""#).into_bytes();
    bytes[40] = 0xff;
    assert_eq!(
        parse_json(&bytes).expect_err("bad utf-8"),
        EventError::InvalidUtf8 { byte_offset: 40 }
    );
    assert!(matches!(
        parse_json(b"{\"timestamp\":"),
        Err(EventError::Json(_))
    ));
    assert!(matches!(parse_json(b"[]"), Err(EventError::Json(_))));
}

#[test]
fn error_messages_read_well() {
    let e = error_of(&event_with("ip_address", r#""300.1.1.1""#));
    assert_eq!(
        e.to_string(),
        "ip_address `300.1.1.1` is not an IPv4 or IPv6 address"
    );
    let e = error_of(&event_with("timestamp", r#""yesterday""#));
    assert_eq!(
        e.to_string(),
        "timestamp: `yesterday` is not an RFC 3339 timestamp like 2026-03-08T14:32:01Z"
    );
}
