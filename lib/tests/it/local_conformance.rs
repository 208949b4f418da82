//! The port conformance suite against the local adapters.

use std::sync::Arc;
use std::time::Duration;

use postora::adapters::local::{Db, MasterKeyFile, SqliteQueue, SqliteStore};
use postora::ports::Stores;
use postora_test_support::conformance;

#[tokio::test]
async fn the_sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("postora.db")).unwrap();
    conformance::stores(&Stores::from_one(Arc::new(SqliteStore::new(db)))).await;
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
