//! The heartbeat: `/api/registry` once as soon as the executor serves, then every beat interval, each round
//! trying the admins in order until one accepts. Deregistration at shutdown is [`crate::ExecutorHandle`]'s.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin_client::AdminClient;

/// Starts the loop; cancel the token to stop it.
pub(crate) fn start(
    admin: Arc<AdminClient>,
    app_name: String,
    address: String,
    interval: Duration,
) -> (CancellationToken, JoinHandle<()>) {
    let token = CancellationToken::new();
    let stop = token.clone();
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            // A round may take a while when admins time out; shutdown must not wait for it.
            tokio::select! {
                () = stop.cancelled() => return,
                result = admin.registry(&address) => match result {
                    Ok(()) => tracing::debug!(%app_name, %address, "registered with admin"),
                    Err(error) => tracing::info!(%app_name, %error, "registration failed on every admin"),
                },
            }
        }
    });
    (token, task)
}
