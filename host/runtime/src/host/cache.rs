use super::super::bindings::HostError;
use super::super::bindings::api::aura::host::cache::{Host, KeyTtl as WitTtl};
use super::super::grants::Access;
use super::super::state::PluginState;
use super::{batch_too_large, grant_each, host_call, taped};
use aura_services::KeyTtl;

/// The most keys one scan returns, whatever the plugin asks for.
const MAX_SCAN: u32 = 10_000;
/// The most list items one read returns.
const MAX_LIST: u32 = 1_000;

impl Host for PluginState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, HostError>> {
        taped!(
            self,
            "cache.get",
            [key],
            async {
                let ctx = &mut self.call;
                let (grant, hub) = (ctx.grants.check_cache(Access::Read, &key), ctx.hub.clone());
                let value = host_call!(ctx, "cache.get", grant, key.len(), async move {
                    hub.cache().await?.get(&key).await
                })?;
                Ok(ctx.answer("cache.get", value, |v| v.as_ref().map_or(0, String::len)))
            }
            .await
        )
    }

    async fn get_many(
        &mut self,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<Option<String>>, HostError>> {
        taped!(
            self,
            "cache.get-many",
            [keys],
            async {
                let ctx = &mut self.call;
                let grant = grant_each(&keys, |k| ctx.grants.check_cache(Access::Read, k));
                let bytes = keys.iter().map(String::len).sum();
                if let Some(e) = batch_too_large("cache.get-many", keys.len()) {
                    return Ok(ctx.admit("cache.get-many", grant, bytes).and(Err(e)));
                }
                let hub = ctx.hub.clone();
                let values = host_call!(ctx, "cache.get-many", grant, bytes, async move {
                    hub.cache().await?.get_many(&keys).await
                })?;
                Ok(ctx.answer("cache.get-many", values, |v| {
                    v.iter()
                        .map(|x| x.as_ref().map_or(0, String::len) + 8)
                        .sum()
                }))
            }
            .await
        )
    }

    async fn exists(&mut self, key: String) -> wasmtime::Result<Result<bool, HostError>> {
        let ttl = self.ttl(key).await?;
        Ok(ttl.map(|t| !matches!(t, WitTtl::Missing)))
    }

    async fn ttl(&mut self, key: String) -> wasmtime::Result<Result<WitTtl, HostError>> {
        taped!(
            self,
            "cache.ttl",
            [key],
            async {
                let ctx = &mut self.call;
                let (grant, hub) = (ctx.grants.check_cache(Access::Read, &key), ctx.hub.clone());
                let ttl = host_call!(ctx, "cache.ttl", grant, key.len(), async move {
                    hub.cache().await?.ttl(&key).await
                })?;
                Ok(ttl.map(|t| match t {
                    KeyTtl::Missing => WitTtl::Missing,
                    KeyTtl::Persistent => WitTtl::Persistent,
                    KeyTtl::Expires(d) => WitTtl::Seconds(d.as_secs()),
                }))
            }
            .await
        )
    }

    async fn scan_prefix(
        &mut self,
        prefix: String,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<String>, HostError>> {
        taped!(
            self,
            "cache.scan-prefix",
            [prefix, limit],
            async {
                let ctx = &mut self.call;
                let (grant, hub) = (ctx.grants.check_cache_prefix(&prefix), ctx.hub.clone());
                let limit = limit.min(MAX_SCAN) as usize;
                let keys = host_call!(ctx, "cache.scan-prefix", grant, prefix.len(), async move {
                    hub.cache().await?.scan_prefix(&prefix, limit).await
                })?;
                Ok(ctx.answer("cache.scan-prefix", keys, |k| list_size(k)))
            }
            .await
        )
    }

    async fn list_head(
        &mut self,
        key: String,
        count: u32,
    ) -> wasmtime::Result<Result<Vec<String>, HostError>> {
        taped!(
            self,
            "cache.list-head",
            [key, count],
            async {
                let ctx = &mut self.call;
                let (grant, hub) = (ctx.grants.check_cache(Access::Read, &key), ctx.hub.clone());
                let count = count.min(MAX_LIST) as usize;
                let items = host_call!(ctx, "cache.list-head", grant, key.len(), async move {
                    hub.cache().await?.list_head(&key, count).await
                })?;
                Ok(ctx.answer("cache.list-head", items, |i| list_size(i)))
            }
            .await
        )
    }

    async fn set(
        &mut self,
        key: String,
        value: String,
        ttl_seconds: Option<u64>,
    ) -> wasmtime::Result<Result<(), HostError>> {
        taped!(
            self,
            "cache.set",
            [key, value, ttl_seconds],
            async {
                let ctx = &mut self.call;
                let (grant, hub) = (ctx.grants.check_cache(Access::Write, &key), ctx.hub.clone());
                let bytes = key.len() + value.len();
                let ttl = ttl_seconds.map(std::time::Duration::from_secs);
                host_call!(ctx, "cache.set", grant, bytes, async move {
                    hub.cache().await?.set(&key, &value, ttl).await
                })
            }
            .await
        )
    }
}

/// A list's bytes, each item costing its length and its slot.
fn list_size(items: &[String]) -> usize {
    items.iter().map(|i| i.len() + 8).sum()
}
