//! A connection's one timer: a runtime sleep re-armed only when its deadline
//! moves earlier. A deadline that moved later (the keep-alive clock restarting
//! after every response) leaves it be: the early wake-up finds nothing expired
//! and re-arms then, so a busy connection touches its timer about once per
//! timeout instead of once per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::runtime::Runtime;

pub(crate) struct Timer<R: Runtime> {
    sleep: Option<R::Sleep>,
    /// The deadline the sleep is set for, until it fires.
    armed: Option<Instant>,
}

impl<R: Runtime> Timer<R> {
    pub(crate) fn new() -> Self {
        Self { sleep: None, armed: None }
    }

    /// Ready when the timer fires: at `deadline`, or earlier if an earlier one was
    /// armed before. The caller checks what expired (possibly nothing) and polls
    /// again with its next deadline.
    pub(crate) fn poll(&mut self, rt: &R, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        let rearm = self.armed.is_none_or(|armed| deadline < armed);
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                if rearm {
                    rt.reset_sleep(sleep, deadline);
                }
                sleep
            }
            None => self.sleep.insert(rt.sleep_until(deadline)),
        };
        if rearm {
            self.armed = Some(deadline);
        }
        std::task::ready!(Pin::new(sleep).poll(cx));
        self.armed = None;
        Poll::Ready(())
    }

    /// Ready only once `deadline` has passed.
    pub(crate) fn poll_until(&mut self, rt: &R, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            std::task::ready!(self.poll(rt, deadline, cx));
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
        }
    }
}
