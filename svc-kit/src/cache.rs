//! One cache interface over Redis (production) or an in-process map (dev).
//!
//! The cache is only ever an accelerator for reads: [`Cache::get_or_load`] answers from the
//! source of truth whenever the cache misses, fails or is slow, and counts the fallback in
//! `cache_fallback_total`. A failing Redis is skipped for `retry_after_ms` so that a dead
//! server costs one bounded timeout, not one per request.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use deadpool_redis::{Pool, Runtime, Timeouts};
use moka::{Expiry, future::Cache as MokaCache};
use secrecy::ExposeSecret;
use serde::{Serialize, de::DeserializeOwned};

use crate::config::{CacheBackend, CacheSettings};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache operation timed out")]
    Timeout,
    #[error("cache skipped after a recent failure")]
    Unavailable,
    #[error("redis pool: {0}")]
    Pool(String),
    #[error("redis: {0}")]
    Redis(String),
    #[error("invalid cache configuration: {0}")]
    Config(String),
}

impl CacheError {
    fn reason(&self) -> &'static str {
        match self {
            CacheError::Timeout => "timeout",
            CacheError::Unavailable => "unavailable",
            CacheError::Pool(_) => "pool",
            CacheError::Redis(_) => "error",
            CacheError::Config(_) => "config",
        }
    }
}

/// How long a generation marker lives; far longer than any value cached under it.
const GENERATION_TTL: Duration = Duration::from_secs(24 * 3600);

fn generation_key(scope: &str) -> String {
    format!("generation:{scope}")
}

/// A namespaced cache handle; cheap to clone.
#[derive(Clone, Debug)]
pub struct Cache {
    backend: Backend,
    prefix: Arc<str>,
    name: &'static str,
    /// In-process rate checks so far (to prune the limiters now and then).
    local_checks: Arc<AtomicU64>,
    /// The in-process rate limiters, one per rule (memory backend only).
    local_limits: Arc<std::sync::Mutex<std::collections::HashMap<&'static str, Arc<LocalLimiter>>>>,
}

/// A rate: `per_period` requests each `period` on average, `burst` of them at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateRule {
    /// Names the rule in keys and metrics.
    pub name: &'static str,
    pub per_period: u32,
    pub period: Duration,
    pub burst: u32,
}

impl RateRule {
    /// The time one request uses up of the rate.
    fn emission(&self) -> Duration {
        self.period / self.per_period.max(1)
    }
}

/// What a rate limit says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Admit,
    /// Over the rate: the next request of this key conforms after this long.
    Refuse {
        retry_after: Duration,
    },
}

type LocalLimiter = governor::DefaultKeyedRateLimiter<String>;

/// GCRA over Redis, atomically (one script per request), on Redis's own clock so replicas with
/// skewed clocks share one schedule. The key holds the theoretical arrival time (ms); `cost`
/// requests move it on by `cost` emissions and conform when the new time is within the burst
/// (`emission * burst`) of now. Returns 0 when admitted, else the milliseconds until they would.
const GCRA_SCRIPT: &str = r"
local emission = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + emission * cost
local allow_at = new_tat - emission * burst
if allow_at > now then return allow_at - now end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now + 1000)
return 0
";

#[derive(Clone)]
enum Backend {
    Memory(MokaCache<String, Entry>),
    Redis(Arc<RedisBackend>),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Memory(c) => write!(f, "Memory({} entries)", c.entry_count()),
            Backend::Redis(_) => f.write_str("Redis"),
        }
    }
}

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _now: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

struct RedisBackend {
    pool: Pool,
    timeout: Duration,
    retry_after: Duration,
    epoch: Instant,
    /// Milliseconds since `epoch` before which Redis is not tried.
    skip_until_ms: AtomicU64,
}

impl RedisBackend {
    fn available(&self) -> bool {
        (self.epoch.elapsed().as_millis() as u64) >= self.skip_until_ms.load(Ordering::Relaxed)
    }

    fn trip(&self) {
        let until = self.epoch.elapsed() + self.retry_after;
        self.skip_until_ms
            .store(until.as_millis() as u64, Ordering::Relaxed);
    }

    async fn run<T, F, Fut>(&self, op: F) -> Result<T, CacheError>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: Future<Output = Result<T, CacheError>>,
    {
        if !self.available() {
            return Err(CacheError::Unavailable);
        }
        let attempt = async {
            let conn = self.pool.get().await.map_err(|e| match e {
                deadpool_redis::PoolError::Timeout(_) => CacheError::Timeout,
                other => CacheError::Pool(other.to_string()),
            })?;
            op(conn).await
        };
        let result = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(CacheError::Timeout),
        };
        if result.is_err() {
            self.trip();
        }
        result
    }
}

impl Cache {
    /// Builds the cache the settings name. `name` labels its metrics (usually the service).
    pub fn from_settings(
        settings: &CacheSettings,
        name: &'static str,
    ) -> Result<Cache, CacheError> {
        // Every series this cache reports exists from the start, at zero, so a rate over it
        // is defined (and an alert on it can fire) before the first failure.
        for result in ["hit", "miss"] {
            metrics::counter!("cache_requests_total", "cache" => name, "result" => result)
                .increment(0);
        }
        metrics::counter!("rate_limit_fallback_total", "cache" => name).increment(0);
        for reason in ["timeout", "unavailable", "pool", "error"] {
            metrics::counter!("cache_fallback_total", "cache" => name, "reason" => reason)
                .increment(0);
        }
        let backend = match settings.backend {
            CacheBackend::Memory => Backend::Memory(
                MokaCache::builder()
                    .max_capacity(settings.memory.max_entries)
                    .expire_after(PerEntryTtl)
                    .build(),
            ),
            CacheBackend::Redis => {
                let url = settings
                    .redis
                    .url
                    .as_ref()
                    .ok_or_else(|| CacheError::Config("cache.redis.url is not set".into()))?;
                let timeout = Duration::from_millis(settings.redis.timeout_ms);
                let pool_config = deadpool_redis::PoolConfig {
                    max_size: settings.redis.pool_size,
                    timeouts: Timeouts {
                        wait: Some(timeout),
                        create: Some(timeout),
                        recycle: Some(timeout),
                    },
                    ..Default::default()
                };
                let url = url.expose_secret();
                let config_error = |e: &dyn std::fmt::Display| CacheError::Config(e.to_string());
                let pool = match crate::tls::process_ca().filter(|_| url.starts_with("rediss://")) {
                    // rediss:// trusting the platform's authority (`[tls] ca_file`) alone.
                    Some(ca) => {
                        let client = deadpool_redis::redis::Client::build_with_tls(
                            url,
                            deadpool_redis::redis::TlsCertificates {
                                client_tls: None,
                                root_cert: Some(ca),
                            },
                        )
                        .map_err(|e| config_error(&e))?;
                        let manager =
                            deadpool_redis::Manager::new(client.get_connection_info().clone())
                                .map_err(|e| config_error(&e))?;
                        Pool::builder(manager)
                            .config(pool_config)
                            .runtime(Runtime::Tokio1)
                            .build()
                            .map_err(|e| config_error(&e))?
                    }
                    // redis://, or rediss:// trusting the web's roots.
                    None => {
                        let mut config = deadpool_redis::Config::from_url(url);
                        config.pool = Some(pool_config);
                        config
                            .create_pool(Some(Runtime::Tokio1))
                            .map_err(|e| config_error(&e))?
                    }
                };
                Backend::Redis(Arc::new(RedisBackend {
                    pool,
                    timeout,
                    retry_after: Duration::from_millis(settings.redis.retry_after_ms),
                    epoch: Instant::now(),
                    skip_until_ms: AtomicU64::new(0),
                }))
            }
        };
        Ok(Cache {
            backend,
            prefix: settings.key_prefix.clone().into(),
            name,
            local_checks: Arc::default(),
            local_limits: Arc::default(),
        })
    }

    /// Whether one more request of `key` conforms to `rule` (GCRA). Replicas on one Redis share
    /// one budget per key; the memory backend keeps it in this process (governor). When Redis
    /// fails or is slow the request is admitted (counted in `rate_limit_fallback_total`): a
    /// cache outage must not refuse every caller.
    pub async fn admit(&self, rule: &RateRule, key: &str) -> RateDecision {
        self.admit_n(rule, key, 1).await
    }

    /// [`Cache::admit`] for `cost` requests at once (a request that makes several bookings).
    /// More than the burst never conforms.
    pub async fn admit_n(&self, rule: &RateRule, key: &str, cost: u32) -> RateDecision {
        let cost = cost.max(1);
        match &self.backend {
            Backend::Memory(_) => self.admit_locally(rule, key, cost),
            Backend::Redis(redis) => {
                let emission = rule.emission().as_millis().max(1) as u64;
                let burst = u64::from(rule.burst.max(1));
                let redis_key = self.key(&format!("rate:{}:{key}", rule.name));
                let result = redis
                    .run(|mut conn| async move {
                        deadpool_redis::redis::cmd("EVAL")
                            .arg(GCRA_SCRIPT)
                            .arg(1)
                            .arg(&redis_key)
                            .arg(emission)
                            .arg(burst)
                            .arg(cost)
                            .query_async::<u64>(&mut conn)
                            .await
                            .map_err(|e| CacheError::Redis(e.to_string()))
                    })
                    .await;
                match result {
                    Ok(0) => RateDecision::Admit,
                    Ok(wait_ms) => RateDecision::Refuse {
                        retry_after: Duration::from_millis(wait_ms),
                    },
                    Err(error) => {
                        metrics::counter!("rate_limit_fallback_total", "cache" => self.name)
                            .increment(1);
                        tracing::debug!(%error, rule = rule.name, "rate limit not checked");
                        RateDecision::Admit
                    }
                }
            }
        }
    }

    fn admit_locally(&self, rule: &RateRule, key: &str, cost: u32) -> RateDecision {
        use governor::clock::{Clock, DefaultClock};
        let limiter = {
            let mut limiters = self.local_limits.lock().unwrap_or_else(|e| e.into_inner());
            let limiter = limiters.entry(rule.name).or_insert_with(|| {
                let burst = std::num::NonZeroU32::new(rule.burst.max(1))
                    .unwrap_or(std::num::NonZeroU32::MIN);
                let quota =
                    governor::Quota::with_period(rule.emission().max(Duration::from_micros(1)))
                        .map(|q| q.allow_burst(burst))
                        .unwrap_or_else(|| governor::Quota::per_second(burst));
                Arc::new(governor::RateLimiter::hashmap(quota))
            });
            Arc::clone(limiter)
        };
        let cost = std::num::NonZeroU32::new(cost).unwrap_or(std::num::NonZeroU32::MIN);
        match limiter.check_key_n(&key.to_string(), cost) {
            Ok(Ok(())) => {
                // Keys whose state has caught up with now hold nothing: drop them every
                // thousandth request once there are many, so addresses seen once do not
                // accumulate (and the pass over them stays rare).
                let checks = self.local_checks.fetch_add(1, Ordering::Relaxed);
                if checks.is_multiple_of(1000) && limiter.len() > 10_000 {
                    limiter.retain_recent();
                }
                RateDecision::Admit
            }
            Ok(Err(not_until)) => RateDecision::Refuse {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            },
            // More at once than the burst: never, however long one waits.
            Err(_) => RateDecision::Refuse {
                retry_after: rule.period,
            },
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        let key = self.key(key);
        match &self.backend {
            Backend::Memory(cache) => Ok(cache.get(&key).await.map(|e| e.value)),
            Backend::Redis(redis) => {
                redis
                    .run(|mut conn| async move {
                        let value: Option<Vec<u8>> = deadpool_redis::redis::cmd("GET")
                            .arg(&key)
                            .query_async(&mut conn)
                            .await
                            .map_err(|e| CacheError::Redis(e.to_string()))?;
                        Ok(value.map(Bytes::from))
                    })
                    .await
            }
        }
    }

    pub async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        let key = self.key(key);
        match &self.backend {
            Backend::Memory(cache) => {
                cache.insert(key, Entry { value, ttl }).await;
                Ok(())
            }
            Backend::Redis(redis) => {
                let millis = ttl.as_millis().max(1) as u64;
                redis
                    .run(|mut conn| async move {
                        deadpool_redis::redis::cmd("SET")
                            .arg(&key)
                            .arg(value.as_ref())
                            .arg("PX")
                            .arg(millis)
                            .query_async::<()>(&mut conn)
                            .await
                            .map_err(|e| CacheError::Redis(e.to_string()))
                    })
                    .await
            }
        }
    }

    /// Removes keys; callers invalidate after every write that changes what the keys hold.
    pub async fn delete(&self, keys: &[&str]) -> Result<(), CacheError> {
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        match &self.backend {
            Backend::Memory(cache) => {
                for key in &keys {
                    cache.invalidate(key).await;
                }
                Ok(())
            }
            Backend::Redis(redis) => {
                if keys.is_empty() {
                    return Ok(());
                }
                redis
                    .run(|mut conn| async move {
                        deadpool_redis::redis::cmd("DEL")
                            .arg(&keys)
                            .query_async::<()>(&mut conn)
                            .await
                            .map_err(|e| CacheError::Redis(e.to_string()))
                    })
                    .await
            }
        }
    }

    /// Reads several keys in one round trip (`MGET`); a missing key is `None`.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, CacheError> {
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        match &self.backend {
            Backend::Memory(cache) => {
                let mut values = Vec::with_capacity(keys.len());
                for key in &keys {
                    values.push(cache.get(key).await.map(|e| e.value));
                }
                Ok(values)
            }
            Backend::Redis(redis) => {
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                redis
                    .run(|mut conn| async move {
                        let values: Vec<Option<Vec<u8>>> = deadpool_redis::redis::cmd("MGET")
                            .arg(&keys)
                            .query_async(&mut conn)
                            .await
                            .map_err(|e| CacheError::Redis(e.to_string()))?;
                        Ok(values.into_iter().map(|v| v.map(Bytes::from)).collect())
                    })
                    .await
            }
        }
    }

    /// The current generations of `scopes` ("0" before the first change), in one round trip;
    /// `None` when the cache cannot be read, so that no cached value is trusted.
    ///
    /// A value cached under a scope's generation is never read again once the generation moves
    /// on ([`Cache::advance`], after every committed change), so a reader that loaded from the
    /// database before the change and writes after it cannot bring old data back.
    pub async fn generations(&self, scopes: &[String]) -> Option<Vec<String>> {
        let keys: Vec<String> = scopes.iter().map(|s| generation_key(s)).collect();
        let values = self.get_many(&keys).await.ok()?;
        values
            .into_iter()
            .map(|v| match v {
                Some(bytes) => String::from_utf8(bytes.to_vec()).ok(),
                None => Some("0".to_string()),
            })
            .collect()
    }

    /// Moves the generations of `scopes` on: everything cached under the old ones is stale (and
    /// expires on its own). A failure is logged: the stale values then live out their TTL.
    pub async fn advance(&self, scopes: &[String]) {
        for scope in scopes {
            let next = Bytes::from(uuid::Uuid::now_v7().to_string());
            if let Err(error) = self.set(&generation_key(scope), next, GENERATION_TTL).await {
                tracing::warn!(cache = self.name, %error, "could not invalidate cached values");
                metrics::counter!("cache_fallback_total", "cache" => self.name, "reason" => error.reason())
                    .increment(1);
                return;
            }
        }
    }

    /// Reads `key`, or runs `load` against the source of truth and caches its answer for `ttl`.
    /// A cache failure never fails the read: it is counted and `load` answers.
    pub async fn get_or_load<T, E, F, Fut>(&self, key: &str, ttl: Duration, load: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let cache_ok = match self.get(key).await {
            Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
                Ok(value) => {
                    metrics::counter!("cache_requests_total", "cache" => self.name, "result" => "hit")
                        .increment(1);
                    return Ok(value);
                }
                Err(_) => {
                    // A value we cannot read (an older shape): treat as a miss and overwrite it.
                    true
                }
            },
            Ok(None) => true,
            Err(err) => {
                tracing::warn!(
                    cache = self.name,
                    reason = err.reason(),
                    "cache read failed; using source of truth"
                );
                metrics::counter!("cache_fallback_total", "cache" => self.name, "reason" => err.reason())
                    .increment(1);
                false
            }
        };
        metrics::counter!("cache_requests_total", "cache" => self.name, "result" => "miss")
            .increment(1);
        let value = load().await?;
        if cache_ok
            && let Ok(bytes) = serde_json::to_vec(&value)
            && let Err(err) = self.set(key, Bytes::from(bytes), ttl).await
        {
            tracing::warn!(
                cache = self.name,
                reason = err.reason(),
                "cache write failed"
            );
        }
        Ok(value)
    }

    /// For readiness: the in-process cache is always ready; Redis must answer PING.
    pub async fn ping(&self) -> Result<(), String> {
        match &self.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Redis(redis) => {
                let attempt = async {
                    let mut conn = redis.pool.get().await.map_err(|e| e.to_string())?;
                    deadpool_redis::redis::cmd("PING")
                        .query_async::<String>(&mut conn)
                        .await
                        .map_err(|e| e.to_string())
                };
                tokio::time::timeout(Duration::from_secs(1), attempt)
                    .await
                    .map_err(|_| "redis ping timed out".to_string())?
                    .map(|_| ())
            }
        }
    }
}
