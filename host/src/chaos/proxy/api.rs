//! The HTTP API: Toxiproxy's v2 endpoints, JSON shapes and status codes. Errors are
//! `{"error": "...", "status": N}`. Bodies are parsed here, not by axum's `Json`, so
//! every bad one is a 400 in that shape whatever its content type.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::proxies::{Proxies, Proxy, ProxyInfo};
use super::toxic::Toxic;

/// What `GET /version` reports.
pub(super) const VERSION: &str = concat!("aura-fault-proxy ", env!("CARGO_PKG_VERSION"));

type Shared = State<Arc<Proxies>>;
type Reply = Result<Response, ApiError>;

pub(super) fn router(proxies: Arc<Proxies>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/reset", post(reset))
        .route("/populate", post(populate))
        .route("/proxies", get(list_proxies).post(create_proxy))
        .route(
            "/proxies/{proxy}",
            get(show_proxy)
                .post(update_proxy)
                .patch(update_proxy)
                .delete(delete_proxy),
        )
        .route(
            "/proxies/{proxy}/toxics",
            get(list_toxics).post(create_toxic),
        )
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic)
                .post(update_toxic)
                .patch(update_toxic)
                .delete(delete_toxic),
        )
        .fallback(|| async { ApiError::not_found("not found") })
        .with_state(proxies)
}

/// An API error, answered as `{"error": message, "status": code}`.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(super) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// What Toxiproxy answers when a proxy cannot listen.
    pub(super) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    fn body(&self) -> Value {
        json!({"error": self.message, "status": self.status.as_u16()})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

fn reply(status: StatusCode, body: impl serde::Serialize) -> Reply {
    Ok((status, axum::Json(body)).into_response())
}

/// The request body as `T`, or a 400 naming what is wrong with it.
fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("bad request body: {e}")))
}

/// Path parameters, with a rejection in the API's error shape.
struct Names<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Names<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(names)) => Ok(Names(names)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

fn proxy_not_found() -> ApiError {
    ApiError::not_found("proxy not found")
}

/// The fields of a new proxy; Toxiproxy's names. Unknown fields (such as `toxics`, when
/// a listed proxy is posted back) are ignored, as Toxiproxy does.
#[derive(Deserialize)]
struct NewProxy {
    #[serde(default)]
    name: String,
    #[serde(default)]
    listen: String,
    #[serde(default)]
    upstream: String,
    enabled: Option<bool>,
}

impl NewProxy {
    /// `index` numbers the proxy in a `/populate` list, as Toxiproxy's message does.
    fn check(&self, index: Option<usize>) -> Result<(), ApiError> {
        let at = index
            .map(|i| format!(" at proxy {}", i + 1))
            .unwrap_or_default();
        for (field, value) in [("name", &self.name), ("upstream", &self.upstream)] {
            if value.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "missing required field: {field}{at}"
                )));
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct ProxyUpdate {
    listen: Option<String>,
    upstream: Option<String>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
struct ToxicUpdate {
    attributes: Option<Map<String, Value>>,
    toxicity: Option<f32>,
}

async fn version() -> Reply {
    reply(StatusCode::OK, json!({"version": VERSION}))
}

async fn list_proxies(State(proxies): Shared) -> Reply {
    let proxies = proxies.lock().await;
    let listed: BTreeMap<&String, ProxyInfo> =
        proxies.iter().map(|(name, p)| (name, p.info())).collect();
    reply(StatusCode::OK, listed)
}

async fn create_proxy(State(proxies): Shared, body: Result<Bytes, BytesRejection>) -> Reply {
    let new: NewProxy = parse(body)?;
    new.check(None)?;
    let mut proxies = proxies.lock().await;
    if proxies.contains_key(&new.name) {
        return Err(ApiError::conflict("proxy already exists"));
    }
    let mut proxy = Proxy::new(new.name.clone(), new.listen, new.upstream);
    if new.enabled.unwrap_or(true) {
        proxy.start().await?;
    }
    let info = proxy.info();
    proxies.insert(new.name, proxy);
    reply(StatusCode::CREATED, info)
}

/// Creates or replaces each proxy in the list; one whose addresses are unchanged is left
/// as it is, toxics and all. On an error, the proxies done so far are listed with it.
async fn populate(State(proxies): Shared, body: Result<Bytes, BytesRejection>) -> Reply {
    let list: Vec<NewProxy> = parse(body)?;
    for (index, new) in list.iter().enumerate() {
        new.check(Some(index))?;
    }
    let mut proxies = proxies.lock().await;
    let mut done = Vec::new();
    for new in list {
        if let Some(existing) = proxies.get_mut(&new.name) {
            if !existing.differs(&new.listen, &new.upstream) {
                done.push(existing.info());
                continue;
            }
            existing.stop().await;
        }
        let mut proxy = Proxy::new(new.name.clone(), new.listen, new.upstream);
        if new.enabled.unwrap_or(true)
            && let Err(error) = proxy.start().await
        {
            let mut body = error.body();
            body["proxies"] = json!(done);
            return reply(error.status, body);
        }
        done.push(proxy.info());
        proxies.insert(new.name, proxy);
    }
    reply(StatusCode::CREATED, json!({"proxies": done}))
}

async fn show_proxy(State(proxies): Shared, Names(name): Names<String>) -> Reply {
    let proxies = proxies.lock().await;
    let proxy = proxies.get(&name).ok_or_else(proxy_not_found)?;
    reply(StatusCode::OK, proxy.info())
}

async fn update_proxy(
    State(proxies): Shared,
    Names(name): Names<String>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let mut proxies = proxies.lock().await;
    let proxy = proxies.get_mut(&name).ok_or_else(proxy_not_found)?;
    let update: ProxyUpdate = parse(body)?;
    proxy
        .update(update.listen, update.upstream, update.enabled)
        .await?;
    reply(StatusCode::OK, proxy.info())
}

async fn delete_proxy(State(proxies): Shared, Names(name): Names<String>) -> Reply {
    let mut proxies = proxies.lock().await;
    let mut proxy = proxies.remove(&name).ok_or_else(proxy_not_found)?;
    proxy.stop().await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_toxics(State(proxies): Shared, Names(name): Names<String>) -> Reply {
    let proxies = proxies.lock().await;
    let proxy = proxies.get(&name).ok_or_else(proxy_not_found)?;
    reply(StatusCode::OK, proxy.toxics())
}

async fn create_toxic(
    State(proxies): Shared,
    Names(name): Names<String>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let mut proxies = proxies.lock().await;
    let proxy = proxies.get_mut(&name).ok_or_else(proxy_not_found)?;
    let toxic: Toxic = parse(body)?;
    reply(StatusCode::OK, proxy.add_toxic(toxic)?)
}

async fn show_toxic(
    State(proxies): Shared,
    Names((name, toxic)): Names<(String, String)>,
) -> Reply {
    let proxies = proxies.lock().await;
    let proxy = proxies.get(&name).ok_or_else(proxy_not_found)?;
    reply(StatusCode::OK, proxy.toxic(&toxic)?)
}

async fn update_toxic(
    State(proxies): Shared,
    Names((name, toxic)): Names<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let mut proxies = proxies.lock().await;
    let proxy = proxies.get_mut(&name).ok_or_else(proxy_not_found)?;
    proxy.toxic(&toxic)?;
    let update: ToxicUpdate = parse(body)?;
    reply(
        StatusCode::OK,
        proxy.update_toxic(&toxic, update.attributes, update.toxicity)?,
    )
}

async fn delete_toxic(
    State(proxies): Shared,
    Names((name, toxic)): Names<(String, String)>,
) -> Reply {
    let mut proxies = proxies.lock().await;
    let proxy = proxies.get_mut(&name).ok_or_else(proxy_not_found)?;
    proxy.remove_toxic(&toxic)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Enables every proxy and removes every toxic.
async fn reset(State(proxies): Shared) -> Reply {
    let mut proxies = proxies.lock().await;
    for proxy in proxies.values_mut() {
        proxy.start().await?;
        proxy.remove_toxics();
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
