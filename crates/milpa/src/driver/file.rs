//! File responses (`http.response.pathsend`, whole or a range): the file is
//! opened and read in chunks on the runtime's blocking pool, one chunk in flight
//! at a time, so a large file costs neither the connection task's time nor its
//! size in memory.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};

use crate::app::FileRange;
use crate::runtime::Runtime;

/// Bytes read per blocking call.
const CHUNK: usize = 64 * 1024;

/// What the blocking side finished.
enum Done {
    /// The file is open; the body is this long.
    Opened(Arc<File>, u64),
    Read(Bytes),
}

#[derive(Default)]
struct Slot {
    done: Option<io::Result<Done>>,
    waker: Option<Waker>,
}

/// What a file send produced.
pub(crate) enum FileEvent {
    /// The file is open and the body this long: send the head with this `Content-Length`.
    Length(u64),
    /// A piece of the body; `last` after the final one.
    Chunk { data: Bytes, last: bool },
}

/// The file a response's body comes from.
pub(crate) enum Source {
    /// `ResponseFile`: opened by the connection.
    Path(PathBuf),
    /// `ResponseOpenFile`: opened by the application.
    Open(Arc<File>),
}

/// A file being sent as a response body.
pub(crate) struct FileSend {
    slot: Arc<Mutex<Slot>>,
    waiting: bool,
    file: Option<Arc<File>>,
    /// Where the next read starts.
    position: u64,
    remaining: u64,
}

impl FileSend {
    /// Opens the file on the blocking pool (or only examines it, when the
    /// application opened it) and checks the range against its length.
    pub(crate) fn open<R: Runtime>(rt: &R, source: Source, range: Option<FileRange>) -> Self {
        let slot = Arc::new(Mutex::new(Slot::default()));
        let position = range.map_or(0, |range| range.offset);
        let send = Self { slot: slot.clone(), waiting: true, file: None, position, remaining: 0 };
        rt.spawn_blocking(Box::new(move || {
            let opened = match source {
                Source::Path(path) => File::open(path).map(Arc::new),
                Source::Open(file) => Ok(file),
            };
            let opened = opened.and_then(|file| {
                let metadata = file.metadata()?;
                if !metadata.is_file() {
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
                }
                let length = body_length(metadata.len(), range)?;
                Ok(Done::Opened(file, length))
            });
            finish(&slot, opened);
        }));
        send
    }

    /// Asks for the next chunk (call after taking a `Length` or a non-last `Chunk`).
    pub(crate) fn read_next<R: Runtime>(&mut self, rt: &R) {
        let Some(file) = self.file.clone() else { return };
        let want = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(CHUNK);
        let position = self.position;
        let slot = self.slot.clone();
        self.waiting = true;
        rt.spawn_blocking(Box::new(move || {
            let mut buf = BytesMut::zeroed(want);
            let read = read_full(&file, &mut buf, position).map(|n| {
                buf.truncate(n);
                Done::Read(buf.freeze())
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
            Done::Opened(file, length) => {
                self.file = Some(file);
                self.remaining = length;
                Ok(FileEvent::Length(length))
            }
            Done::Read(data) => {
                if data.is_empty() && self.remaining > 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent"));
                }
                self.remaining -= data.len() as u64;
                self.position += data.len() as u64;
                Ok(FileEvent::Chunk { data, last: self.remaining == 0 })
            }
        }))
    }
}

/// The body's length: the file's, or the range's when the file holds all of it.
fn body_length(file_length: u64, range: Option<FileRange>) -> io::Result<u64> {
    let Some(range) = range else { return Ok(file_length) };
    match range.offset.checked_add(range.length) {
        Some(end) if end <= file_length => Ok(range.length),
        _ => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the range reaches past the end of the file")),
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

/// Reads from `position` until `buf` is full or the file ends.
fn read_full(file: &File, buf: &mut [u8], position: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], position + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_must_lie_within_the_file() {
        assert_eq!(body_length(100, None).unwrap(), 100);
        assert_eq!(body_length(100, Some(FileRange { offset: 10, length: 90 })).unwrap(), 90);
        assert_eq!(body_length(100, Some(FileRange { offset: 100, length: 0 })).unwrap(), 0);
        assert!(body_length(100, Some(FileRange { offset: 10, length: 91 })).is_err());
        assert!(body_length(100, Some(FileRange { offset: u64::MAX, length: 2 })).is_err());
    }
}
