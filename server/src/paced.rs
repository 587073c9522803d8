//! A stream made on the blocking pool at its client's pace: the reads behind an export's
//! chunks and a query's pages. Each item is made by one short task on the blocking pool;
//! one item is made ahead while the client takes the one before (so reading and sending
//! overlap, as a pipe's would), and no more. Between two items the stream's state is a
//! value in the response, so a client that stops reading holds no thread and at most two
//! items; the state (and what it holds, such as a stream slot) lives with the work, so it
//! is released only once no task works for it.

use futures_util::Stream;
use tokio::task::{JoinHandle, spawn_blocking};
use tonic::Status;

use crate::status::task_failed;

/// Makes the next item from the state: `Ok(None)` at the end, `Err` to end with an error.
/// It blocks (it reads the log).
pub(crate) type Step<S, T> = fn(&mut S) -> Result<Option<T>, Status>;

/// An item being made, with the state it leaves.
type Making<S, T> = JoinHandle<(S, Result<Option<T>, Status>)>;

fn make<S, T>(mut state: S, step: Step<S, T>) -> Making<S, T>
where
    S: Send + 'static,
    T: Send + 'static,
{
    spawn_blocking(move || {
        let item = step(&mut state);
        (state, item)
    })
}

/// The items `step` makes from `state`, one made ahead; an error (or a task that failed)
/// ends the stream after it, never as if it were complete.
pub(crate) fn paced<S, T>(
    state: S,
    step: Step<S, T>,
) -> impl Stream<Item = Result<T, Status>> + Send
where
    S: Send + 'static,
    T: Send + 'static,
{
    let first = make(state, step);
    futures_util::stream::unfold(
        Some(first),
        move |making: Option<Making<S, T>>| async move {
            match making?.await {
                Ok((state, Ok(Some(item)))) => Some((Ok(item), Some(make(state, step)))),
                Ok((_, Ok(None))) => None,
                Ok((_, Err(status))) => Some((Err(status), None)),
                Err(e) => Some((Err(task_failed(e)), None)),
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use futures_util::StreamExt;

    use super::*;

    /// Counts to its limit, then fails if asked to; `made` says how many items were made.
    struct Counter {
        next: u32,
        end: u32,
        fail_at_end: bool,
        made: Arc<AtomicU32>,
    }

    fn count(c: &mut Counter) -> Result<Option<u32>, Status> {
        if c.next == c.end {
            return match c.fail_at_end {
                true => Err(Status::data_loss("damaged")),
                false => Ok(None),
            };
        }
        c.next += 1;
        c.made.fetch_add(1, Ordering::SeqCst);
        Ok(Some(c.next))
    }

    fn counter(end: u32, fail_at_end: bool) -> (Counter, Arc<AtomicU32>) {
        let made = Arc::new(AtomicU32::new(0));
        let c = Counter {
            next: 0,
            end,
            fail_at_end,
            made: Arc::clone(&made),
        };
        (c, made)
    }

    #[tokio::test]
    async fn items_come_in_order_and_an_error_ends_the_stream() {
        let (c, _) = counter(5, false);
        let got: Vec<_> = paced(c, count).collect().await;
        let got: Vec<u32> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(got, [1, 2, 3, 4, 5]);
        let (c, _) = counter(2, true);
        let got: Vec<_> = paced(c, count).collect().await;
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].as_ref().unwrap_err().code(), tonic::Code::DataLoss);
    }

    #[tokio::test]
    async fn a_client_that_stops_taking_leaves_one_item_made_ahead() {
        let (c, made) = counter(1000, false);
        let mut stream = Box::pin(paced(c, count));
        assert_eq!(stream.next().await.unwrap().unwrap(), 1);
        // The second is made while the client holds the first; nothing more after it.
        for _ in 0..100 {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }
}
