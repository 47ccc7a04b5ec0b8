//! Replicas that advertise their address (`--advertise-url`): each keeps a
//! heartbeat in the catalog while it serves, and GetFlightInfo spreads a
//! download's endpoints over the live ones, so one large download is served
//! by several machines. Clients that ignore endpoint locations fetch every
//! endpoint from the address they called, which works as well.

use std::net::SocketAddr;
use std::time::Duration;

use arrow_flight::FlightEndpoint;
use laker_catalog::Catalog;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often a replica says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long a replica counts as alive after its last heartbeat.
const LIVE_WINDOW: Duration = Duration::from_secs(15);

/// `url` with port 0 replaced by the port actually listened on.
pub fn advertised(url: &str, bound: SocketAddr) -> Result<String, String> {
    let mut parsed = url::Url::parse(url).map_err(|e| format!("invalid --advertise-url: {e}"))?;
    if parsed.port() == Some(0) {
        parsed
            .set_port(Some(bound.port()))
            .map_err(|()| "invalid --advertise-url".to_string())?;
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

/// Records `url` as alive now and every few seconds until `stop`, then
/// removes it.
pub async fn start_heartbeat(
    catalog: Catalog,
    url: String,
    stop: CancellationToken,
) -> JoinHandle<()> {
    if let Err(e) = catalog.replica_heartbeat(&url).await {
        tracing::warn!(error = %e, "replica heartbeat failed");
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(HEARTBEAT) => {}
            }
            if let Err(e) = catalog.replica_heartbeat(&url).await {
                tracing::warn!(error = %e, "replica heartbeat failed");
            }
        }
        if let Err(e) = catalog.forget_replica(&url).await {
            tracing::warn!(error = %e, "could not remove the replica from the catalog");
        }
    })
}

/// Gives each endpoint the location of one live replica, in turn from a
/// random one. Leaves them without locations if none is known.
pub async fn spread(catalog: &Catalog, endpoints: Vec<FlightEndpoint>) -> Vec<FlightEndpoint> {
    let live = match catalog.live_replicas(LIVE_WINDOW).await {
        Ok(live) if !live.is_empty() => live,
        Ok(_) => return endpoints,
        Err(e) => {
            tracing::warn!(error = %e, "live replicas unknown; endpoints left without locations");
            return endpoints;
        }
    };
    let start = rand::random_range(0..live.len());
    endpoints
        .into_iter()
        .enumerate()
        .map(|(i, e)| e.with_location(live[(start + i) % live.len()].clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_is_the_bound_port() {
        let bound: SocketAddr = "127.0.0.1:40123".parse().unwrap();
        assert_eq!(
            advertised("grpc://127.0.0.1:0", bound).unwrap(),
            "grpc://127.0.0.1:40123"
        );
        assert_eq!(
            advertised("grpc+tls://laker-0.laker:50051", bound).unwrap(),
            "grpc+tls://laker-0.laker:50051"
        );
    }
}
