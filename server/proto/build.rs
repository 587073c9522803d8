//! Compiles `proto/auditlog/v1/*.proto` and the vendored OTLP logs definitions
//! (`proto/opentelemetry/`) with protox (no system `protoc`), generates the messages,
//! clients and servers, and keeps the descriptor sets for server reflection.

use std::path::PathBuf;

use prost::Message;

const PROTOS: [&str; 8] = [
    "proto/auditlog/v1/event.proto",
    "proto/auditlog/v1/ingest.proto",
    "proto/auditlog/v1/query.proto",
    "proto/auditlog/v1/proof.proto",
    "proto/auditlog/v1/checkpoint.proto",
    "proto/auditlog/v1/admin.proto",
    "proto/auditlog/v1/log.proto",
    "proto/auditlog/v1/sink.proto",
];

/// The OTLP logs service and what it imports (proto/opentelemetry/SOURCE.md).
const OTLP_PROTOS: [&str; 4] = [
    "proto/opentelemetry/proto/common/v1/common.proto",
    "proto/opentelemetry/proto/resource/v1/resource.proto",
    "proto/opentelemetry/proto/logs/v1/logs.proto",
    "proto/opentelemetry/proto/collector/logs/v1/logs_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    for (protos, descriptor_file) in [
        (&PROTOS[..], "auditlog_v1_descriptor.bin"),
        (&OTLP_PROTOS[..], "otlp_logs_descriptor.bin"),
    ] {
        for proto in protos {
            println!("cargo:rerun-if-changed={proto}");
        }
        let descriptors = protox::compile(protos, ["proto"])?;
        std::fs::write(out.join(descriptor_file), descriptors.encode_to_vec())?;
        // Undecodable requests are the client's fault: INVALID_ARGUMENT (src/codec.rs).
        tonic_prost_build::configure()
            .codec_path("crate::codec::ProtoCodec")
            .compile_fds(descriptors)?;
    }
    Ok(())
}
