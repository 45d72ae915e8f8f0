//! File responses (`http.response.pathsend`): the file is opened and read in
//! chunks on the runtime's blocking pool, one chunk in flight at a time, so a
//! large file costs neither the connection task's time nor its size in memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};

use crate::runtime::Runtime;

/// Bytes read per blocking call.
const CHUNK: usize = 64 * 1024;

/// What the blocking side finished.
enum Done {
    Opened(File, u64),
    Read(File, Bytes),
}

#[derive(Default)]
struct Slot {
    done: Option<io::Result<Done>>,
    waker: Option<Waker>,
}

/// What a file send produced.
pub(crate) enum FileEvent {
    /// The file is open and this long: send the head with this `Content-Length`.
    Length(u64),
    /// A piece of the body; `last` after the final one.
    Chunk { data: Bytes, last: bool },
}

/// A file being sent as a response body.
pub(crate) struct FileSend {
    slot: Arc<Mutex<Slot>>,
    waiting: bool,
    file: Option<File>,
    remaining: u64,
}

impl FileSend {
    /// Starts opening `path` on the blocking pool.
    pub(crate) fn open<R: Runtime>(rt: &R, path: PathBuf) -> Self {
        let slot = Arc::new(Mutex::new(Slot::default()));
        let send = Self { slot: slot.clone(), waiting: true, file: None, remaining: 0 };
        rt.spawn_blocking(Box::new(move || {
            let opened = File::open(&path).and_then(|file| {
                let metadata = file.metadata()?;
                if !metadata.is_file() {
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
                }
                Ok(Done::Opened(file, metadata.len()))
            });
            finish(&slot, opened);
        }));
        send
    }

    /// Asks for the next chunk (call after taking a `Length` or a non-last `Chunk`).
    pub(crate) fn read_next<R: Runtime>(&mut self, rt: &R) {
        let Some(mut file) = self.file.take() else { return };
        let want = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(CHUNK);
        let slot = self.slot.clone();
        self.waiting = true;
        rt.spawn_blocking(Box::new(move || {
            let mut buf = BytesMut::zeroed(want);
            let read = read_full(&mut file, &mut buf).map(|n| {
                buf.truncate(n);
                Done::Read(file, buf.freeze())
            });
            finish(&slot, read);
        }));
    }

    /// The next result, when the blocking side has one.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<FileEvent>> {
        if !self.waiting {
            return Poll::Pending;
        }
        let done = {
            let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
            match slot.done.take() {
                Some(done) => done,
                None => {
                    slot.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        };
        self.waiting = false;
        Poll::Ready(done.and_then(|done| match done {
            Done::Opened(file, len) => {
                self.file = Some(file);
                self.remaining = len;
                Ok(FileEvent::Length(len))
            }
            Done::Read(file, data) => {
                if data.is_empty() && self.remaining > 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent"));
                }
                self.remaining -= data.len() as u64;
                self.file = Some(file);
                Ok(FileEvent::Chunk { data, last: self.remaining == 0 })
            }
        }))
    }
}

fn finish(slot: &Mutex<Slot>, done: io::Result<Done>) {
    let waker = {
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        slot.done = Some(done);
        slot.waker.take()
    };
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}
