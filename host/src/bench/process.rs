//! Rows measured on a child `aura-host`, the way a user runs it.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::stats::{Sample, shown};
use super::{Row, Setup};

const WARM_RUN: (&str, &str) = (
    "warm `aura-host run` of the smoke suite, wall time (median of 3)",
    "≤ 0.5 s",
);

pub async fn warm_run(setup: &Setup) -> Row {
    let mut sample = Sample::default();
    // The first run fills the compile cache and the services' connections; not counted.
    for i in 0..4 {
        let status = sample
            .time(async || {
                tokio::process::Command::new(&setup.exe)
                    .arg("run")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .await
            })
            .await;
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                return Row::unmeasured(
                    WARM_RUN.0,
                    WARM_RUN.1,
                    format!("not measured: `aura-host run` exited {s}"),
                );
            }
            Err(e) => return Row::unmeasured(WARM_RUN.0, WARM_RUN.1, format!("not measured: {e}")),
        }
        if i == 0 {
            sample = Sample::default();
        }
    }
    let median = sample.median();
    Row::new(
        WARM_RUN.0,
        WARM_RUN.1,
        shown(median),
        median <= Duration::from_millis(500),
    )
}

/// Whether `GET path` on the loopback port answers 200.
pub async fn http_ok(port: u16, path: &str) -> bool {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head.starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), exchange).await,
        Ok(Ok(true))
    )
}
