//! The shard map against a real etcd (Debian's `etcd-server` on loopback, started by
//! scripts/etcd.sh: once for the suite by scripts/test.sh, else once per test process).

#[path = "../../tests/common/etcd.rs"]
mod etcd_service;

use etcd_service::{etcd_url, fresh_cluster};

use super::*;

fn record(node: &str) -> NodeRecord {
    NodeRecord {
        node: node.to_owned(),
        grpc: format!("http://{node}.example:7070"),
        http: format!("http://{node}.example:7080"),
        origin: format!("audit.example.com/{node}"),
        verifier_key: None,
    }
}

fn etcd() -> Etcd {
    Etcd::new(etcd_url(), Duration::from_secs(5)).expect("a client")
}

async fn join(cluster: &str, node: &str) -> Result<Membership, ClusterError> {
    Membership::join(etcd(), cluster, record(node), 5).await
}

#[tokio::test]
async fn a_name_has_one_live_member_and_is_free_once_it_leaves() {
    let cluster = fresh_cluster("names");
    let n1 = join(&cluster, "n1").await.expect("n1 joins");
    assert!(n1.writable());
    assert!(n1.renew().await.expect("renews"), "a live lease renewed");
    assert!(n1.writable());
    let again = join(&cluster, "n1").await.expect_err("a second n1");
    assert!(
        matches!(again, ClusterError::NameTaken { ref node, .. } if node == "n1"),
        "{again}"
    );
    assert!(
        again.to_string().contains("another auditlogd runs"),
        "{again}"
    );
    let n2 = join(&cluster, "n2").await.expect("n2 joins");
    assert_eq!(n2.node("n1").await.unwrap(), Some(record("n1")));
    n1.leave().await.expect("leaves");
    assert!(!n1.writable());
    assert_eq!(n2.node("n1").await.unwrap(), None);
    let back = join(&cluster, "n1").await.expect("the name is free");
    assert!(back.writable());
    back.leave().await.unwrap();
    // The name stands for n1's log for good: another log (a new data directory, another
    // key) may not take it and its tenants.
    let mut other = record("n1");
    other.origin = "audit.example.com/elsewhere".into();
    let refused = Membership::join(etcd(), &cluster, other, 5)
        .await
        .expect_err("another log under n1's name");
    assert!(
        matches!(refused, ClusterError::AnotherLog { .. }),
        "{refused}"
    );
}

#[tokio::test]
async fn a_tenant_is_claimed_by_one_node_and_stays_with_it() {
    let cluster = fresh_cluster("claims");
    let n1 = join(&cluster, "n1").await.unwrap();
    let n2 = join(&cluster, "n2").await.unwrap();
    assert_eq!(n1.writer_of("org_a").await.unwrap(), Writer::Here);
    assert_eq!(n2.writer_of("org_b").await.unwrap(), Writer::Here);
    assert_eq!(
        n2.writer_of("org_a").await.unwrap(),
        Writer::Elsewhere("n1".into())
    );
    assert_eq!(
        n1.writer_of("org_b").await.unwrap(),
        Writer::Elsewhere("n2".into())
    );
    // Both claim the same tenants at once: each goes to exactly one of them.
    let tenants: Vec<String> = (0..20).map(|i| format!("org_{i}")).collect();
    async fn claims(m: &Membership, tenants: &[String]) -> Vec<bool> {
        let mut here = Vec::new();
        for t in tenants {
            here.push(m.writer_of(t).await.unwrap() == Writer::Here);
        }
        here
    }
    let (one, two) = tokio::join!(claims(&n1, &tenants), claims(&n2, &tenants));
    for (i, (a, b)) in one.iter().zip(&two).enumerate() {
        assert!(a ^ b, "org_{i}: n1 {a}, n2 {b}");
    }
    let mut map = n1.assignments().await.unwrap();
    map.sort();
    assert_eq!(map.len(), 22);
    assert!(map.contains(&("org_a".to_owned(), "n1".to_owned())));

    // A restarted n1 (a new process, the map read afresh) still writes org_a.
    n1.leave().await.unwrap();
    let restarted = join(&cluster, "n1").await.unwrap();
    assert_eq!(restarted.writer_of("org_a").await.unwrap(), Writer::Here);
    assert_eq!(
        restarted.writer_of("org_b").await.unwrap(),
        Writer::Elsewhere("n2".into())
    );
}

#[tokio::test]
async fn a_node_whose_lease_is_gone_writes_nothing_until_it_has_a_new_one() {
    let cluster = fresh_cluster("leases");
    let n1 = join(&cluster, "n1").await.unwrap();
    assert_eq!(n1.writer_of("org_a").await.unwrap(), Writer::Here);
    // The lease ends behind the node's back (as when etcd expires it).
    let id = n1.held.lock().expect("held").id;
    etcd().revoke(id).await.unwrap();
    // Until it renews, it still counts the lease alive, by its own clock: within the TTL
    // etcd granted. Renewing finds it gone and registers again.
    assert!(n1.renew().await.unwrap(), "registered again");
    assert_ne!(n1.held.lock().expect("held").id, id, "a new lease");
    assert_eq!(n1.writer_of("org_a").await.unwrap(), Writer::Here);

    // Its lease revoked and its name taken by another process meanwhile: it cannot
    // register, writes nothing, and claims nothing.
    let id = n1.held.lock().expect("held").id;
    etcd().revoke(id).await.unwrap();
    let usurper = join(&cluster, "n1").await.expect("the name is free");
    assert!(matches!(
        n1.renew().await,
        Err(ClusterError::NameTaken { .. })
    ));
    assert!(!n1.writable());
    assert_eq!(n1.writer_of("org_a").await.unwrap(), Writer::NoLease);
    assert_eq!(n1.writer_of("org_new").await.unwrap(), Writer::NoLease);
    assert_eq!(usurper.writer_of("org_a").await.unwrap(), Writer::Here);

    // A claim whose node key is not under the claimant's lease is refused by etcd
    // itself, whatever the node believes: the lease's expiry fences it.
    *n1.held.lock() = Some(Held {
        id,
        alive_until: Instant::now() + Duration::from_secs(60),
    });
    assert_eq!(n1.writer_of("org_other").await.unwrap(), Writer::NoLease);
    assert_eq!(
        usurper.writer_of("org_other").await.unwrap(),
        Writer::Here,
        "left unassigned by the refused claim"
    );
}
