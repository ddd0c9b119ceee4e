//! Writes handed to a second thread, so producing bytes (encryption, hashing) and
//! the kernel's cost of taking them (page allocation, copying) run on two cores.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Bytes per hand-off.
const BLOCK: usize = 1 << 20;
/// Blocks in flight; memory is about `(DEPTH + 2) * BLOCK`.
const DEPTH: usize = 3;

/// A writer whose writes happen on a background thread. Call
/// [`WriteBehind::finish`] to flush, join the thread and get the inner writer (and
/// any error it met) back; dropping it without `finish` discards the error.
pub struct WriteBehind<W: Write + Send + 'static> {
    buf: Vec<u8>,
    full: Option<SyncSender<Vec<u8>>>,
    empty: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> WriteBehind<W> {
    /// Start the background writer.
    pub fn new(mut inner: W) -> io::Result<Self> {
        let (full_tx, full_rx) = sync_channel::<Vec<u8>>(DEPTH);
        let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(DEPTH + 1);
        let worker = std::thread::Builder::new().name("write-behind".into()).spawn(move || {
            for block in full_rx {
                inner.write_all(&block)?;
                // The producer may have stopped listening; the buffer is then just freed.
                let _ = empty_tx.try_send(block);
            }
            inner.flush()?;
            Ok(inner)
        })?;
        Ok(Self {
            buf: Vec::with_capacity(BLOCK),
            full: Some(full_tx),
            empty: empty_rx,
            worker: Some(worker),
        })
    }

    fn send(&mut self) -> io::Result<()> {
        let next = self.empty.try_recv().map(|mut b| {
            b.clear();
            b
        });
        let block = std::mem::replace(&mut self.buf, next.unwrap_or_else(|_| Vec::with_capacity(BLOCK)));
        let sent = self.full.as_ref().map(|tx| tx.send(block));
        match sent {
            Some(Ok(())) => Ok(()),
            // The worker stopped: its error is the one to report.
            _ => Err(self.join().err().unwrap_or_else(|| io::Error::other("write-behind thread stopped"))),
        }
    }

    fn join(&mut self) -> io::Result<W> {
        self.full = None;
        match self.worker.take() {
            Some(h) => h.join().map_err(|_| io::Error::other("write-behind thread panicked"))?,
            None => Err(io::Error::other("write-behind thread already finished")),
        }
    }

    /// Write what is buffered, wait for the thread, and return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() {
            self.send()?;
        }
        self.join()
    }
}

/// Dropping without `finish` (an error path) still waits for the thread, so the inner
/// writer is dropped here: an uncommitted `AtomicFile` removes its temporary file
/// before the process can exit.
impl<W: Write + Send + 'static> Drop for WriteBehind<W> {
    fn drop(&mut self) {
        self.full = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl<W: Write + Send + 'static> Write for WriteBehind<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let take = (BLOCK - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        if self.buf.len() == BLOCK {
            self.send()?;
        }
        Ok(take)
    }

    /// Buffers are handed over on `finish`; a flush here would only shrink blocks.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_without_finish_drops_the_inner_writer_before_returning() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        let mut w = WriteBehind::new(crate::AtomicFile::create(&dest).unwrap()).unwrap();
        w.write_all(&vec![1u8; 3 * BLOCK]).unwrap();
        drop(w);
        // No temporary file may outlive the drop, and no destination may appear.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn bytes_arrive_in_order_and_whole() {
        let data: Vec<u8> = (0..(5 * BLOCK + 12345)).map(|i| (i * 31 % 256) as u8).collect();
        let mut w = WriteBehind::new(Vec::new()).unwrap();
        for piece in data.chunks(70_001) {
            w.write_all(piece).unwrap();
        }
        assert_eq!(w.finish().unwrap(), data);
    }

    struct Failing(usize);
    impl Write for Failing {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            self.0 -= 1;
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_inner_writers_error_reaches_the_caller() {
        let mut w = WriteBehind::new(Failing(2)).unwrap();
        let block = vec![0u8; BLOCK];
        let mut result = Ok(());
        for _ in 0..(DEPTH + 6) {
            result = w.write_all(&block);
            if result.is_err() {
                break;
            }
        }
        let err = match result {
            Err(e) => e,
            Ok(()) => w.finish().err().expect("a failing writer must fail"),
        };
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    }
}
