//! The dispatcher on Lambda: an EventBridge schedule calls it every minute; each call moves the deliveries due in
//! the next ~75 s onto the queue, each delayed to its second, and sends again those whose deadline ran out.

#[tokio::main]
async fn main() -> Result<(), postora_functions::Error> {
    postora_functions::run_scheduled(
        postora_functions::Function::Dispatcher,
        "dispatcher run",
        |app| async move { app.dispatch_tick().await },
    )
    .await
}
