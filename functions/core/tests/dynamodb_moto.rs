//! The DynamoDB adapters against a real DynamoDB API (moto server from the
//! project venv, which `make test` installs): conditional writes, idempotent
//! records, coalescing batches, the HCP Terraform request pacer.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use driftguard_core::aws::{DynamoBatchStore, DynamoHistory, DynamoPacer};
use driftguard_core::history::HistoryRecord;
use driftguard_core::model::{Change, CheckOutcome, CheckRef, CheckStatus, MAX_CHANGES_IN_STATE};
use driftguard_core::pacing::{Budget, PaceLimits, Reservation};
use driftguard_core::ports::{BatchJoin, BatchStore, HistoryStore, RequestPacer};

struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server_path() -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server");
    root.exists().then_some(root)
}

async fn start_moto() -> Option<Moto> {
    let Some(path) = moto_server_path() else {
        assert!(
            std::env::var("CI").is_err(),
            "moto_server is missing from .venv; run `make test`, which installs it"
        );
        eprintln!("skipping: .venv/bin/moto_server not installed (run `make test`)");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(path)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(moto);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("moto_server did not start on port {port}");
}

async fn client_with_table(endpoint: &str, table: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    let client = Client::from_conf(config);
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .expect("create table");
    client
}

fn check() -> CheckRef {
    CheckRef {
        organization: "acme".into(),
        workspace: "prod".into(),
    }
}

fn change(id: usize) -> Change {
    Change {
        event_id: format!("event-{id}"),
        event_name: "AuthorizeSecurityGroupIngress".into(),
        event_source: "ec2.amazonaws.com".into(),
        event_time: "2026-11-22T10:00:00Z".into(),
        aws_region: "eu-west-1".into(),
        account_id: "123456789012".into(),
        resources: vec![format!("sg-{id}")],
        ..Default::default()
    }
}

#[tokio::test]
async fn history_records_fingerprints_and_markers() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let client = client_with_table(&moto.endpoint, "history").await;
    let store = DynamoHistory::new(client, "history");
    let outcome = CheckOutcome {
        status: CheckStatus::DriftDetected,
        check: check(),
        execution_id: "arn:aws:states:eu-west-1:123456789012:execution:driftguard:exec-1".into(),
        started_at: "2026-11-22T10:00:00.500Z".into(),
        change: Some(change(1)),
        run: None,
        drift: None,
        remediation: None,
        failure: None,
    };
    let record = HistoryRecord::from_outcome(&outcome, "https://console", chrono::Utc::now(), 90);
    assert!(
        store.put_record(&record).await.unwrap(),
        "first write stores"
    );
    assert!(
        !store.put_record(&record).await.unwrap(),
        "second write of the same execution is a no-op"
    );

    // A redriven execution's real outcome replaces the on-failure handler's CheckFailed record, once.
    let failed = HistoryRecord {
        sk: "CHECK#2026-11-22T09:00:00Z#exec-0".into(),
        execution_id: "exec-0".into(),
        status: CheckStatus::CheckFailed,
        ..record.clone()
    };
    assert!(store.put_record(&failed).await.unwrap());
    assert!(!store.put_record(&failed).await.unwrap());
    let redriven = HistoryRecord {
        status: CheckStatus::NoDrift,
        ..failed.clone()
    };
    assert!(store.put_record(&redriven).await.unwrap());
    assert!(
        !store.put_record(&failed).await.unwrap(),
        "a late failure never overwrites the outcome"
    );
    let outcome_now = store.get_record(&check(), "exec-0").await.unwrap().unwrap();
    assert_eq!(outcome_now.status, CheckStatus::NoDrift);

    let found = store
        .get_record(&check(), "exec-1")
        .await
        .unwrap()
        .expect("record found by execution");
    assert_eq!(found, record);
    assert_eq!(store.list_records(&check(), 10).await.unwrap().len(), 2);

    assert_eq!(store.last_fingerprint(&check()).await.unwrap(), None);
    store
        .set_last_fingerprint(&check(), "abc", "exec-1")
        .await
        .unwrap();
    assert_eq!(
        store.last_fingerprint(&check()).await.unwrap().as_deref(),
        Some("abc")
    );

    assert!(
        !store
            .was_notified(&check(), "exec-1#DriftDetected")
            .await
            .unwrap()
    );
    assert!(
        store
            .mark_notified(&check(), "exec-1#DriftDetected", 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_notified(&check(), "exec-1#DriftDetected", 2)
            .await
            .unwrap()
    );
    assert!(
        store
            .was_notified(&check(), "exec-1#DriftDetected")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_burst_coalesces_into_one_batch() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let client = client_with_table(&moto.endpoint, "batches").await;
    let store = DynamoBatchStore::new(client, "batches");
    let now = 1_800_000_000;

    assert_eq!(
        store
            .open_or_join(&check(), "owner", &change(0), now, 300)
            .await
            .unwrap(),
        BatchJoin::Opened
    );
    // A retried admit of the owner stays the owner.
    assert_eq!(
        store
            .open_or_join(&check(), "owner", &change(0), now, 300)
            .await
            .unwrap(),
        BatchJoin::Opened
    );
    for i in 1..40 {
        let joined = store
            .open_or_join(&check(), &format!("exec-{i}"), &change(i), now + 1, 300)
            .await
            .unwrap();
        assert_eq!(
            joined,
            BatchJoin::Joined {
                owner_execution_id: "owner".into()
            }
        );
    }
    // A retried join is not counted twice.
    store
        .open_or_join(&check(), "exec-1", &change(1), now + 1, 300)
        .await
        .unwrap();

    let closed = store.close(&check(), "owner", now + 60).await.unwrap();
    assert!(closed.closed_now, "the first close closes the open batch");
    assert_eq!(closed.changes.len(), MAX_CHANGES_IN_STATE);
    assert_eq!(closed.changes.len() + closed.omitted, 40);
    let again = store.close(&check(), "owner", now + 61).await.unwrap();
    assert!(
        !again.closed_now,
        "a second close says an earlier attempt closed it"
    );
    assert_eq!(
        (again.changes, again.omitted),
        (closed.changes, closed.omitted),
        "close is idempotent"
    );

    // After the close a new change opens a new batch.
    assert_eq!(
        store
            .open_or_join(&check(), "next", &change(99), now + 62, 300)
            .await
            .unwrap(),
        BatchJoin::Opened
    );
    // A stale batch (owner died) is not joined: the next change takes over.
    assert_eq!(
        store
            .open_or_join(&check(), "late", &change(100), now + 1000, 300)
            .await
            .unwrap(),
        BatchJoin::Opened
    );
    // Other workspaces are independent.
    let other = CheckRef {
        organization: "acme".into(),
        workspace: "dev".into(),
    };
    assert_eq!(
        store
            .open_or_join(&other, "x", &change(1), now, 300)
            .await
            .unwrap(),
        BatchJoin::Opened
    );
}

#[tokio::test]
async fn the_pacer_spaces_requests_and_refuses_a_long_queue() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let client = client_with_table(&moto.endpoint, "pace").await;
    let budget = Budget {
        key: "PACE#app.terraform.io#user-V3R563qtJNcExAkN".into(),
        limits: PaceLimits {
            max_wait: Duration::from_secs(1),
            ..PaceLimits::per_second(20, 5)
        },
    };
    let pacer = DynamoPacer::new(client.clone(), "pace");
    let now = 1_800_000_000_000_000i64;
    let mut waits = Vec::new();
    loop {
        match pacer.reserve(&budget, now).await.unwrap() {
            Reservation::Granted { wait } => waits.push(wait.as_millis()),
            Reservation::Full { retry_after } => {
                assert!(retry_after <= Duration::from_millis(50), "{retry_after:?}");
                break;
            }
        }
        assert!(waits.len() <= 100, "the queue never filled up");
    }
    // The burst at once, then one every 50 ms, up to 1 s ahead.
    assert_eq!(&waits[..6], &[0, 0, 0, 0, 0, 50]);
    assert_eq!(waits.len(), 25);
    assert_eq!(*waits.last().unwrap(), 1_000);

    // Later, the budget is full again: a quiet pacer restarts from now.
    let later = now + 10_000_000;
    assert_eq!(
        pacer.reserve(&budget, later).await.unwrap(),
        Reservation::Granted {
            wait: Duration::ZERO
        }
    );
    // Another budget (the runs list's) is another item.
    let runs_list = Budget {
        key: format!("{}#runs-list", budget.key),
        limits: PaceLimits::run_list(),
    };
    assert_eq!(
        pacer.reserve(&runs_list, later).await.unwrap(),
        Reservation::Granted {
            wait: Duration::ZERO
        }
    );
    // One item, in its own partition, with a TTL.
    let item = client
        .get_item()
        .table_name("pace")
        .key("pk", AttributeValue::S(budget.key.clone()))
        .key("sk", AttributeValue::S("PACE".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the pacing item");
    assert!(item.contains_key("tat") && item.contains_key("expires_at"));
}
