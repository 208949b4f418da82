//! The port conformance suite against the local adapters.

use std::sync::Arc;
use std::time::Duration;

use postora::adapters::local::{Db, MasterKeyFile, SqliteQueue, SqliteStore};
use postora::ports::{Clock, ManualClock, Stores};
use postora_test_support::app::served_blobs;
use postora_test_support::conformance;
use postora_test_support::conformance::media::LinkChecks;

#[tokio::test]
async fn the_sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("postora.db")).unwrap();
    conformance::stores(&Stores::from_one(Arc::new(SqliteStore::new(db)))).await;
}

#[tokio::test]
async fn the_local_objects_conform() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = served_blobs(dir.path(), None).await;
    conformance::media::objects(&blobs).await;
    conformance::media::multipart(&blobs).await;
}

#[tokio::test]
async fn the_local_objects_links_conform_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let blobs = served_blobs(dir.path(), Some(clock.clone() as Arc<dyn Clock>)).await;
    conformance::media::fetch_links(&blobs, LinkChecks::Clock(&clock)).await;
}

#[tokio::test]
async fn the_master_key_file_conforms_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let keys = MasterKeyFile::load_or_create(&path).unwrap();
    conformance::keys(&keys).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // The same file gives the same key after a restart.
    let ws = postora::domain::WorkspaceId::generate();
    use postora::ports::KeyService;
    let (plain, wrapped) = keys.generate_data_key(&ws).await.unwrap();
    let reopened = MasterKeyFile::load_or_create(&path).unwrap();
    assert_eq!(
        reopened
            .decrypt_data_key(&ws, &wrapped)
            .await
            .unwrap()
            .as_ref(),
        plain.as_ref()
    );
}

#[tokio::test]
async fn the_sqlite_queue_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("postora.db")).unwrap();
    let q = SqliteQueue::new(db, Duration::from_secs(2), 3);
    conformance::queue(&q, Duration::from_secs(2), 3).await;
}

/// A data directory made before keys had ids, labels and times: opening it adds the columns, and its keys keep
/// working, listed by the start of their hash and revocable by it.
#[tokio::test]
async fn a_database_from_before_key_ids_is_upgraded_in_place() {
    use postora::domain::workspace::{hash_api_key, legacy_api_key_id};
    use postora::ports::WorkspaceStore;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("postora.db");
    let ws = postora::domain::WorkspaceId::generate();
    let hash = hash_api_key("pk_old");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE workspaces (id TEXT PRIMARY KEY, name TEXT NOT NULL, wrapped_key BLOB NOT NULL,
                 created_at INTEGER NOT NULL);
             CREATE TABLE api_keys (hash TEXT PRIMARY KEY, workspace_id TEXT NOT NULL);",
        )
        .unwrap();
        c.execute(
            "INSERT INTO workspaces VALUES (?1, 'old', x'010203', 0)",
            [ws.as_str()],
        )
        .unwrap();
        c.execute(
            "INSERT INTO api_keys VALUES (?1, ?2)",
            [hash.as_str(), ws.as_str()],
        )
        .unwrap();
    }
    let store = SqliteStore::new(Db::open(&path).unwrap());
    // Opening again (a second process) finds the columns there and adds nothing.
    drop(Db::open(&path).unwrap());
    let found = store.find_api_key(&hash).await.unwrap().unwrap();
    assert_eq!(found.workspace_id, ws);
    assert!(found.legacy && found.created_at.is_none() && found.prefix().is_none());
    assert_eq!(found.id, legacy_api_key_id(&hash));
    assert_eq!(store.list_api_keys(&ws).await.unwrap(), vec![found.clone()]);
    let now = chrono::Utc::now();
    assert!(store.touch_api_key(&hash, now, now).await.unwrap());
    assert_eq!(
        store.revoke_api_key(&ws, &found.id).await.unwrap().hash,
        hash
    );
    assert_eq!(store.workspace_for_key(&hash).await.unwrap(), None);
}
