use std::time::Instant;
#[tokio::main]
async fn main() {
    let t0 = Instant::now();
    let env = postora::config::Env::from_process();
    let t1 = Instant::now();
    let sdk = postora::adapters::aws::load_sdk_config().await;
    let t2 = Instant::now();
    let adapters = postora::adapters::aws::AwsAdapters::connect(&sdk, &postora::adapters::aws::AwsConfig::from_env(), None).await.unwrap();
    let t3 = Instant::now();
    let platforms = postora::runtime::platforms::from_env(&env).unwrap();
    let t4 = Instant::now();
    let settings = postora::config::Settings::from_env(&env, "https://x.invalid").unwrap();
    let t5 = Instant::now();
    let _app = postora::runtime::assemble(adapters.backend(), settings, platforms);
    let t6 = Instant::now();
    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
    println!("env {:.2} sdk {:.2} connect {:.2} platforms {:.2} settings {:.2} assemble {:.2}", ms(t0,t1), ms(t1,t2), ms(t2,t3), ms(t3,t4), ms(t4,t5), ms(t5,t6));
}
