//! WebSocket connections open per client IP address, so one client cannot
//! take every socket and subscription slot of the process. Per address
//! rather than per subject: the cap is taken before the upgrade, and a
//! browser's upgrade carries no token (it comes in `connection_init`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug)]
pub(crate) struct WsClients {
    max_per_client: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection; counted until dropped.
#[derive(Debug)]
pub(crate) struct WsSlot {
    clients: Arc<WsClients>,
    ip: IpAddr,
}

impl WsClients {
    pub fn new(max_per_client: usize) -> Arc<WsClients> {
        Arc::new(WsClients {
            max_per_client,
            open: Mutex::default(),
        })
    }

    pub fn max_per_client(&self) -> usize {
        self.max_per_client
    }

    /// A slot for one more connection from `ip`, unless it has the most
    /// it may have.
    pub fn open(self: &Arc<Self>, ip: IpAddr) -> Option<WsSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max_per_client {
            return None;
        }
        *n += 1;
        Some(WsSlot {
            clients: Arc::clone(self),
            ip,
        })
    }

    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&ip)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for WsSlot {
    fn drop(&mut self) {
        let mut open = self
            .clients
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            // Addresses come and go: keep only those with a connection.
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_each_address_and_frees_on_drop() {
        let clients = WsClients::new(2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let first = clients.open(a);
        let second = clients.open(a);
        assert!(first.is_some() && second.is_some());
        assert!(clients.open(a).is_none());
        assert!(clients.open(b).is_some(), "another address is not affected");
        drop(first);
        assert_eq!(clients.count(a), 1);
        let third = clients.open(a);
        assert!(third.is_some());
        drop((second, third));
        assert_eq!(clients.count(a), 0);
        assert!(
            clients
                .open
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
        );
    }
}
