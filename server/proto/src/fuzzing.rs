//! The bodies of the `grpc_messages`, `ingest_body` and `otlp_logs` fuzz targets
//! (fuzz/fuzz_targets/), here so that `cargo test` replays every kept input through the
//! same code (tests/fuzz_regressions.rs). `grpc_messages`: The first byte picks a message; the rest is decoded as
//! it, as the server decodes requests from the network and the CLI's client decodes a
//! server's answers, then converted to engine values. Nothing may panic, and whatever
//! converts must survive the trip back to the protocol unchanged.

use prost::Message;

use crate::convert::{
    consistency_from_proto, event_from_proto, event_to_proto, filter_from_proto, filter_to_proto,
    inclusion_from_proto, order_from_proto,
};
use crate::v1 as pb;

/// One message of the protocol, chosen by the first byte.
pub fn grpc_messages(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 6 {
        0 => {
            if let Ok(request) = pb::IngestRequest::decode(body) {
                request.events.iter().for_each(event);
            }
        }
        1 => {
            if let Ok(request) = pb::QueryRequest::decode(body) {
                filter(request.filter);
                let _ = order_from_proto(request.order);
            }
        }
        2 => {
            if let Ok(request) = pb::ExportRequest::decode(body) {
                filter(request.filter);
                let _ = request.order.map(order_from_proto);
            }
        }
        3 => {
            if let Ok(page) = pb::QueryPage::decode(body) {
                page.events
                    .iter()
                    .filter_map(|s| s.event.as_ref())
                    .for_each(event);
            }
        }
        4 => {
            if let Ok(proof) = pb::InclusionProof::decode(body)
                && let Ok(proof) = inclusion_from_proto(proof)
            {
                let again = crate::convert::inclusion_to_proto(proof.clone());
                assert_eq!(inclusion_from_proto(again).ok().as_ref(), Some(&proof));
                let _ = auditlog_engine::merkle::Proof::Inclusion(proof).verify();
            }
        }
        _ => {
            if let Ok(proof) = pb::ConsistencyProof::decode(body)
                && let Ok(proof) = consistency_from_proto(proof)
            {
                let again = crate::convert::consistency_to_proto(proof.clone());
                assert_eq!(consistency_from_proto(again).ok().as_ref(), Some(&proof));
                let _ = auditlog_engine::merkle::Proof::Consistency(proof).verify();
            }
        }
    }
}

/// An event converts, or is refused; a valid one comes back from the protocol the same.
fn event(e: &pb::Event) {
    let Ok(converted) = event_from_proto(e) else {
        return;
    };
    if converted.validate().is_ok() {
        let again = event_to_proto(&converted);
        let back = event_from_proto(&again).expect("a valid event converts back");
        assert_eq!(back, converted);
    }
}

/// A filter converts, or is refused; one that converts comes back the same (a sequence
/// range from 0 to the end is no range at all).
fn filter(f: Option<pb::Filter>) {
    let Ok(mut converted) = filter_from_proto(f.unwrap_or_default()) else {
        return;
    };
    if converted.seqs == Some(0..u64::MAX) {
        converted.seqs = None;
    }
    let back = filter_from_proto(filter_to_proto(&converted)).expect("a filter converts back");
    assert_eq!(back, converted);
}

/// An HTTP ingest body (`POST /v1/events`), as the server reads one from the network:
/// the first byte picks the format and encoding, the rest is the body, inflated under a
/// limit of 1 MiB and split into events. Nothing may panic, an inflated body is never
/// over the limit, and every event that parses comes back the same from its JSON.
pub fn ingest_body(data: &[u8]) {
    use crate::ingest_body::{BodyEncoding, BodyFormat, inflate, split_events};
    const LIMIT: usize = 1 << 20;
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let format = if kind & 1 == 0 {
        BodyFormat::Json
    } else {
        BodyFormat::Ndjson
    };
    let encoding = if kind & 2 == 0 {
        BodyEncoding::Identity
    } else {
        BodyEncoding::Gzip
    };
    let Ok(body) = inflate(body, encoding, LIMIT) else {
        return;
    };
    assert!(body.len() <= LIMIT);
    let Ok(events) = split_events(&body, format) else {
        return;
    };
    assert!(!events.is_empty());
    for event in events.into_iter().flatten() {
        let json = event.to_json();
        let again =
            auditlog_engine::event::parse_json(json.as_bytes()).expect("its own JSON parses");
        assert_eq!(again, event);
    }
}

/// An OTLP logs request as the server reads one from the network: the first byte picks
/// binary protobuf (even) or OTLP/JSON (odd), the rest is the body. Nothing may panic;
/// what the fast protobuf reader reads, prost reads too, to the same view (so the
/// server accepts and refuses exactly what prost would); every record is named, and
/// each that maps is a valid event that comes back the same from its JSON.
pub fn otlp_logs(data: &[u8]) {
    use crate::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;
    use crate::otlp::{Encoding, Logs, events_of, read_logs, wire};
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let encoding = if kind & 1 == 0 {
        let decoded = ExportLogsServiceRequest::decode(body);
        match wire::read(body, usize::MAX) {
            Ok(fast) => {
                let decoded = decoded.expect("what the fast reader reads, prost reads");
                assert_eq!(fast, Logs::of_request(&decoded));
            }
            Err(wire::Stop::TooManyRecords) => unreachable!("no limit was set"),
            Err(wire::Stop::ToProst) => {}
        }
        Encoding::Protobuf
    } else {
        Encoding::Json
    };
    let _ = read_logs(body, encoding, usize::MAX, |logs| {
        let events = events_of(logs);
        assert_eq!(events.len(), logs.records().len());
        for (place, event) in events {
            assert!(place.to_string().starts_with("resource_logs["));
            if let Ok(event) = event {
                assert!(event.validate().is_ok());
                let json = event.to_json();
                let again = auditlog_engine::event::parse_json(json.as_bytes())
                    .expect("its own JSON parses");
                assert_eq!(again, event);
            }
        }
    });
}
