//! The app refuses to start without a server and a key, saying how to call it. (Its
//! audit trail is tested end to end against a real `auditlogd` by
//! server/tests/client_example.rs, which runs this binary; this test is also what
//! makes `cargo test --workspace` build it.)

#[test]
fn without_arguments_it_says_how_to_call_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_axum-app"))
        .output()
        .expect("the app runs");
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("usage: axum-app AUDITLOGD_GRPC_URL KEY"),
        "{said}"
    );
}

#[test]
fn a_server_address_that_is_no_url_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_axum-app"))
        .args(["not a url", "alk_key"])
        .output()
        .expect("the app runs");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("not a url"), "{said}");
}
