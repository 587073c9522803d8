//! Compiles `proto/auditlog/v1/*.proto` with protox (no system `protoc`), generates the
//! messages, clients and servers, and keeps the descriptor set for server reflection.

use std::path::PathBuf;

use prost::Message;

const PROTOS: [&str; 7] = [
    "proto/auditlog/v1/event.proto",
    "proto/auditlog/v1/ingest.proto",
    "proto/auditlog/v1/query.proto",
    "proto/auditlog/v1/proof.proto",
    "proto/auditlog/v1/checkpoint.proto",
    "proto/auditlog/v1/admin.proto",
    "proto/auditlog/v1/log.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("auditlog_v1_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    // Undecodable requests are the client's fault: INVALID_ARGUMENT (src/codec.rs).
    tonic_prost_build::configure()
        .codec_path("crate::codec::ProtoCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
