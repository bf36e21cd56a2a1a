//! The RAS socket: datagrams in, the gatekeeper's answers out, until stop.

use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::warn;

use super::ras::Gatekeeper;

/// Serves `socket` (UDP 1719) until `stop` turns true.
pub async fn serve(
    socket: UdpSocket,
    gatekeeper: Arc<Gatekeeper>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                // ICMP errors of earlier sends surface here; go on.
                Err(_) => continue,
            },
            _ = stop.changed() => {
                if *stop.borrow() {
                    return;
                }
                continue;
            }
        };
        let now = registrar::unix_now();
        if let Some((reply, to)) = gatekeeper.handle(&buf[..n], from, now).await {
            if let Err(e) = socket.send_to(&reply, to).await {
                warn!(%to, "RAS answer not sent: {e}");
            }
        }
    }
}
