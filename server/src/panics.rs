//! No request can take the server down with it: a handler that panics (a bug, never an
//! expected path) answers a server error instead of dropping the connection, and is
//! counted (`auditlog_panics_total`), for both APIs. The panic's message still goes to
//! stderr through the standard hook, for the operator.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use tower::{Layer, Service};

use crate::metrics::ServerMetrics;

/// Makes the answer to a request whose handler panicked.
pub(crate) type Answer<B> = fn() -> http::Response<B>;

/// Wraps a service so that its panics answer [`Answer`].
#[derive(Debug)]
pub(crate) struct CatchPanicLayer<B> {
    metrics: Arc<ServerMetrics>,
    answer: Answer<B>,
}

impl<B> CatchPanicLayer<B> {
    pub(crate) fn new(metrics: Arc<ServerMetrics>, answer: Answer<B>) -> CatchPanicLayer<B> {
        CatchPanicLayer { metrics, answer }
    }
}

impl<B> Clone for CatchPanicLayer<B> {
    fn clone(&self) -> Self {
        CatchPanicLayer {
            metrics: Arc::clone(&self.metrics),
            answer: self.answer,
        }
    }
}

impl<S, B> Layer<S> for CatchPanicLayer<B> {
    type Service = CatchPanic<S, B>;

    fn layer(&self, inner: S) -> CatchPanic<S, B> {
        CatchPanic {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`CatchPanicLayer`] makes.
#[derive(Debug)]
pub(crate) struct CatchPanic<S, B> {
    inner: S,
    layer: CatchPanicLayer<B>,
}

impl<S: Clone, B> Clone for CatchPanic<S, B> {
    fn clone(&self) -> Self {
        CatchPanic {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, R, B> Service<R> for CatchPanic<S, B>
where
    S: Service<R, Response = http::Response<B>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<B>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let CatchPanicLayer { metrics, answer } = self.layer.clone();
        let answer_panic = move || {
            metrics.panicked();
            Ok(answer())
        };
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => {
                Box::pin(
                    AssertUnwindSafe(future)
                        .catch_unwind()
                        .map(move |done| match done {
                            Ok(answered) => answered,
                            Err(_) => answer_panic(),
                        }),
                )
            }
            Err(_) => Box::pin(std::future::ready(answer_panic())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    fn answer() -> http::Response<&'static str> {
        http::Response::builder()
            .status(500)
            .body("failed")
            .unwrap()
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_the_error_and_is_counted() {
        let metrics = Arc::new(ServerMetrics::default());
        let layer = CatchPanicLayer::new(Arc::clone(&metrics), answer);
        let panicking = layer.layer(tower::service_fn(|n: u32| async move {
            assert!(n < 10, "a handler bug");
            Ok::<_, std::convert::Infallible>(http::Response::new("fine"))
        }));
        let fine = panicking.clone().oneshot(1).await.unwrap();
        assert_eq!((fine.status().as_u16(), *fine.body()), (200, "fine"));
        assert_eq!(metrics.panics(), 0);
        let failed = panicking.oneshot(11).await.unwrap();
        assert_eq!((failed.status().as_u16(), *failed.body()), (500, "failed"));
        assert_eq!(metrics.panics(), 1);
        // A panic before the handler's future exists is caught the same way.
        let eager = layer.layer(tower::service_fn(
            |_: u32| -> std::future::Ready<Result<http::Response<&str>, ()>> {
                panic!("while building the future")
            },
        ));
        let failed = eager.oneshot(0).await.unwrap();
        assert_eq!(failed.status().as_u16(), 500);
        assert_eq!(metrics.panics(), 2);
    }
}
