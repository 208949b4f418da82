//! The log lines of a test binary, captured while a test looks for what must never be in them (a token, a secret).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{reload, Registry};

/// The log lines of this whole test binary, at every level, captured while a [`Capturing`] guard lives. Other tests'
/// lines written meanwhile are captured too (they must not hold a token either); with no guard alive the filter is
/// off, so the rest of the binary does not pay for TRACE.
pub struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    filter: reload::Handle<LevelFilter, Registry>,
    active: Mutex<usize>,
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let (filter, handle) = reload::Layer::new(LevelFilter::OFF);
        let _ = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || Sink(sink.clone()))
                    .with_filter(filter),
            )
            .try_init();
        Capture {
            buf,
            filter: handle,
            active: Mutex::new(0),
        }
    })
}

/// Captures every log line while it lives.
pub struct Capturing;

impl Capturing {
    pub fn start() -> (Arc<Mutex<Vec<u8>>>, Capturing) {
        let c = capture();
        let mut active = c.active.lock().unwrap();
        *active += 1;
        c.filter.reload(LevelFilter::TRACE).unwrap();
        (c.buf.clone(), Capturing)
    }
}

impl Drop for Capturing {
    fn drop(&mut self) {
        let c = capture();
        let mut active = c.active.lock().unwrap_or_else(|e| e.into_inner());
        *active -= 1;
        if *active == 0 {
            let _ = c.filter.reload(LevelFilter::OFF);
        }
    }
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines written on the current thread while its guard lives (a test on a current-thread runtime, which runs
/// the code under test on the same thread), at every level.
#[derive(Clone, Default)]
pub struct ThreadLogs(Arc<Mutex<Vec<u8>>>);

impl ThreadLogs {
    /// Starts capturing; the capture ends when the guard is dropped.
    pub fn start() -> (ThreadLogs, tracing::subscriber::DefaultGuard) {
        let logs = ThreadLogs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for ThreadLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ThreadLogs {
    type Writer = ThreadLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
