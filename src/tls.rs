//! The process's one rustls crypto provider. rustls picks one by itself
//! only when exactly one is compiled in; the kurrentdb feature brings
//! aws-lc-rs beside the ring that NATS and HTTPS use, and then the first
//! TLS connection (a `tls://` NATS URL, an `https://` JWKS) would panic.

/// Installs ring; call before anything connects (`main` does, first).
/// Idempotent: a provider installed earlier is kept, and either works.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
