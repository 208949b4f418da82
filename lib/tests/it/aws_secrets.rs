//! Secrets per function on the AWS emulator: at cold start a function reads from Secrets Manager the secrets it uses,
//! named by `POSTORA_<PLATFORM>_CREDENTIALS`, and no other; a secret that cannot be used stops it with an error that
//! names the secret and never shows its value.

use postora::config::{Env, Settings};
use postora::domain::PlatformKind;
use postora::runtime::platforms;
use postora::runtime::secrets::{credentials_var, resolve, Function, SecretError};
use postora_test_support::aws::{credentials_json, emulator, store_secret};
use secrecy::ExposeSecret;

const CLIENT_SECRET: &str = "threads-app-secret-from-secrets-manager";

async fn client() -> (aws_config::SdkConfig, aws_sdk_secretsmanager::Client) {
    let sdk = emulator().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    (sdk, client)
}

#[tokio::test]
async fn the_functions_that_call_platforms_build_them_from_the_secrets_they_are_named() {
    let (sdk, client) = client().await;
    let threads = store_secret(&sdk, &credentials_json("threads-app", CLIENT_SECRET)).await;
    let facebook = store_secret(&sdk, &credentials_json("facebook-app", "fb-app-secret")).await;
    for function in [
        Function::Publisher,
        Function::OAuthCallback,
        Function::TokenRefresher,
    ] {
        let mut env = Env::from_pairs([
            (credentials_var(PlatformKind::Threads), threads.clone()),
            (credentials_var(PlatformKind::Facebook), facebook.clone()),
        ]);
        resolve(&mut env, function, &client).await.unwrap();
        assert_eq!(env.get("POSTORA_THREADS_CLIENT_ID"), Some("threads-app"));
        assert_eq!(
            env.get("POSTORA_THREADS_CLIENT_SECRET"),
            Some(CLIENT_SECRET)
        );
        let on = platforms::from_env(&env).unwrap().enabled();
        assert!(on.contains(&PlatformKind::Threads), "{function:?}: {on:?}");
        assert!(on.contains(&PlatformKind::Facebook), "{function:?}: {on:?}");
        assert!(
            !on.contains(&PlatformKind::Instagram),
            "{function:?}: {on:?}"
        );
        let shown = format!("{env:?}");
        assert!(!shown.contains(CLIENT_SECRET), "{shown}");
    }
}

#[tokio::test]
async fn the_data_deletion_function_gets_the_callback_secrets_the_api_all_and_the_dispatcher_none()
{
    let (sdk, client) = client().await;
    let threads = store_secret(&sdk, &credentials_json("threads-app", CLIENT_SECRET)).await;
    let x = store_secret(&sdk, &credentials_json("x-app", "x-app-secret")).await;
    let named = || {
        Env::from_pairs([
            (credentials_var(PlatformKind::Threads), threads.clone()),
            (credentials_var(PlatformKind::X), x.clone()),
        ])
    };

    let mut env = named();
    resolve(&mut env, Function::DataDeletion, &client)
        .await
        .unwrap();
    let settings = Settings::from_env(&env, "https://postora.invalid").unwrap();
    assert_eq!(
        settings
            .callbacks
            .threads
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
            .as_deref(),
        Some(CLIENT_SECRET)
    );
    assert_eq!(
        env.get("POSTORA_X_CLIENT_SECRET"),
        None,
        "no platform call, so not X's"
    );

    // The API reads them: it checks posts against the platforms that are on.
    let mut env = named();
    resolve(&mut env, Function::PostApi, &client).await.unwrap();
    assert_eq!(env.get("POSTORA_X_CLIENT_SECRET"), Some("x-app-secret"));
    assert!(platforms::from_env(&env)
        .unwrap()
        .enabled()
        .contains(&PlatformKind::X));

    {
        let function = Function::Dispatcher;
        let mut env = named();
        // Even a secret that does not exist is not asked for: these functions read none.
        env.set(
            &credentials_var(PlatformKind::Facebook),
            "postora-test/absent",
        );
        resolve(&mut env, function, &client).await.unwrap();
        assert_eq!(
            env.get("POSTORA_THREADS_CLIENT_SECRET"),
            None,
            "{function:?}"
        );
        assert!(platforms::from_env(&env).unwrap().enabled().is_empty());
    }
}

#[tokio::test]
async fn a_missing_or_malformed_secret_is_named_and_its_value_never_shown() {
    let (sdk, client) = client().await;
    let mut env = Env::from_pairs([(
        credentials_var(PlatformKind::Threads),
        "postora-test/absent",
    )]);
    let err = resolve(&mut env, Function::Publisher, &client)
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("postora-test/absent") && shown.contains("POSTORA_THREADS_CREDENTIALS"),
        "{shown}"
    );
    assert!(shown.contains("ResourceNotFoundException"), "{shown}");

    for value in [
        "plain-text-secret-value".to_owned(),
        "\"quoted-secret-value\"".to_owned(),
        r#"{"client_id": "app", "client_secret": 424242424242}"#.to_owned(),
        r#"{"client_id": "app", "secret": "misnamed-secret-value"}"#.to_owned(),
    ] {
        let name = store_secret(&sdk, &value).await;
        let mut env = Env::from_pairs([(credentials_var(PlatformKind::Facebook), name.clone())]);
        let err = resolve(&mut env, Function::DataDeletion, &client)
            .await
            .unwrap_err();
        assert!(matches!(err, SecretError::Malformed { .. }), "{err:?}");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(shown.contains(&name), "{shown}");
            for part in ["secret-value", "424242"] {
                assert!(!shown.contains(part), "the value shows: {shown}");
            }
        }
    }
}
