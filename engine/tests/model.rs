//! Random operations on the log and on a plain `Vec` model, compared after each step:
//! appends of random batch sizes, seals, clean reopens and crash reopens (a directory
//! snapshot taken while the log is open), with every durability policy.

mod common;

use std::collections::HashMap;

use auditlog_engine::codec::{TenantLink, encode_record_into};
use auditlog_engine::merkle::CompactRange;
use auditlog_engine::{Durability, Log, LogConfig, OpenOptions};
use common::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Seal,
    Reopen,
    CrashReopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..60).prop_map(Op::Append),
        1 => Just(Op::Seal),
        1 => Just(Op::Reopen),
        1 => Just(Op::CrashReopen),
    ]
}

/// The root of the model: each record links to the one before of its tenant.
fn expected_root(config: &LogConfig, model: &[String]) -> auditlog_engine::Hash {
    let mut range = CompactRange::new(config.hash);
    let mut newest: HashMap<String, u64> = HashMap::new();
    for (seq, line) in model.iter().enumerate() {
        let event = parse(line);
        let link = match newest.insert(event.tenant_id.to_string(), seq as u64) {
            Some(prev) => TenantLink::Previous(prev),
            None => TenantLink::First,
        };
        let mut record = Vec::new();
        encode_record_into(&event, link, &mut record);
        range.append(config.hash.hash_leaf(&record), |_, _, _| {});
    }
    range.root()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_log_behaves_like_a_vec(ops in proptest::collection::vec(op(), 1..25), durability in 0u8..3) {
        let durability = [Durability::Always, Durability::Interval(std::time::Duration::from_millis(2)), Durability::None][durability as usize];
        let pool = lines(1_500, 41);
        let mut dirs = vec![tempfile::tempdir().expect("tempdir")];
        let config = LogConfig { durability, ..small_segments(8 << 10) };
        let mut log = Log::create(dirs[0].path(), &config).expect("create");
        let mut model: Vec<String> = Vec::new();
        for op in ops {
            match op {
                Op::Append(n) => {
                    let start = model.len() % 1_000;
                    let batch = &pool[start..start + n];
                    let ack = append_all(&log, batch, n).pop().expect("ack");
                    prop_assert_eq!(ack.first_seq, model.len() as u64);
                    model.extend_from_slice(batch);
                    prop_assert_eq!(ack.tree_size, model.len() as u64);
                }
                Op::Seal => log.seal().expect("seal"),
                Op::Reopen => {
                    let dir = dirs.last().expect("dir").path().to_path_buf();
                    drop(log);
                    log = Log::open(&dir).expect("reopen");
                }
                Op::CrashReopen => {
                    let image = tempfile::tempdir().expect("tempdir");
                    copy_dir(dirs.last().expect("dir").path(), image.path());
                    drop(log);
                    log = OpenOptions::new().open(image.path()).expect("recover");
                    dirs.push(image);
                }
            }
            prop_assert_eq!(log.tree_size(), model.len() as u64);
            prop_assert_eq!(log.root(), expected_root(&config, &model));
        }
        prop_assert_eq!(read_all(&log), model.clone());
        check_proofs(&log, &[(model.len() as u64 / 2, log.root_at(model.len() as u64 / 2).expect("root"))]);
    }
}
