//! Test support both servers' suites share (feature `testing`).

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::format::FmtSpan;

/// Everything the process logs, at every level and with span closes, kept in memory: the
/// no-personal-data log tests read it. Installs the global subscriber, so one per test binary.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn install() -> Self {
        let capture = Self::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_env_filter(
                "trace,h2=info,hyper=info,hyper_util=info,reqwest=info,mio=info,tokio=info,\
                 actix_server=info,actix_http=info",
            )
            .with_span_events(FmtSpan::CLOSE)
            .with_writer(move || writer.clone())
            .init();
        capture
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
