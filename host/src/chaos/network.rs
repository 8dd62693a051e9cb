//! Network faults through a fault proxy that speaks Toxiproxy's API. A run whose faults
//! include network ones routes the services they strike through a proxy named
//! `aura-<service>`: the host's own one (embedded, on loopback), or a Toxiproxy whose API
//! `run.fault_proxy` names (compose), where those proxies must already exist. Every
//! other service, and every run without network faults, connects directly.

use std::collections::BTreeMap;
use std::time::Duration;

use aura_services::ServiceKind;
use aura_services::config::ServicesConfig;

use super::proxy::{FaultProxy, ProxyClient, Stream, Toxic};
use super::schedule::RandomFaults;
use super::spec::{FaultAction, FaultSpec};

/// How a run reaches the services its network faults strike.
pub struct Routes {
    client: ProxyClient,
    /// The embedded proxy, when the run brought its own.
    embedded: Option<FaultProxy>,
    /// Each proxied service and the address clients use for it.
    proxied: BTreeMap<ServiceKind, String>,
    /// The address of the proxy in front of the target's Temporal worker alone.
    worker: Option<String>,
}

/// The proxy in front of the target's Temporal worker alone (`stall_worker`).
pub fn worker_proxy_name() -> String {
    aura_contract::names::fault_proxy("temporal-worker")
}

/// Whether a scenario's faults may stall the target's worker.
pub fn stalls_worker(faults: &[FaultSpec], table: Option<&RandomFaults>) -> bool {
    faults.iter().any(|f| f.action == FaultAction::StallWorker)
        || table.is_some_and(|t| t.actions.contains(&FaultAction::StallWorker))
}

/// The name of the proxy in front of `service`.
pub fn proxy_name(service: ServiceKind) -> String {
    aura_contract::names::fault_proxy(service.name())
}

/// The services a scenario's network faults may strike through the proxy: those its
/// `faults` name, and those its `[chaos]` table may draw (`required` standing for an
/// empty `services`).
pub fn proxied(
    faults: &[FaultSpec],
    table: Option<&RandomFaults>,
    required: &[ServiceKind],
) -> Vec<ServiceKind> {
    let mut out: Vec<ServiceKind> = faults
        .iter()
        .filter(|f| f.action.network() && f.action != FaultAction::StallWorker)
        .filter_map(|f| f.service)
        .collect();
    if let Some(t) = table.filter(|t| {
        t.actions
            .iter()
            .any(|a| a.network() && *a != FaultAction::StallWorker)
    }) {
        let pool = if t.services.is_empty() {
            required
        } else {
            &t.services
        };
        out.extend(pool.iter().copied());
    }
    out.sort();
    out.dedup();
    out
}

impl Routes {
    /// Puts a proxy in front of each of `services` and returns `config` routed through
    /// them. `api`: an external Toxiproxy's API URL, else the embedded proxy.
    pub async fn start(
        api: Option<&str>,
        config: &ServicesConfig,
        services: &[ServiceKind],
        worker: bool,
    ) -> Result<(Routes, ServicesConfig), String> {
        let (client, embedded) = match api {
            Some(url) => (ProxyClient::new(url).map_err(|e| e.to_string())?, None),
            None => {
                let proxy = FaultProxy::start(([127, 0, 0, 1], 0).into())
                    .await
                    .map_err(|e| e.to_string())?;
                let client = ProxyClient::new(&proxy.url()).map_err(|e| e.to_string())?;
                (client, Some(proxy))
            }
        };
        let mut routed = config.clone();
        let mut proxied = BTreeMap::new();
        for &service in services {
            if service == ServiceKind::Kafka && embedded.is_some() {
                return Err(
                    "network faults on kafka need a broker listener advertised at the proxy \
                     (Kafka clients go on to the advertised address, past any proxy): the \
                     compose profile's Toxiproxy has one (run.fault_proxy); the local \
                     broker does not"
                        .into(),
                );
            }
            let upstream = config
                .endpoint(service)
                .ok_or_else(|| format!("{service}: no host:port in its address"))?;
            let addr = route(&client, embedded.is_some(), &proxy_name(service), &upstream)
                .await
                .map_err(|e| format!("{service}: {e}"))?;
            routed = routed.routed(service, &addr)?;
            proxied.insert(service, addr);
        }
        let worker = match worker {
            false => None,
            true => {
                // Behind the Temporal proxy too when there is one, so Temporal's own
                // network faults still reach the worker.
                let upstream = match proxied.get(&ServiceKind::Temporal) {
                    Some(addr) => addr.clone(),
                    None => config
                        .endpoint(ServiceKind::Temporal)
                        .ok_or("temporal: no host:port in its address")?,
                };
                Some(route(&client, embedded.is_some(), &worker_proxy_name(), &upstream).await?)
            }
        };
        Ok((
            Routes {
                client,
                embedded,
                proxied,
                worker,
            },
            routed,
        ))
    }

    /// Where the target's worker reaches Temporal through its own proxy, if it does.
    pub fn worker(&self) -> Option<&str> {
        self.worker.as_deref()
    }

    /// Each proxied service with the address its clients use.
    pub fn proxied(&self) -> &BTreeMap<ServiceKind, String> {
        &self.proxied
    }

    /// Stops the embedded proxy; an external one is left as found, with no toxics.
    pub async fn stop(self) {
        for &service in self.proxied.keys() {
            let _ = clear(&self.client, &proxy_name(service)).await;
        }
        if self.worker.is_some() {
            let _ = clear(&self.client, &worker_proxy_name()).await;
        }
        if let Some(p) = self.embedded {
            p.shutdown().await;
        }
    }

    /// Strikes a network fault now, in the caller's thread (the proxy is told on a
    /// thread of its own, so a step that fires it goes on only once it is in effect);
    /// says what it did.
    pub fn strike_now(&self, f: &FaultSpec, tag: &str) -> Result<(NetHeld, String), String> {
        let base = self.client.base().to_string();
        let strike = || {
            std::thread::scope(|s| {
                s.spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| format!("no runtime to reach the fault proxy: {e}"))?;
                    // A client of this runtime's own: pooled connections belong to one.
                    let client = ProxyClient::new(&base).map_err(|e| e.to_string())?;
                    runtime.block_on(strike(
                        &client,
                        &self.proxied,
                        self.worker.is_some(),
                        f,
                        tag,
                    ))
                })
                .join()
                .unwrap_or_else(|_| Err("striking the fault panicked".into()))
            })
        };
        // On a multi-threaded runtime the blocked worker hands its tasks (the embedded
        // proxy's among them) to the others; a step's thread just waits.
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(strike),
            _ => strike(),
        }
    }

    /// Heals a network fault.
    pub async fn heal(&self, held: NetHeld) -> Result<(), String> {
        match held.toxics {
            None => self
                .client
                .set_enabled(&held.proxy, true)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Some(names) => NetHeld::remove(&self.client, &held.proxy, &names).await,
        }
    }
}

/// Adds the toxics of `f` (or disables its proxy) through `client`.
async fn strike(
    client: &ProxyClient,
    proxied: &BTreeMap<ServiceKind, String>,
    worker: bool,
    f: &FaultSpec,
    tag: &str,
) -> Result<(NetHeld, String), String> {
    let service = f.service.ok_or("a network fault names no service")?;
    let proxy = match f.action {
        FaultAction::StallWorker if worker => worker_proxy_name(),
        FaultAction::StallWorker => {
            return Err("the target's worker is not behind a fault proxy".into());
        }
        _ if proxied.contains_key(&service) => proxy_name(service),
        _ => return Err(format!("{service} is not routed through the fault proxy")),
    };
    let ms = |d: Option<Duration>| d.unwrap_or_default().as_millis() as u64;
    let both = |t: Toxic| vec![t.clone().on(Stream::Upstream), t.on(Stream::Downstream)];
    let toxics = match f.action {
        FaultAction::Down => {
            client
                .set_enabled(&proxy, false)
                .await
                .map_err(|e| e.to_string())?;
            let said = format!("{proxy} disabled: connections refused");
            return Ok((
                NetHeld {
                    proxy,
                    toxics: None,
                },
                said,
            ));
        }
        FaultAction::Latency => vec![Toxic::latency(ms(f.latency), ms(f.jitter))],
        FaultAction::Bandwidth => both(Toxic::bandwidth(f.rate_kb.unwrap_or(1))),
        FaultAction::Timeout => vec![Toxic::timeout(0)],
        FaultAction::ResetPeer => vec![Toxic::reset_peer(0)],
        FaultAction::Slice => vec![Toxic::slicer(16, 8, 1_000)],
        FaultAction::LimitData => vec![Toxic::limit_data(f.bytes.unwrap_or(1))],
        FaultAction::Partition | FaultAction::StallWorker => both(Toxic::timeout(0)),
        other => return Err(format!("{} is not a network fault", other.name())),
    };
    let mut added = Vec::new();
    for t in toxics {
        // Named for the fault, so overlapping faults on one service do not collide.
        let t = t.clone().named(format!("{tag}-{}", t.stream.name()));
        match client.add_toxic(&proxy, &t).await {
            Ok(t) => added.push(t.name),
            Err(e) => {
                // Half a fault is no fault: take back what was added.
                let _ = NetHeld::remove(client, &proxy, &added).await;
                return Err(e.to_string());
            }
        }
    }
    let said = format!("{proxy}: {}", added.join(", "));
    Ok((
        NetHeld {
            proxy,
            toxics: Some(added),
        },
        said,
    ))
}

/// A network fault in effect: the toxics added, or the proxy disabled (`None`).
pub struct NetHeld {
    proxy: String,
    toxics: Option<Vec<String>>,
}

impl NetHeld {
    async fn remove(client: &ProxyClient, proxy: &str, names: &[String]) -> Result<(), String> {
        let mut errors = Vec::new();
        for n in names {
            if let Err(e) = client.remove_toxic(proxy, n).await {
                errors.push(format!("{n}: {e}"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// The address clients use for proxy `name` in front of `upstream`: created on the
/// embedded proxy; found (and cleared) on an external one, whose listen address is the
/// container's and whose port is published on loopback.
async fn route(
    client: &ProxyClient,
    embedded: bool,
    name: &str,
    upstream: &str,
) -> Result<String, String> {
    let info = if embedded {
        client.create(name, "127.0.0.1:0", upstream).await
    } else {
        client.get(name).await
    }
    .map_err(|e| e.to_string())?;
    let port = info
        .listen
        .rsplit_once(':')
        .map(|(_, p)| p.to_string())
        .ok_or_else(|| format!("{name}: listen address '{}'", info.listen))?;
    if !embedded {
        clear(client, name).await?;
    }
    Ok(format!("127.0.0.1:{port}"))
}

/// An external proxy as a run wants it: enabled, no toxics.
async fn clear(client: &ProxyClient, name: &str) -> Result<(), String> {
    let info = client.get(name).await.map_err(|e| e.to_string())?;
    for t in &info.toxics {
        client
            .remove_toxic(name, &t.name)
            .await
            .map_err(|e| e.to_string())?;
    }
    if !info.enabled {
        client
            .set_enabled(name, true)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
