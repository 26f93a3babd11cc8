//! While the daemon serves, log lines wait in a bounded queue for one writer
//! thread instead of being written by the task that logs them. A log output
//! that stalls (an unread stderr pipe, a journald that cannot keep up, a
//! slow disk) would otherwise block the runtime's workers, and with them
//! every session; a client that makes us log is a client that could stall
//! everyone. Past the budget, lines are dropped and counted, and the count
//! is logged once the output takes lines again.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use log::kv::{Error, Key, Value, VisitSource};
use log::{Level, Record};

use super::escape::escape;
use crate::defaults::LOG_QUEUE_BYTES;

/// Lines the channel holds at most; the byte budget usually binds first.
const QUEUE_LINES: usize = 16 * 1024;

/// The writer's rest after each batch: lines wait at most this long more.
const BATCH_INTERVAL: Duration = Duration::from_millis(2);

/// Lines handed to the output at once: one write for many lines, with the
/// text of at most this many held twice (queued, and formatted for it).
const BATCH_LINES: usize = 64;

/// A log record owned, so that another thread can write it later.
pub(super) struct Line {
    pub(super) level: Level,
    /// When it was logged, not when it was written.
    pub(super) stamp: SystemTime,
    target: String,
    pub(super) text: String,
    /// Structured fields (journal fields), as text.
    fields: Vec<(String, String)>,
    module_path: Option<&'static str>,
    file: Option<&'static str>,
    line: Option<u32>,
}

impl Line {
    /// `record` owned; its structured fields only `with_fields` (for the
    /// journal), as collecting them costs a dozen allocations per line.
    pub(super) fn of(record: &Record, with_fields: bool) -> Line {
        let mut fields = Fields::default();
        if with_fields {
            let _ = record.key_values().visit(&mut fields);
        }
        Line {
            level: record.level(),
            stamp: SystemTime::now(),
            target: record.target().to_owned(),
            text: record.args().to_string(),
            fields: fields.0,
            module_path: record.module_path_static(),
            file: record.file_static(),
            line: record.line(),
        }
    }

    /// A line of the queue's own.
    fn note(level: Level, text: String) -> Line {
        Line {
            level,
            stamp: SystemTime::now(),
            target: module_path!().to_owned(),
            text,
            fields: Vec::new(),
            module_path: Some(module_path!()),
            file: Some(file!()),
            line: Some(line!()),
        }
    }

    /// Calls `f` with the line as a log record again, with `message` (the
    /// text as written elsewhere) and the fields escaped the same way.
    pub(super) fn as_record(&self, message: &str, f: impl FnOnce(&Record)) {
        let fields: Vec<(&str, Cow<'_, str>)> = self
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), escape(v)))
            .collect();
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_ref())).collect();
        f(&Record::builder()
            .level(self.level)
            .target(&self.target)
            .args(format_args!("{message}"))
            .key_values(&fields)
            .module_path_static(self.module_path)
            .file_static(self.file)
            .line(self.line)
            .build());
    }

    /// Bytes the line holds, for the budget.
    fn size(&self) -> usize {
        let fields: usize = self.fields.iter().map(|(k, v)| k.len() + v.len()).sum();
        std::mem::size_of::<Line>() + self.target.len() + self.text.len() + fields
    }
}

#[derive(Default)]
struct Fields(Vec<(String, String)>);

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), Error> {
        self.0.push((key.to_string(), value.to_string()));
        Ok(())
    }
}

/// The queue and its writer thread, when one runs.
#[derive(Default)]
pub(super) struct Queue {
    sender: RwLock<Option<SyncSender<Line>>>,
    /// Says the writer thread wrote everything and ended.
    finished: Mutex<Option<Receiver<()>>>,
    queued_bytes: AtomicUsize,
    dropped: AtomicU64,
}

impl Queue {
    /// From now on, lines go to `write` on a thread of their own, in
    /// batches of up to `BATCH_LINES` in order. Call it after any fork
    /// (`--daemon`): threads do not survive one.
    pub(super) fn start(&'static self, write: impl Fn(&[Line]) + Send + 'static) {
        let (sender, lines) = mpsc::sync_channel(QUEUE_LINES);
        let (done, finished) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("log".into())
            .spawn(move || {
                self.drain(lines, write);
                let _ = done.send(());
            });
        if spawned.is_ok() {
            *self.sender.write().unwrap_or_else(PoisonError::into_inner) = Some(sender);
            *self.finished.lock().unwrap_or_else(PoisonError::into_inner) = Some(finished);
        }
    }

    /// Queues `line`; hands it back when no writer runs, so the caller
    /// writes it itself. A full queue drops the line and counts it.
    pub(super) fn push(&self, line: Line) -> Option<Line> {
        let sender = self.sender.read().unwrap_or_else(PoisonError::into_inner);
        let Some(sender) = sender.as_ref() else {
            return Some(line);
        };
        let size = line.size();
        let over_budget =
            self.queued_bytes.fetch_add(size, Ordering::Relaxed) + size > LOG_QUEUE_BYTES;
        let sent = if over_budget {
            Err(TrySendError::Full(line))
        } else {
            sender.try_send(line)
        };
        let Err(unsent) = sent else {
            return None;
        };
        self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
        match unsent {
            TrySendError::Full(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                None
            }
            TrySendError::Disconnected(line) => Some(line),
        }
    }

    /// The writer thread: each line in order, and whenever it has caught
    /// up (where the gap is), the count of lines dropped meanwhile. Lines
    /// that come while it writes or rests are taken together: at most one
    /// wake-up per `BATCH_INTERVAL` instead of one per line, which a busy
    /// proxy (two lines per session) would pay in context switches; and
    /// they are handed over `BATCH_LINES` at a time, so that stderr or a
    /// file takes one write for them instead of one per line.
    fn drain(&self, lines: Receiver<Line>, write: impl Fn(&[Line])) {
        let mut batch = Vec::with_capacity(BATCH_LINES);
        while let Ok(first) = lines.recv() {
            batch.push(first);
            // Everything queued by now goes out before the count of lines
            // dropped, which tells where the gap is.
            loop {
                batch.extend(lines.try_iter().take(BATCH_LINES - batch.len()));
                if batch.is_empty() {
                    break;
                }
                self.write_batch(&mut batch, &write);
            }
            self.report_dropped(&write);
            std::thread::sleep(BATCH_INTERVAL);
        }
        self.report_dropped(&write);
    }

    /// Writes `batch` and empties it, releasing its bytes from the budget.
    fn write_batch(&self, batch: &mut Vec<Line>, write: &impl Fn(&[Line])) {
        write(batch);
        let size: usize = batch.iter().map(Line::size).sum();
        self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
        batch.clear();
    }

    fn report_dropped(&self, write: &impl Fn(&[Line])) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            write(&[Line::note(
                Level::Warn,
                format!("{dropped} log lines dropped: the log output did not keep up"),
            )]);
        }
    }

    /// Back to writing directly, once the queued lines are written or
    /// `wait` has passed (an output that stays stalled must not keep the
    /// process from exiting).
    pub(super) fn stop(&self, wait: Duration) {
        drop(
            self.sender
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let finished = self
            .finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(finished) = finished {
            let _ = finished.recv_timeout(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stalled_output_drops_lines_past_the_budget_and_says_how_many() {
        let queue: &'static Queue = Box::leak(Box::default());
        let (release, stalled) = mpsc::channel::<()>();
        let stalled = Mutex::new(stalled);
        let (wrote, written) = mpsc::channel::<String>();
        queue.start(move |lines| {
            let _ = stalled.lock().map(|s| s.recv()); // until `release` is dropped
            for line in lines {
                let _ = wrote.send(line.text.clone());
            }
        });
        let line = || Line::note(Level::Info, "x".repeat(1000));
        let fits = LOG_QUEUE_BYTES / line().size();
        for _ in 0..fits + 100 {
            assert!(
                queue.push(line()).is_none(),
                "a running queue takes every line"
            );
        }
        drop(release);
        queue.stop(Duration::from_secs(30));
        let texts: Vec<String> = written.try_iter().collect();
        assert_eq!(texts.iter().filter(|t| t.starts_with('x')).count(), fits);
        assert_eq!(
            texts.last().map(String::as_str),
            Some("100 log lines dropped: the log output did not keep up")
        );
        assert!(
            queue.push(line()).is_some(),
            "a stopped queue hands lines back to be written directly"
        );
    }
}
