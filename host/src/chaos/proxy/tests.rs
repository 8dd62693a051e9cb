//! The real server on loopback, with a TCP echo server upstream. Waits are bounded by
//! deadlines, and times are asserted only as lower bounds.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

use super::*;

/// How long a test waits for what should happen at once.
const PATIENCE: Duration = Duration::from_secs(10);

struct Fixture {
    server: FaultProxy,
    client: ProxyClient,
    upstream: SocketAddr,
}

async fn fixture() -> Fixture {
    let server = FaultProxy::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = ProxyClient::new(&server.url()).unwrap();
    Fixture {
        server,
        client,
        upstream: echo_server().await,
    }
}

impl Fixture {
    /// A proxy on a free loopback port to the echo server; its address.
    async fn proxy(&self, name: &str) -> SocketAddr {
        let info = self
            .client
            .create(name, "127.0.0.1:0", &self.upstream.to_string())
            .await
            .unwrap();
        info.listen.parse().unwrap()
    }

    /// Status and JSON body (null when there is none) of a raw request.
    async fn raw(&self, method: Method, path: &str, body: impl Into<Bytes>) -> (u16, Value) {
        let (status, body) = self.client.send(method, path, body.into()).await.unwrap();
        (
            status.as_u16(),
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        )
    }
}

async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut from, mut to) = conn.split();
                let _ = tokio::io::copy(&mut from, &mut to).await;
            });
        }
    });
    address
}

async fn connect(address: SocketAddr) -> TcpStream {
    timeout(PATIENCE, TcpStream::connect(address))
        .await
        .unwrap()
        .unwrap()
}

/// Sends `message` and waits for it to come back whole: the round trip's time.
async fn echo(conn: &mut TcpStream, message: &[u8]) -> Duration {
    let started = Instant::now();
    conn.write_all(message).await.unwrap();
    let mut back = vec![0; message.len()];
    timeout(PATIENCE, conn.read_exact(&mut back))
        .await
        .expect("the echo did not come back")
        .unwrap();
    assert_eq!(back, message);
    started.elapsed()
}

#[derive(Debug, PartialEq)]
enum Read {
    Data(Vec<u8>),
    Eof,
    Failed(ErrorKind),
    Nothing,
}

async fn read_once(conn: &mut TcpStream, within: Duration) -> Read {
    let mut buffer = [0; 1024];
    match timeout(within, conn.read(&mut buffer)).await {
        Err(_) => Read::Nothing,
        Ok(Ok(0)) => Read::Eof,
        Ok(Ok(n)) => Read::Data(buffer[..n].to_vec()),
        Ok(Err(error)) => Read::Failed(error.kind()),
    }
}

const MS: Duration = Duration::from_millis(1);

#[tokio::test]
async fn latency_slows_open_and_new_links_and_stops_once_removed() {
    let f = fixture().await;
    let address = f.proxy("latency").await;
    let mut open = connect(address).await;
    echo(&mut open, b"warm").await;

    f.client
        .add_toxic("latency", &Toxic::latency(300, 0))
        .await
        .unwrap();
    assert!(echo(&mut open, b"slow").await >= 300 * MS);
    let mut fresh = connect(address).await;
    assert!(echo(&mut fresh, b"slow too").await >= 300 * MS);

    // A minute's latency is far beyond the test's patience: the echo is back in time
    // only if removing the toxic frees data it already holds.
    f.client
        .remove_toxic("latency", "latency_downstream")
        .await
        .unwrap();
    let huge = Toxic::latency(60_000, 0).named("huge");
    f.client.add_toxic("latency", &huge).await.unwrap();
    open.write_all(b"held").await.unwrap();
    assert_eq!(read_once(&mut open, 300 * MS).await, Read::Nothing);
    f.client.remove_toxic("latency", "huge").await.unwrap();
    let mut back = [0; 4];
    timeout(PATIENCE, open.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"held");
    echo(&mut open, b"free").await;
}

#[tokio::test]
async fn timeout_zero_black_holes_until_removed() {
    let f = fixture().await;
    let address = f.proxy("hole").await;
    let mut open = connect(address).await;
    echo(&mut open, b"warm").await;

    f.client
        .add_toxic("hole", &Toxic::timeout(0))
        .await
        .unwrap();
    open.write_all(b"lost").await.unwrap();
    assert_eq!(read_once(&mut open, 500 * MS).await, Read::Nothing);

    f.client
        .remove_toxic("hole", "timeout_downstream")
        .await
        .unwrap();
    // As in Toxiproxy, the link it held closes: the data it dropped would leave the
    // stream out of step. New data flows on a new connection.
    assert_eq!(read_once(&mut open, PATIENCE).await, Read::Eof);
    let mut fresh = connect(address).await;
    echo(&mut fresh, b"flows again").await;
}

#[tokio::test]
async fn timeout_closes_the_link_after_its_timeout() {
    let f = fixture().await;
    let address = f.proxy("timeout").await;
    let mut open = connect(address).await;
    echo(&mut open, b"warm").await;

    let started = Instant::now();
    f.client
        .add_toxic("timeout", &Toxic::timeout(300))
        .await
        .unwrap();
    assert_eq!(read_once(&mut open, PATIENCE).await, Read::Eof);
    assert!(started.elapsed() >= 300 * MS);
}

#[tokio::test]
async fn reset_peer_resets_the_client_after_its_timeout() {
    let f = fixture().await;
    let address = f.proxy("reset").await;
    let mut open = connect(address).await;
    echo(&mut open, b"warm").await;

    f.client
        .add_toxic("reset", &Toxic::reset_peer(200))
        .await
        .unwrap();
    let started = Instant::now();
    // The echo of this is the downstream data that sets the reset off.
    open.write_all(b"x").await.unwrap();
    assert_eq!(
        read_once(&mut open, PATIENCE).await,
        Read::Failed(ErrorKind::ConnectionReset)
    );
    assert!(started.elapsed() >= 200 * MS);
}

#[tokio::test]
async fn limit_data_closes_after_its_bytes() {
    let f = fixture().await;
    let address = f.proxy("limit").await;
    let mut open = connect(address).await;
    f.client
        .add_toxic("limit", &Toxic::limit_data(10))
        .await
        .unwrap();

    let sent: Vec<u8> = (0..25).collect();
    open.write_all(&sent).await.unwrap();
    let mut received = Vec::new();
    timeout(PATIENCE, open.read_to_end(&mut received))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(received, sent[..10]);
}

#[tokio::test]
async fn bandwidth_paces_the_stream() {
    let f = fixture().await;
    let address = f.proxy("narrow").await;
    let mut open = connect(address).await;
    // 10 KB/s: 5000 bytes take half a second.
    f.client
        .add_toxic("narrow", &Toxic::bandwidth(10))
        .await
        .unwrap();
    assert!(echo(&mut open, &[7; 5000]).await >= 450 * MS);
}

#[tokio::test]
async fn slicer_cuts_the_upstream_stream_with_delays() {
    let f = fixture().await;
    let address = f.proxy("slices").await;
    let mut open = connect(address).await;
    // 100 bytes in slices of 10 ± 0 are 16 slices, 20 ms apart.
    let slicer = Toxic::slicer(10, 0, 20_000).on(Stream::Upstream);
    let added = f.client.add_toxic("slices", &slicer).await.unwrap();
    assert_eq!(added.name, "slicer_upstream");
    let message: Vec<u8> = (0..100).collect();
    assert!(echo(&mut open, &message).await >= 300 * MS);
}

#[tokio::test]
async fn slow_close_delays_the_close() {
    let f = fixture().await;
    let address = f.proxy("linger").await;
    let mut open = connect(address).await;
    echo(&mut open, b"warm").await;
    f.client
        .add_toxic("linger", &Toxic::slow_close(300))
        .await
        .unwrap();

    // The echo server closes once it has read our close; that close comes back late.
    let started = Instant::now();
    open.shutdown().await.unwrap();
    assert_eq!(read_once(&mut open, PATIENCE).await, Read::Eof);
    assert!(started.elapsed() >= 300 * MS);
}

#[tokio::test]
async fn a_toxic_with_no_toxicity_leaves_links_alone() {
    let f = fixture().await;
    let address = f.proxy("harmless").await;
    let mut open = connect(address).await;
    let toxic = Toxic::timeout(0).with_toxicity(0.0);
    f.client.add_toxic("harmless", &toxic).await.unwrap();
    echo(&mut open, b"still here").await;
    echo(&mut connect(address).await, b"new too").await;
}

#[tokio::test]
async fn a_disabled_proxy_refuses_connections_until_enabled() {
    let f = fixture().await;
    let address = f.proxy("switch").await;
    let mut open = connect(address).await;
    echo(&mut open, b"warm").await;

    let disabled = f.client.set_enabled("switch", false).await.unwrap();
    assert!(!disabled.enabled);
    let closed = read_once(&mut open, PATIENCE).await;
    assert!(
        matches!(closed, Read::Eof | Read::Failed(ErrorKind::ConnectionReset)),
        "{closed:?}"
    );
    let refused = TcpStream::connect(address).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);

    let enabled = f.client.set_enabled("switch", true).await.unwrap();
    assert!(enabled.enabled);
    assert_eq!(enabled.listen, address.to_string());
    echo(&mut connect(address).await, b"back").await;
}

#[tokio::test]
async fn api_speaks_toxiproxy() {
    let f = fixture().await;
    let upstream = f.upstream.to_string();
    let new = json!({"name": "api", "listen": "127.0.0.1:0", "upstream": upstream});

    let (status, proxy) = f.raw(Method::POST, "/proxies", new.to_string()).await;
    assert_eq!(status, 201);
    let mut fields: Vec<_> = proxy.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(fields, ["enabled", "listen", "name", "toxics", "upstream"]);
    assert_eq!(
        (&proxy["name"], &proxy["enabled"], &proxy["toxics"]),
        (&json!("api"), &json!(true), &json!([]))
    );
    let listen: SocketAddr = proxy["listen"].as_str().unwrap().parse().unwrap();
    assert_ne!(listen.port(), 0);

    let (status, error) = f.raw(Method::POST, "/proxies", new.to_string()).await;
    assert_eq!(
        (status, error),
        (409, json!({"error": "proxy already exists", "status": 409}))
    );
    let (status, error) = f.raw(Method::POST, "/proxies", r#"{"name": "x"}"#).await;
    assert_eq!(
        (status, &error["error"]),
        (400, &json!("missing required field: upstream"))
    );
    let (status, _) = f
        .raw(Method::POST, "/proxies", r#"{"upstream": "127.0.0.1:1"}"#)
        .await;
    assert_eq!(status, 400);

    let (status, all) = f.raw(Method::GET, "/proxies", "").await;
    assert_eq!((status, &all["api"]["listen"]), (200, &proxy["listen"]));
    let (status, error) = f.raw(Method::GET, "/proxies/nope", "").await;
    assert_eq!(
        (status, error),
        (404, json!({"error": "proxy not found", "status": 404}))
    );

    let toxic = r#"{"type": "latency", "attributes": {"latency": 100}}"#;
    let (status, added) = f.raw(Method::POST, "/proxies/api/toxics", toxic).await;
    assert_eq!(status, 200);
    assert_eq!(
        added,
        json!({
            "name": "latency_downstream",
            "type": "latency",
            "stream": "downstream",
            "toxicity": 1.0,
            "attributes": {"latency": 100, "jitter": 0},
        })
    );
    let (status, error) = f.raw(Method::POST, "/proxies/api/toxics", toxic).await;
    assert_eq!(
        (status, error),
        (409, json!({"error": "toxic already exists", "status": 409}))
    );
    let (status, _) = f
        .raw(Method::POST, "/proxies/api/toxics", r#"{"type": "bogus"}"#)
        .await;
    assert_eq!(status, 400);
    let negative = r#"{"type": "latency", "name": "neg", "attributes": {"latency": -1}}"#;
    let (status, error) = f.raw(Method::POST, "/proxies/api/toxics", negative).await;
    assert_eq!(status, 400);
    assert!(
        error["error"].as_str().unwrap().contains("latency"),
        "{error}"
    );
    let (status, _) = f.raw(Method::POST, "/proxies/nope/toxics", toxic).await;
    assert_eq!(status, 404);

    let (status, listed) = f.raw(Method::GET, "/proxies/api/toxics", "").await;
    assert_eq!((status, listed), (200, json!([added])));
    let (status, shown) = f
        .raw(Method::GET, "/proxies/api/toxics/latency_downstream", "")
        .await;
    assert_eq!((status, shown), (200, added.clone()));
    let (status, error) = f.raw(Method::GET, "/proxies/api/toxics/nope", "").await;
    assert_eq!(
        (status, error),
        (404, json!({"error": "toxic not found", "status": 404}))
    );
    let update = r#"{"attributes": {"jitter": 5}, "toxicity": 0.5}"#;
    let (status, updated) = f
        .raw(
            Method::POST,
            "/proxies/api/toxics/latency_downstream",
            update,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(updated["attributes"], json!({"latency": 100, "jitter": 5}));
    assert_eq!(updated["toxicity"], json!(0.5));

    let (status, off) = f
        .raw(Method::POST, "/proxies/api", r#"{"enabled": false}"#)
        .await;
    assert_eq!(
        (status, &off["enabled"], &off["listen"]),
        (200, &json!(false), &proxy["listen"])
    );
    let (status, body) = f.raw(Method::POST, "/reset", "").await;
    assert_eq!((status, body), (204, Value::Null));
    let (_, after) = f.raw(Method::GET, "/proxies/api", "").await;
    assert_eq!(
        (&after["enabled"], &after["toxics"]),
        (&json!(true), &json!([]))
    );

    let list = json!([
        {"name": "api", "listen": proxy["listen"], "upstream": upstream},
        {"name": "more", "listen": "127.0.0.1:0", "upstream": upstream, "enabled": false},
    ]);
    let (status, populated) = f.raw(Method::POST, "/populate", list.to_string()).await;
    assert_eq!(status, 201);
    assert_eq!(
        populated["proxies"][0], after,
        "an unchanged proxy is left as it is"
    );
    assert_eq!(populated["proxies"][1]["enabled"], json!(false));
    let (status, error) = f.raw(Method::POST, "/populate", r#"[{"name": "x"}]"#).await;
    assert_eq!(
        (status, &error["error"]),
        (400, &json!("missing required field: upstream at proxy 1"))
    );

    let (status, _) = f.raw(Method::DELETE, "/proxies/api/toxics/nope", "").await;
    assert_eq!(status, 404);
    let (status, _) = f.raw(Method::DELETE, "/proxies/api", "").await;
    assert_eq!(status, 204);
    let (status, _) = f.raw(Method::DELETE, "/proxies/api", "").await;
    assert_eq!(status, 404);
    let (status, version) = f.raw(Method::GET, "/version", "").await;
    assert_eq!((status, &version["version"]), (200, &json!(api::VERSION)));
    let (status, error) = f.raw(Method::GET, "/nowhere", "").await;
    assert_eq!((status, &error["status"]), (404, &json!(404)));
}

#[tokio::test]
async fn malformed_bodies_are_refused_without_harm() {
    let f = fixture().await;
    f.proxy("m").await;
    f.client
        .add_toxic("m", &Toxic::timeout(0).named("t"))
        .await
        .unwrap();
    let nested = "[".repeat(10_000) + &"]".repeat(10_000);
    let garbage: Vec<Bytes> = [
        "",
        "{",
        "null",
        "42",
        "\"text\"",
        "{\"a\": 1} {",
        "[1, 2]",
        &nested,
    ]
    .iter()
    .map(|s| Bytes::from(s.to_string()))
    .chain([Bytes::from_static(b"\xff\xfe{}")])
    .collect();
    let endpoints = [
        "/proxies",
        "/populate",
        "/proxies/m",
        "/proxies/m/toxics",
        "/proxies/m/toxics/t",
    ];
    for path in endpoints {
        for body in &garbage {
            let (status, error) = f.raw(Method::POST, path, body.clone()).await;
            assert_eq!(
                (status, &error["status"]),
                (400, &json!(400)),
                "POST {path} {body:?}"
            );
            assert!(error["error"].is_string());
        }
    }
    for (path, body) in [
        ("/proxies", r#"{"name": 5, "upstream": "x"}"#),
        (
            "/proxies",
            r#"{"name": "n", "upstream": "x", "enabled": "yes"}"#,
        ),
        ("/populate", r#"{"name": "n", "upstream": "x"}"#),
        (
            "/proxies/m/toxics",
            r#"{"type": "latency", "attributes": {"latency": 1e999}}"#,
        ),
        (
            "/proxies/m/toxics",
            r#"{"type": "latency", "attributes": [1]}"#,
        ),
        (
            "/proxies/m/toxics",
            r#"{"type": "latency", "stream": "sideways"}"#,
        ),
        ("/proxies/m/toxics/t", r#"{"toxicity": 7}"#),
        ("/proxies/m/toxics/t", r#"{"attributes": {"timeout": -1}}"#),
    ] {
        let (status, _) = f.raw(Method::POST, path, body).await;
        assert_eq!(status, 400, "POST {path} {body}");
    }
    // Nothing was changed, and the server still answers.
    assert_eq!(
        f.client.get("m").await.unwrap().toxics,
        [Toxic::timeout(0).named("t")]
    );
    assert!(!f.client.version().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_client_round_trips_every_call() {
    let f = fixture().await;
    let c = &f.client;
    assert_eq!(c.version().await.unwrap(), api::VERSION);

    let upstream = f.upstream.to_string();
    let created = c.create("db", "127.0.0.1:0", &upstream).await.unwrap();
    assert_eq!(
        (created.name.as_str(), created.upstream.as_str()),
        ("db", upstream.as_str())
    );
    assert!(created.enabled && created.toxics.is_empty());
    assert_ne!(created.listen.parse::<SocketAddr>().unwrap().port(), 0);
    assert_eq!(c.get("db").await.unwrap(), created);

    let toxic = c.add_toxic("db", &Toxic::latency(10, 2)).await.unwrap();
    assert_eq!(toxic, Toxic::latency(10, 2).named("latency_downstream"));
    let named = Toxic::limit_data(99)
        .named("cap")
        .on(Stream::Upstream)
        .with_toxicity(0.25);
    assert_eq!(c.add_toxic("db", &named).await.unwrap(), named);
    assert_eq!(
        c.get("db").await.unwrap().toxics,
        [named.clone(), toxic.clone()]
    );

    let off = c.set_enabled("db", false).await.unwrap();
    assert!(!off.enabled);
    let on = c.set_enabled("db", true).await.unwrap();
    assert_eq!((on.enabled, &on.listen), (true, &created.listen));

    c.remove_toxic("db", "cap").await.unwrap();
    assert_eq!(c.get("db").await.unwrap().toxics, [toxic]);
    c.set_enabled("db", false).await.unwrap();
    c.reset().await.unwrap();
    assert_eq!(c.get("db").await.unwrap(), created);

    let status = |r: Result<_, ProxyError>| match r {
        Err(ProxyError::Api { status, .. }) => status,
        other => panic!("expected an API error, got {other:?}"),
    };
    assert_eq!(
        status(c.create("db", "127.0.0.1:0", &upstream).await.map(drop)),
        409
    );
    assert_eq!(
        status(
            c.add_toxic("db", &Toxic::latency(4_000_000, 0))
                .await
                .map(drop)
        ),
        400
    );
    assert_eq!(status(c.remove_toxic("db", "nope").await), 404);
    c.delete("db").await.unwrap();
    assert_eq!(status(c.get("db").await.map(drop)), 404);
    assert_eq!(status(c.delete("db").await), 404);
    assert_eq!(
        status(c.add_toxic("db", &toxic_named("x")).await.map(drop)),
        404
    );
}

fn toxic_named(name: &str) -> Toxic {
    Toxic::timeout(0).named(name)
}

#[tokio::test]
async fn client_errors_name_the_address() {
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let client = ProxyClient::new(&format!("http://{address}")).unwrap();
    let error = client.version().await.unwrap_err();
    assert!(matches!(error, ProxyError::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains(&address.to_string()), "{error}");

    // A server that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let client = ProxyClient::new(&format!("http://{address}"))
        .unwrap()
        .with_timeout(200 * MS);
    let error = client.get("any").await.unwrap_err();
    assert!(matches!(error, ProxyError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains(&address.to_string()), "{error}");
}

#[tokio::test]
async fn shutdown_stops_the_api_listeners_and_links() {
    let f = fixture().await;
    let address = f.proxy("gone").await;
    let mut open = connect(address).await;
    echo(&mut open, b"warm").await;
    let api = f.server.api_addr();

    f.server.shutdown().await;
    let closed = read_once(&mut open, PATIENCE).await;
    assert!(
        matches!(closed, Read::Eof | Read::Failed(ErrorKind::ConnectionReset)),
        "{closed:?}"
    );
    for refused in [address, api] {
        let error = TcpStream::connect(refused).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{refused}");
    }
}
