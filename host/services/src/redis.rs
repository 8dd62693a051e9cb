//! Redis on tokio through a [`ConnectionManager`] (reconnects by itself, retries connects
//! with exponential backoff); multi-key writes go through pipelines.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Endpoint, Failure, ServiceError, ServiceFacts, ServiceKind, display_address};
use crate::config::RedisConfig;

/// The remaining life of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTtl {
    Missing,
    Persistent,
    Expires(Duration),
}

#[async_trait]
pub trait Cache: Send + Sync {
    fn address(&self) -> &str;
    /// One PING round trip.
    async fn ping(&self) -> Result<(), ServiceError>;
    async fn get(&self, key: &str) -> Result<Option<String>, ServiceError>;
    /// The values of `keys`, in their order, in one round trip (MGET).
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, ServiceError>;
    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), ServiceError>;
    /// Writes every entry in one atomic pipeline (MULTI/EXEC).
    async fn set_many(
        &self,
        entries: &[(String, String)],
        ttl: Option<Duration>,
    ) -> Result<(), ServiceError>;
    async fn ttl(&self, key: &str) -> Result<KeyTtl, ServiceError>;
    /// Keys starting with `prefix`, at most `limit` of them (SCAN, never KEYS).
    async fn scan_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<String>, ServiceError>;
    /// Keys matching a Redis glob `pattern` (the caller escapes what must be literal).
    async fn scan_match(&self, pattern: &str, limit: usize) -> Result<Vec<String>, ServiceError>;
    /// Unlinks every key starting with `prefix`; returns how many went.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, ServiceError>;
    /// Pushes `value` to the front of list `key`, keeps its first `keep` items and sets
    /// its TTL, atomically.
    async fn push_capped(
        &self,
        key: &str,
        value: &str,
        keep: usize,
        ttl: Duration,
    ) -> Result<(), ServiceError>;
    /// The first `n` items of list `key` (front first).
    async fn list_head(&self, key: &str, n: usize) -> Result<Vec<String>, ServiceError>;
    /// Removes every item of list `key` equal to `value`; how many went.
    async fn list_remove(&self, key: &str, value: &str) -> Result<u64, ServiceError>;
    /// Appends `value` to stream `key` (XADD), which expires `ttl` after its last entry;
    /// the entry's id.
    async fn stream_append(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<String, ServiceError>;
    /// Up to `count` entries of stream `key` after entry id `after` (`None`: from the
    /// first), oldest first, as (id, value); never blocks.
    async fn stream_after(
        &self,
        key: &str,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, String)>, ServiceError>;
    /// Atomically leases `needed` of the `candidates` keys to `owner` for `ttl`: a key is
    /// free when absent or already held by `owner` (so a retry is idempotent). Leases all
    /// or nothing; returns the keys leased, or an empty list when too few were free.
    async fn lease(
        &self,
        candidates: &[String],
        needed: usize,
        owner: &str,
        ttl: Duration,
    ) -> Result<Vec<String>, ServiceError>;
    /// Releases those of `keys` that `owner` holds; returns how many.
    async fn release(&self, keys: &[String], owner: &str) -> Result<u64, ServiceError>;
    /// A server setting (`CONFIG GET`).
    async fn setting(&self, name: &str) -> Result<Option<String>, ServiceError>;
    /// Changes a server setting (`CONFIG SET`).
    async fn set_setting(&self, name: &str, value: &str) -> Result<(), ServiceError>;
    /// Version, role, used memory and keyspace hit rate.
    async fn probe(&self) -> Result<ServiceFacts, ServiceError>;
}

/// KEYS = candidates, ARGV = [needed, owner, ttl ms]; see [`Cache::lease`].
const LEASE_SCRIPT: &str = r#"
local needed = tonumber(ARGV[1])
local free = {}
for _, k in ipairs(KEYS) do
  local holder = redis.call('GET', k)
  if (not holder) or holder == ARGV[2] then
    table.insert(free, k)
    if #free == needed then break end
  end
end
if #free < needed then return {} end
for _, k in ipairs(free) do
  redis.call('SET', k, ARGV[2], 'PX', ARGV[3])
end
return free
"#;

const RELEASE_SCRIPT: &str = r#"
local released = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then
    released = released + redis.call('DEL', k)
  end
end
return released
"#;

/// The one field of a stream entry aura-host writes.
const STREAM_FIELD: &str = "v";

#[derive(Clone)]
pub struct RedisCache {
    endpoint: Endpoint,
    conn: ConnectionManager,
}

impl RedisCache {
    pub async fn connect(config: &RedisConfig) -> Result<Self, ServiceError> {
        let endpoint = Endpoint::new(
            ServiceKind::Redis,
            display_address(&config.url),
            config.timeout,
        );
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| endpoint.error(Failure::Address(e.to_string())))?;
        // The first connect is retried by `Endpoint::connect`; the manager's own retries
        // cover reconnects later, so keep them short to not multiply the two.
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(1));
        let conn = endpoint
            .connect(|| ConnectionManager::new_with_config(client.clone(), manager_config.clone()))
            .await?;
        Ok(Self { endpoint, conn })
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// SCAN with a MATCH pattern; `prefix` is escaped so glob characters match literally.
    /// Keys matching the glob `pattern`, at most `limit` (SCAN, never KEYS).
    async fn scan(&self, pattern: &str, limit: usize) -> Result<Vec<String>, ServiceError> {
        let mut conn = self.conn();
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = self
                .endpoint
                .call(
                    "SCAN",
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut conn),
                )
                .await?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 || keys.len() >= limit {
                keys.truncate(limit);
                return Ok(keys);
            }
        }
    }
}

#[async_trait]
impl Cache for RedisCache {
    fn address(&self) -> &str {
        &self.endpoint.address
    }

    async fn ping(&self) -> Result<(), ServiceError> {
        let mut conn = self.conn();
        let pong: String = self
            .endpoint
            .call("PING", redis::cmd("PING").query_async(&mut conn))
            .await?;
        if pong != "PONG" {
            return Err(self.endpoint.protocol_error("PING", pong));
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<String>, ServiceError> {
        self.endpoint.call("GET", self.conn().get(key)).await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, ServiceError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn();
        self.endpoint
            .call("MGET", redis::cmd("MGET").arg(keys).query_async(&mut conn))
            .await
    }

    async fn set(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), ServiceError> {
        self.set_many(&[(key.to_string(), value.to_string())], ttl)
            .await
    }

    async fn set_many(
        &self,
        entries: &[(String, String)],
        ttl: Option<Duration>,
    ) -> Result<(), ServiceError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (key, value) in entries {
            match ttl {
                Some(ttl) => pipe
                    .pset_ex(key, value, ttl.as_millis().max(1) as u64)
                    .ignore(),
                None => pipe.set(key, value).ignore(),
            };
        }
        let mut conn = self.conn();
        self.endpoint
            .call("pipeline SET", pipe.query_async::<()>(&mut conn))
            .await
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl, ServiceError> {
        let ms: i64 = self.endpoint.call("PTTL", self.conn().pttl(key)).await?;
        Ok(match ms {
            -2 => KeyTtl::Missing,
            -1 => KeyTtl::Persistent,
            ms => KeyTtl::Expires(Duration::from_millis(ms.max(0) as u64)),
        })
    }

    async fn scan_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<String>, ServiceError> {
        self.scan(&format!("{}*", escape_glob(prefix)), limit).await
    }

    async fn scan_match(&self, pattern: &str, limit: usize) -> Result<Vec<String>, ServiceError> {
        self.scan(pattern, limit).await
    }

    async fn push_capped(
        &self,
        key: &str,
        value: &str,
        keep: usize,
        ttl: Duration,
    ) -> Result<(), ServiceError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .lpush(key, value)
            .ignore()
            .ltrim(key, 0, keep.max(1) as isize - 1)
            .ignore()
            .pexpire(key, ttl.as_millis().max(1) as i64)
            .ignore();
        let mut conn = self.conn();
        self.endpoint
            .call("LPUSH/LTRIM/PEXPIRE", pipe.query_async::<()>(&mut conn))
            .await
    }

    async fn list_head(&self, key: &str, n: usize) -> Result<Vec<String>, ServiceError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        self.endpoint
            .call("LRANGE", self.conn().lrange(key, 0, n as isize - 1))
            .await
    }

    async fn list_remove(&self, key: &str, value: &str) -> Result<u64, ServiceError> {
        self.endpoint
            .call("LREM", self.conn().lrem(key, 0, value))
            .await
    }

    async fn stream_append(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<String, ServiceError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(key)
            .arg("*")
            .arg(STREAM_FIELD)
            .arg(value)
            .pexpire(key, ttl.as_millis().max(1) as i64)
            .ignore();
        let mut conn = self.conn();
        let (id,): (String,) = self
            .endpoint
            .call("XADD/PEXPIRE", pipe.query_async(&mut conn))
            .await?;
        Ok(id)
    }

    async fn stream_after(
        &self,
        key: &str,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, String)>, ServiceError> {
        // `(id` is exclusive: what comes after the entry already read.
        let start = after.map_or_else(|| "-".to_string(), |id| format!("({id}"));
        let mut conn = self.conn();
        let entries: Vec<(String, Vec<String>)> = self
            .endpoint
            .call(
                "XRANGE",
                redis::cmd("XRANGE")
                    .arg(key)
                    .arg(start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(count.max(1))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(entries
            .into_iter()
            .filter_map(|(id, fields)| {
                let value = fields
                    .chunks(2)
                    .find(|f| f.first().map(String::as_str) == Some(STREAM_FIELD))
                    .and_then(|f| f.get(1).cloned())?;
                Some((id, value))
            })
            .collect())
    }

    async fn lease(
        &self,
        candidates: &[String],
        needed: usize,
        owner: &str,
        ttl: Duration,
    ) -> Result<Vec<String>, ServiceError> {
        if needed == 0 || candidates.len() < needed {
            return Ok(Vec::new());
        }
        let script = redis::Script::new(LEASE_SCRIPT);
        let mut invocation = script.prepare_invoke();
        for k in candidates {
            invocation.key(k);
        }
        invocation
            .arg(needed)
            .arg(owner)
            .arg(ttl.as_millis().max(1) as u64);
        let mut conn = self.conn();
        self.endpoint
            .call("EVALSHA lease", invocation.invoke_async(&mut conn))
            .await
    }

    async fn release(&self, keys: &[String], owner: &str) -> Result<u64, ServiceError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let script = redis::Script::new(RELEASE_SCRIPT);
        let mut invocation = script.prepare_invoke();
        for k in keys {
            invocation.key(k);
        }
        invocation.arg(owner);
        let mut conn = self.conn();
        self.endpoint
            .call("EVALSHA release", invocation.invoke_async(&mut conn))
            .await
    }

    async fn setting(&self, name: &str) -> Result<Option<String>, ServiceError> {
        let mut conn = self.conn();
        let pairs: Vec<String> = self
            .endpoint
            .call(
                "CONFIG GET",
                redis::cmd("CONFIG")
                    .arg("GET")
                    .arg(name)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(pairs.into_iter().nth(1))
    }

    async fn set_setting(&self, name: &str, value: &str) -> Result<(), ServiceError> {
        let mut conn = self.conn();
        self.endpoint
            .call(
                "CONFIG SET",
                redis::cmd("CONFIG")
                    .arg("SET")
                    .arg(name)
                    .arg(value)
                    .query_async::<()>(&mut conn),
            )
            .await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, ServiceError> {
        let mut removed = 0;
        loop {
            let keys = self
                .scan(&format!("{}*", escape_glob(prefix)), 1000)
                .await?;
            if keys.is_empty() {
                return Ok(removed);
            }
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.unlink(key);
            }
            let mut conn = self.conn();
            let counts: Vec<u64> = self
                .endpoint
                .call("pipeline UNLINK", pipe.query_async(&mut conn))
                .await?;
            removed += counts.iter().sum::<u64>();
        }
    }

    async fn probe(&self) -> Result<ServiceFacts, ServiceError> {
        let mut conn = self.conn();
        let info: String = self
            .endpoint
            .call(
                "INFO",
                redis::cmd("INFO")
                    .arg("server")
                    .arg("replication")
                    .arg("memory")
                    .arg("stats")
                    .query_async(&mut conn),
            )
            .await?;
        let field = |name: &str| info_field(&info, name).unwrap_or_default().to_string();
        let number = |name: &str| field(name).parse::<u64>().unwrap_or(0);
        let (hits, misses) = (number("keyspace_hits"), number("keyspace_misses"));
        let hit_rate = if hits + misses == 0 {
            serde_json::Value::Null
        } else {
            serde_json::json!((hits as f64 / (hits + misses) as f64 * 1000.0).round() / 1000.0)
        };
        Ok(ServiceFacts {
            version: Some(format!("Redis {}", field("redis_version"))),
            ..ServiceFacts::default()
        }
        .with("role", field("role"))
        .with("used_memory", field("used_memory_human"))
        .with("keyspace_hits", hits)
        .with("keyspace_misses", misses)
        .with("keyspace_hit_rate", hit_rate))
    }
}

/// One `field:value` line of an INFO reply.
pub(super) fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// Escapes Redis glob metacharacters so a prefix matches only itself.
pub fn escape_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(super::escape_glob("aura:r1:"), "aura:r1:");
        assert_eq!(super::escape_glob("a*b?[c]"), r"a\*b\?\[c\]");
    }
}
