//! [`AuditLayer`]: a tower layer that records each mutating request of an axum or tonic
//! service as an audit event, after the response is made, without waiting on the
//! network (the event goes to the client's buffer; a full buffer drops, and counts).
//!
//! - **actor and tenant**: an [`AuditActor`] the application puts in the request's
//!   extensions (its authentication middleware, outside this layer) or in the
//!   response's (the handler). A request with neither is not recorded (counted in
//!   `Stats::unattributed`): an audit event names who acted, and for which tenant.
//! - **action**: the route template and method, `POST /invoices/{id}/approve` →
//!   `invoices.approve.post` ([`action_of`]); a gRPC call's method,
//!   `/billing.v1.Invoices/Approve` → `billing.v1.invoices.approve`. A handler names
//!   its own with an [`AuditAction`] response extension.
//! - **resource**: the last path parameter and the segment before it,
//!   `/invoices/{id}/approve` on `/invoices/inv_42/approve` → `invoices`, `inv_42`; every
//!   parameter is in `metadata.path_params`, with the method and the route.
//! - **outcome**: from the status: 2xx and 3xx success, 401 and 403 denied, other 4xx
//!   failure, 5xx error; for gRPC a `grpc-status` in the response's headers (a call
//!   refused before any message), else success.
//! - **IP**: axum's `ConnectInfo<SocketAddr>` when served with it, or the first address
//!   of `X-Forwarded-For` when the layer is told to trust a proxy; **user agent** from
//!   its header.
//!
//! Mutating means POST, PUT, PATCH and DELETE, and every gRPC call; `record_if`
//! chooses otherwise.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::borrow::Cow;

use auditlog_engine::event::limits;
use auditlog_engine::{Event, Timestamp};
use axum::extract::{ConnectInfo, MatchedPath};
use http::{Method, Request, Response};
use tower::{Layer, Service};

use crate::{Client, Outcome};

/// Who made a request, for which tenant: set by the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditActor {
    pub tenant: String,
    pub id: String,
    pub email: Option<String>,
    pub kind: Option<String>,
}

impl AuditActor {
    pub fn new(tenant: &str, id: &str) -> AuditActor {
        AuditActor {
            tenant: tenant.to_owned(),
            id: id.to_owned(),
            email: None,
            kind: None,
        }
    }
}

/// A handler's own name for what it did (dotted), as a response extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditAction(pub String);

/// Records each mutating request of the service it wraps.
#[derive(Debug, Clone)]
pub struct AuditLayer {
    client: Client,
    trust_forwarded_for: bool,
    record_if: fn(&Method, bool) -> bool,
}

impl AuditLayer {
    pub fn new(client: Client) -> AuditLayer {
        AuditLayer {
            client,
            trust_forwarded_for: false,
            record_if: mutating,
        }
    }

    /// Takes the client's address from the first entry of `X-Forwarded-For` (only
    /// behind a proxy that sets it: a client could write its own).
    pub fn trust_forwarded_for(mut self) -> AuditLayer {
        self.trust_forwarded_for = true;
        self
    }

    /// Records the requests for which `record_if(method, is_grpc)` holds.
    pub fn record_if(mut self, record_if: fn(&Method, bool) -> bool) -> AuditLayer {
        self.record_if = record_if;
        self
    }
}

/// POST, PUT, PATCH and DELETE, and every gRPC call.
fn mutating(method: &Method, grpc: bool) -> bool {
    grpc || matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

impl<S> Layer<S> for AuditLayer {
    type Service = AuditService<S>;

    fn layer(&self, inner: S) -> AuditService<S> {
        AuditService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`AuditLayer`] makes.
#[derive(Debug, Clone)]
pub struct AuditService<S> {
    inner: S,
    layer: AuditLayer,
}

/// What is taken from a request before the handler has it.
struct Seen {
    at: Timestamp,
    method: Method,
    grpc: bool,
    route: String,
    path: String,
    actor: Option<AuditActor>,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl<S, B, R> Service<Request<B>> for AuditService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let grpc = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"application/grpc"));
        if !(self.layer.record_if)(request.method(), grpc) {
            return Box::pin(self.inner.call(request));
        }
        let seen = self.seen(&request, grpc);
        let client = self.layer.client.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            record(&client, seen, &response);
            Ok(response)
        })
    }
}

impl<S> AuditService<S> {
    fn seen<B>(&self, request: &Request<B>, grpc: bool) -> Seen {
        let extensions = request.extensions();
        let headers = request.headers();
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let forwarded = self
            .layer
            .trust_forwarded_for
            .then(|| header("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.rsplit(',').next())
            .map(|v| v.trim().to_owned());
        let connected = || {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
        };
        Seen {
            at: Timestamp::now(),
            method: request.method().clone(),
            grpc,
            route: extensions.get::<MatchedPath>().map_or_else(
                || clip(request.uri().path(), MAX_ROUTE_BYTES).to_owned(),
                |m| m.as_str().to_owned(),
            ),
            path: request.uri().path().to_owned(),
            actor: extensions.get::<AuditActor>().cloned(),
            // An address that does not parse is left out, not the event.
            ip: forwarded
                .or_else(connected)
                .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok()),
            user_agent: header("user-agent")
                .map(printable)
                .filter(|ua| !ua.is_empty()),
        }
    }
}

/// The event of a request and its response, into the client's buffer (never waiting).
fn record<R>(client: &Client, mut seen: Seen, response: &Response<R>) {
    let Some(actor) = seen
        .actor
        .take()
        .or_else(|| response.extensions().get::<AuditActor>().cloned())
    else {
        client.count_unattributed();
        return;
    };
    let action = match response.extensions().get::<AuditAction>() {
        Some(named) => named.0.clone(),
        None if seen.grpc => grpc_action(&seen.path),
        None => action_of(&seen.method, &seen.route),
    };
    let outcome = if seen.grpc {
        grpc_outcome(response)
    } else {
        http_outcome(response.status().as_u16())
    };
    let params = path_params(&seen.route, &seen.path);
    let (resource_type, resource_id) = match resource_of(&seen.route, &params) {
        Some((kind, id)) => (
            Some(Cow::Owned(clip(&kind, limits::MAX_NAME_BYTES).to_owned())),
            Some(Cow::Owned(clip(&id, limits::MAX_ID_BYTES).to_owned())),
        ),
        None => (None, None),
    };
    let status = response.status().as_u16();
    let mut metadata = metadata_of(&seen, status, &params);
    if metadata.len() > limits::MAX_METADATA_BYTES {
        metadata = metadata_of(&seen, status, &[]);
    }
    let event = Event {
        timestamp: seen.at,
        actor_id: Cow::Owned(actor.id),
        actor_email: actor.email.map(Cow::Owned),
        actor_kind: actor.kind.map(Cow::Owned),
        tenant_id: Cow::Owned(actor.tenant),
        tenant_name: None,
        action: Cow::Owned(action),
        resource_type,
        resource_id,
        outcome,
        ip_address: seen.ip.map(Cow::Owned),
        user_agent: seen
            .user_agent
            .map(|ua| Cow::Owned(clip(&ua, limits::MAX_USER_AGENT_BYTES).to_owned())),
        metadata: Some(Cow::Owned(metadata)),
        event_id: None,
    };
    // What the request controls is clipped above; should the event still not be valid
    // (an unmatched route that is no action, an actor the application got wrong), the
    // act is recorded with what is sure: who, for which tenant, the method and status.
    let fallback = |event: &Event<'static>, why: String| Event {
        action: Cow::Owned(format!("request.{}", method_word(&seen.method))),
        resource_type: None,
        resource_id: None,
        ip_address: None,
        user_agent: None,
        metadata: Some(Cow::Owned(format!(
            "{{\"method\":{},\"status\":{status},\"unrecordable\":{}}}",
            json_string(clip(seen.method.as_str(), 64)),
            json_string(clip(&why, 512))
        ))),
        ..event.clone()
    };
    let checked = match event.validate() {
        Ok(()) => Ok(event),
        Err(why) => {
            let mended = fallback(&event, why.to_string());
            match mended.validate() {
                Ok(()) => Ok(mended),
                Err(why) => Err(crate::RecordError::Invalid(why.to_string())),
            }
        }
    };
    // Never waits; a full buffer, or an actor that cannot make a valid event, is counted.
    let _ = client.try_record_event(checked);
}

/// Routes longer than this (unmatched, so taken from the request's path) are clipped.
const MAX_ROUTE_BYTES: usize = 1024;

/// `text` cut to at most `max` bytes, at a character boundary.
fn clip(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A header's text with control characters (a tab) as spaces, as events require.
fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.trim().to_owned();
    }
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A method as one word of an action: the usual ones by name, others as `other`.
fn method_word(method: &Method) -> &'static str {
    match *method {
        Method::POST => "post",
        Method::PUT => "put",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        Method::GET => "get",
        _ => "other",
    }
}

fn json_string(text: &str) -> String {
    // A string always serialises.
    serde_json::to_string(text).unwrap_or_default()
}

/// `{"method":…,"route":…,"status":…,"path_params":{…}}`, written as text.
fn metadata_of(seen: &Seen, status: u16, params: &[(String, String)]) -> String {
    let mut out = String::with_capacity(96 + seen.route.len());
    let quoted = |out: &mut String, text: &str| out.push_str(&json_string(text));
    out.push_str("{\"method\":");
    quoted(&mut out, seen.method.as_str());
    out.push_str(",\"route\":");
    quoted(&mut out, &seen.route);
    out.push_str(",\"status\":");
    out.push_str(&status.to_string());
    if !params.is_empty() {
        out.push_str(",\"path_params\":{");
        for (i, (name, value)) in params.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            quoted(&mut out, name);
            out.push(':');
            quoted(&mut out, value);
        }
        out.push('}');
    }
    out.push('}');
    out
}

fn http_outcome(status: u16) -> Outcome {
    match status {
        200..=399 => Outcome::Success,
        401 | 403 => Outcome::Denied,
        400..=499 => Outcome::Failure,
        _ => Outcome::Error,
    }
}

fn grpc_outcome<R>(response: &Response<R>) -> Outcome {
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok());
    match code {
        None | Some(0) => Outcome::Success,
        // PERMISSION_DENIED, UNAUTHENTICATED.
        Some(7 | 16) => Outcome::Denied,
        // INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, OUT_OF_RANGE.
        Some(3 | 5 | 6 | 9 | 11) => Outcome::Failure,
        Some(_) => Outcome::Error,
    }
}

/// The action of a route: its static segments, lower-cased (characters outside
/// `a-z 0-9 _ -` as `_`), then the method: `POST /invoices/{id}/approve` →
/// `invoices.approve.post`; `DELETE /` → `root.delete`.
pub fn action_of(method: &Method, route: &str) -> String {
    let mut action = String::with_capacity(route.len() + 8);
    for segment in route
        .split('/')
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
    {
        if !action.is_empty() {
            action.push('.');
        }
        action.extend(segment.chars().map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '-') => c,
            _ => '_',
        }));
    }
    if action.is_empty() {
        action.push_str("root");
    }
    let verb = method.as_str().to_ascii_lowercase();
    // Within the action limit: whole words from the front, then the verb.
    let room = limits::MAX_ACTION_BYTES.saturating_sub(verb.len() + 1);
    while action.len() > room {
        match action.rfind('.') {
            Some(dot) => action.truncate(dot),
            None => action.truncate(room),
        }
    }
    action.push('.');
    action.push_str(&verb);
    action
}

/// `/billing.v1.Invoices/Approve` → `billing.v1.invoices.approve`.
fn grpc_action(path: &str) -> String {
    path.trim_start_matches('/')
        .replace('/', ".")
        .to_ascii_lowercase()
}

/// The parameters of `route` (`{id}`, `{*rest}`) as found in `path`.
fn path_params(route: &str, path: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut actual = path.split('/');
    for segment in route.split('/') {
        let value = actual.next();
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let (name, rest) = match name.strip_prefix('*') {
                Some(name) => (name, true),
                None => (name, false),
            };
            let mut value = value.unwrap_or_default().to_owned();
            if rest {
                for more in actual.by_ref() {
                    value.push('/');
                    value.push_str(more);
                }
            }
            params.push((name.to_owned(), value));
        }
    }
    params
}

/// The last parameter and the static segment before it: `(type, id)`.
fn resource_of(route: &str, params: &[(String, String)]) -> Option<(String, String)> {
    let (_, id) = params.last()?;
    let segments: Vec<&str> = route.split('/').filter(|s| !s.is_empty()).collect();
    let last_param = segments.iter().rposition(|s| s.starts_with('{'))?;
    let kind = segments[..last_param]
        .iter()
        .rev()
        .find(|s| !s.starts_with('{'))
        .copied()
        .unwrap_or("resource");
    (!id.is_empty()).then(|| (kind.to_owned(), id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_come_from_the_route_and_method() {
        assert_eq!(
            action_of(&Method::POST, "/invoices/{id}/approve"),
            "invoices.approve.post"
        );
        assert_eq!(action_of(&Method::DELETE, "/users/{id}"), "users.delete");
        assert_eq!(action_of(&Method::PUT, "/"), "root.put");
        assert_eq!(
            action_of(&Method::PATCH, "/API/Keys v2/{k}"),
            "api.keys_v2.patch"
        );
        assert_eq!(
            grpc_action("/billing.v1.Invoices/Approve"),
            "billing.v1.invoices.approve"
        );
    }

    #[test]
    fn what_the_request_controls_is_clipped_to_what_an_event_allows() {
        let long = format!("/{}", "segment/".repeat(40));
        let action = action_of(&Method::POST, &long);
        assert!(action.len() <= limits::MAX_ACTION_BYTES, "{action}");
        assert!(action.ends_with(".post"), "{action}");
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(printable("a\tb"), "a b");
    }

    #[test]
    fn the_resource_is_the_last_parameter_and_the_segment_before_it() {
        let route = "/orgs/{org}/invoices/{id}/approve";
        let params = path_params(route, "/orgs/o1/invoices/inv_42/approve");
        assert_eq!(
            params,
            [
                ("org".to_owned(), "o1".to_owned()),
                ("id".to_owned(), "inv_42".to_owned())
            ]
        );
        assert_eq!(
            resource_of(route, &params),
            Some(("invoices".to_owned(), "inv_42".to_owned()))
        );
        let files = path_params("/files/{*path}", "/files/a/b.txt");
        assert_eq!(files, [("path".to_owned(), "a/b.txt".to_owned())]);
        assert_eq!(resource_of("/invoices", &[]), None);
    }

    #[test]
    fn outcomes_come_from_the_status() {
        assert_eq!(http_outcome(201), Outcome::Success);
        assert_eq!(http_outcome(303), Outcome::Success);
        assert_eq!(http_outcome(403), Outcome::Denied);
        assert_eq!(http_outcome(404), Outcome::Failure);
        assert_eq!(http_outcome(503), Outcome::Error);
        let refused = Response::builder()
            .header("grpc-status", "7")
            .body(())
            .expect("response");
        assert_eq!(grpc_outcome(&refused), Outcome::Denied);
    }
}
