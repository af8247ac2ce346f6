//! Quota reservation throughput and latency: one user, many reservations of 1 unit
//! with distinct keys, from 1 and from 16 concurrent clients.

use crate::accounts;
use crate::paths::Paths;
use crate::store::{Charge, Store};
use idoctor_protocol::{NewUser, QuotaType, Role};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// Figures for one concurrency level.
#[derive(Debug, Clone, Serialize)]
pub struct ReserveFigures {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Distinct users they charge (1 = every client contends for the same balance row).
    pub users: usize,
    /// Reservations made.
    pub reservations: usize,
    /// Reservations per second over the whole run.
    pub per_second: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Runs `per_client` reservations from each of `clients` tasks, spread over `users`
/// fresh users (client c charges user c mod `users`).
pub async fn reserve<S: Store>(
    store: S,
    clients: usize,
    users: usize,
    per_client: usize,
    scratch: &std::path::Path,
) -> Result<ReserveFigures, String> {
    let paths = Paths::new(scratch, scratch);
    let mut user_ids = Vec::new();
    for _ in 0..users.max(1) {
        let user = accounts::create_user(
            &store,
            &paths,
            NewUser {
                username: format!("bench{:08x}", rand::random::<u32>()),
                password: "benchmark-password".into(),
                role: Role::Operator,
                plan: Some("enterprise".into()),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        user_ids.push(user.id);
    }
    let store = Arc::new(store);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let store = store.clone();
            let user_id = user_ids[c % user_ids.len()];
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let charge = Charge {
                        user_id,
                        quota_type: QuotaType::ApiCallsFullProcess,
                        amount: 1,
                        key: format!("bench:{user_id}:{c}:{i}"),
                        job_id: None,
                        series_id: None,
                        actor_id: None,
                        metadata: serde_json::Value::Null,
                    };
                    let t = Instant::now();
                    let outcome = store.reserve(&charge, crate::store::now_ms()).await;
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    if let Err(e) = outcome {
                        return Err(e.to_string());
                    }
                }
                Ok(lat)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Ok(ReserveFigures {
        backend: store.backend().as_str().into(),
        clients,
        users: user_ids.len(),
        reservations: latencies.len(),
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
    })
}
