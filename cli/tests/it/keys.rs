//! `postora workspace add-key`, `keys` and `revoke-key` on a data directory, as an operator runs them.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_postora");

fn postora(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap()
}

fn lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn keys_are_added_with_a_label_listed_without_the_key_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let created = lines(&postora(dir.path(), &["workspace", "create", "ops"]));
    let ws = created[0]["workspace_id"].as_str().unwrap().to_owned();
    let first = created[0]["api_key"].as_str().unwrap().to_owned();

    let added = lines(&postora(
        dir.path(),
        &["workspace", "add-key", &ws, "--label", "deploys"],
    ));
    let second = added[0]["api_key"].as_str().unwrap().to_owned();
    let second_id = added[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(added[0]["label"], "deploys");
    assert_eq!(
        added[0]["role"], "owner",
        "the operator's keys are owners' unless told"
    );
    assert!(second.starts_with(&format!("pk_{second_id}")));

    // A key with a role; an unknown role is refused, naming the roles, and makes nothing.
    let viewer = lines(&postora(
        dir.path(),
        &["workspace", "add-key", &ws, "--role", "viewer"],
    ));
    assert_eq!(viewer[0]["role"], "viewer");
    let viewer_id = viewer[0]["id"].as_str().unwrap().to_owned();
    let out = postora(dir.path(), &["workspace", "add-key", &ws, "--role", "root"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("owner, admin, editor, viewer, client"));
    lines(&postora(
        dir.path(),
        &["workspace", "revoke-key", &ws, &viewer_id],
    ));

    let out = postora(dir.path(), &["workspace", "keys", &ws]);
    let listed = lines(&out);
    assert_eq!(listed.len(), 2, "{listed:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains(&first) && !printed.contains(&second));
    assert!(first.starts_with(listed[0]["prefix"].as_str().unwrap()));
    assert_eq!(listed[1]["label"], "deploys");

    // Bad input is refused, naming what is wrong.
    let out = postora(
        dir.path(),
        &["workspace", "add-key", &ws, "--label", &"x".repeat(101)],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("label"));
    let out = postora(
        dir.path(),
        &["workspace", "revoke-key", &ws, "000000000000"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("api key not found"));

    let revoked = lines(&postora(
        dir.path(),
        &["workspace", "revoke-key", &ws, &second_id],
    ));
    assert_eq!(revoked[0]["id"], second_id.as_str());
    assert_eq!(revoked[0]["revoked"], true);
    assert_eq!(
        lines(&postora(dir.path(), &["workspace", "keys", &ws])).len(),
        1
    );

    // The operator may revoke the last key; the command says how to make a new one.
    let first_id = listed[0]["id"].as_str().unwrap().to_owned();
    let out = postora(dir.path(), &["workspace", "revoke-key", &ws, &first_id]);
    assert_eq!(lines(&out).len(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("workspace add-key"));
    assert!(lines(&postora(dir.path(), &["workspace", "keys", &ws])).is_empty());
}
