//! The vault on the embedded backend's key file and store: a warm publisher makes almost no key-service calls.

use std::sync::Arc;

use postora::adapters::local::{Db, MasterKeyFile, SqliteStore};
use postora::crypto::Vault;
use postora::domain::{AccountId, TokenSet, Workspace, WorkspaceId};
use postora::ports::{KeyService, WorkspaceStore};

#[tokio::test]
async fn a_burst_of_opens_on_a_cold_cache_unwraps_the_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::new(Db::open(&dir.path().join("db")).unwrap()));
    let keys: Arc<dyn KeyService> =
        Arc::new(MasterKeyFile::load_or_create(&dir.path().join("key")).unwrap());
    let warm = Vault::new(keys.clone(), store.clone());
    let ws = WorkspaceId::generate();
    let workspace = Workspace {
        id: ws.clone(),
        name: "w".into(),
        wrapped_key: warm.new_workspace_key(&ws).await.unwrap(),
        created_at: chrono::Utc::now(),
        settings: Default::default(),
    };
    store
        .create_workspace(
            &workspace,
            &postora_test_support::conformance::key_record(&workspace.id, "h"),
        )
        .await
        .unwrap();
    let acc = AccountId::generate();
    let sealed = warm
        .seal(&ws, &acc, &TokenSet::new("t", chrono::Utc::now()))
        .await
        .unwrap();

    let cold = Arc::new(Vault::new(keys, store));
    let mut opens = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (cold, ws, acc, sealed) = (cold.clone(), ws.clone(), acc.clone(), sealed.clone());
        opens.spawn(async move { cold.open(&ws, &acc, &sealed).await.map(|_| ()) });
    }
    while let Some(r) = opens.join_next().await {
        r.unwrap().unwrap();
    }
    assert_eq!(cold.unwrap_count(), 1);
}
