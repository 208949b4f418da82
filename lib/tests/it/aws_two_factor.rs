//! Two-factor secrets on the AWS adapters, against the emulator: a secret sealed under KMS in the service scope opens
//! for its person only.

use postora::app::people::two_factor;
use postora::domain::PersonId;
use postora_test_support::aws::Emulator;

#[tokio::test]
async fn a_two_factor_secret_sealed_under_kms_opens_for_its_person_only() {
    let aws = Emulator::fresh().await;
    let keys = aws.adapters.keys.clone();
    let ann = PersonId::generate();
    let bob = PersonId::generate();
    let secret = two_factor::new_secret();
    let sealed = two_factor::seal(keys.as_ref(), &ann, &secret)
        .await
        .unwrap();
    assert!(sealed.starts_with("v1."));
    let (b32, _) = two_factor::enrolment(&secret, "ann@example.com", "Postora");
    assert!(!sealed.contains(&b32));
    let opened = two_factor::open(keys.as_ref(), &ann, &sealed)
        .await
        .unwrap();
    assert_eq!(opened.as_slice(), secret.as_slice());
    // Copied onto another person, it does not open; nor does a tampered one.
    assert!(two_factor::open(keys.as_ref(), &bob, &sealed)
        .await
        .is_err());
    let mut tampered = sealed.clone();
    tampered.pop();
    tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
    assert!(two_factor::open(keys.as_ref(), &ann, &tampered)
        .await
        .is_err());
}
