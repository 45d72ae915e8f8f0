//! TLS with rustls in its sans-IO form: the same code on every runtime. A
//! [`TlsStream`] wraps any `futures-io` stream; the handshake runs first, under
//! its own timeout, and tells the driver which protocol ALPN chose.

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConnection};
use serde::Deserialize;

use crate::config::Config;

/// Plaintext rustls may hold for writing before `poll_write` waits for the socket.
const TLS_BUFFER_LIMIT: usize = 64 * 1024;

/// Whether clients must present a certificate (`--verify-mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum VerifyMode {
    /// No client certificates are asked for.
    #[default]
    None,
    /// Asked for; a client without one is still served.
    Optional,
    /// Required, and verified against `ca_certs`.
    Required,
}

/// What the TLS handshake settled, as the scope shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The host name the client asked for (SNI), if it sent one.
    pub server_name: Option<String>,
    /// The protocol ALPN chose (`h2`, `http/1.1`), if any.
    pub alpn: Option<Vec<u8>>,
    /// `TLSv1_2` or `TLSv1_3`.
    pub version: &'static str,
    /// The negotiated cipher suite.
    pub cipher_suite: String,
    /// Whether the client presented a (verified) certificate.
    pub client_certificate: bool,
}

/// Builds the rustls server configuration from `config`, or `None` when TLS is off.
pub(crate) fn server_config(config: &Config) -> Result<Option<Arc<ServerConfig>>, String> {
    let (certs, key) = match (&config.certfile, &config.keyfile, config.self_signed) {
        (Some(certfile), Some(keyfile), _) => {
            let certs = CertificateDer::pem_file_iter(certfile)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|error| format!("cannot read certificates from {}: {error}", certfile.display()))?;
            if certs.is_empty() {
                return Err(format!("no certificate in {}", certfile.display()));
            }
            let key = PrivateKeyDer::from_pem_file(keyfile)
                .map_err(|error| format!("cannot read a private key from {}: {error}", keyfile.display()))?;
            (certs, key)
        }
        (Some(_), None, _) | (None, Some(_), _) => {
            return Err("certfile and keyfile must be given together".to_owned());
        }
        (None, None, true) => self_signed()?,
        (None, None, false) => return Ok(None),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|error| error.to_string())?;
    let builder = match config.verify_mode {
        VerifyMode::None => builder.with_no_client_auth(),
        mode => {
            let path = config.ca_certs.as_ref().ok_or("verify_mode needs ca_certs")?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?
            {
                let cert = cert.map_err(|error| format!("cannot read {}: {error}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|error| format!("bad CA certificate in {}: {error}", path.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier =
                if mode == VerifyMode::Optional { verifier.allow_unauthenticated() } else { verifier };
            builder.with_client_cert_verifier(verifier.build().map_err(|error| error.to_string())?)
        }
    };
    let mut server =
        builder.with_single_cert(certs, key).map_err(|error| format!("bad certificate or key: {error}"))?;
    server.alpn_protocols = config.alpn_protocols.iter().map(|p| p.as_bytes().to_vec()).collect();
    server.max_early_data_size = 0;
    Ok(Some(Arc::new(server)))
}

/// A certificate for `localhost`, `127.0.0.1` and `::1`, made at startup so the
/// demo runs over HTTPS with no setup. Browsers will (rightly) not trust it.
fn self_signed() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(|error| error.to_string())?;
    let key =
        PrivateKeyDer::try_from(certified.signing_key.serialize_der()).map_err(|error| error.to_owned())?;
    Ok((vec![certified.cert.der().clone()], key))
}

/// A TLS session over a `futures-io` stream.
pub(crate) struct TlsStream<S> {
    io: S,
    conn: ServerConnection,
    /// The socket reached EOF.
    eof: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream<S> {
    /// What the handshake settled.
    pub(crate) fn info(&self) -> TlsInfo {
        TlsInfo {
            server_name: self.conn.server_name().map(str::to_owned),
            alpn: self.conn.alpn_protocol().map(<[u8]>::to_vec),
            version: match self.conn.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1_3",
                _ => "TLSv1_2",
            },
            cipher_suite: self
                .conn
                .negotiated_cipher_suite()
                .map(|suite| format!("{:?}", suite.suite()))
                .unwrap_or_default(),
            client_certificate: self.conn.peer_certificates().is_some_and(|certs| !certs.is_empty()),
        }
    }

    /// Writes rustls's pending records to the socket until done or blocked.
    fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut SyncIo { io: &mut self.io, cx }) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Reads records from the socket into rustls. `Ready(Ok(false))` at EOF.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.eof {
            return Poll::Ready(Ok(false));
        }
        match self.conn.read_tls(&mut SyncIo { io: &mut self.io, cx }) {
            Ok(0) => {
                self.eof = true;
                Poll::Ready(Ok(false))
            }
            Ok(_) => match self.conn.process_new_packets() {
                Ok(_) => Poll::Ready(Ok(true)),
                Err(error) => {
                    // Send the alert that explains the failure, then fail.
                    let _ = self.poll_flush_tls(cx);
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, error)))
                }
            },
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.is_handshaking() {
            let flushed = self.poll_flush_tls(cx)?;
            if !self.conn.is_handshaking() {
                break;
            }
            if self.conn.wants_read() {
                match self.poll_fill(cx)? {
                    Poll::Ready(true) => continue,
                    Poll::Ready(false) => {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "client closed during the TLS handshake",
                        )));
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            if flushed.is_pending() {
                return Poll::Pending;
            }
        }
        self.poll_flush_tls(cx)
    }
}

/// Performs the server side of the handshake on `io`.
pub(crate) async fn accept<S>(io: S, config: Arc<ServerConfig>) -> io::Result<TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    conn.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
    let mut stream = TlsStream { io, conn, eof: false };
    poll_fn(|cx| stream.poll_handshake(cx)).await?;
    Ok(stream)
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match this.conn.reader().read(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                // EOF without close_notify: for HTTP, the framing says whether
                // anything was cut short, so report a plain end.
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(0)),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
            // Key updates and the like may need answering while reading.
            if let Poll::Ready(Err(error)) = this.poll_flush_tls(cx) {
                return Poll::Ready(Err(error));
            }
            match std::task::ready!(this.poll_fill(cx))? {
                true => {}
                false => return Poll::Ready(Ok(0)),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            let written = this.conn.writer().write(buf)?;
            if written > 0 || buf.is_empty() {
                // Push what can go now; the rest waits in rustls for the next call or flush.
                if let Poll::Ready(Err(error)) = this.poll_flush_tls(cx) {
                    return Poll::Ready(Err(error));
                }
                return Poll::Ready(Ok(written));
            }
            std::task::ready!(this.poll_flush_tls(cx))?;
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            let written = this.conn.writer().write_vectored(bufs)?;
            if written > 0 || bufs.iter().all(|b| b.is_empty()) {
                if let Poll::Ready(Err(error)) = this.poll_flush_tls(cx) {
                    return Poll::Ready(Err(error));
                }
                return Poll::Ready(Ok(written));
            }
            std::task::ready!(this.poll_flush_tls(cx))?;
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_flush_tls(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.conn.send_close_notify();
        std::task::ready!(this.poll_flush_tls(cx))?;
        Pin::new(&mut this.io).poll_close(cx)
    }
}

/// Lets rustls's blocking-style `read_tls`/`write_tls` drive an async stream:
/// a pending socket reads as `WouldBlock`, with the task's waker registered.
struct SyncIo<'a, 'b, S> {
    io: &'a mut S,
    cx: &'a mut Context<'b>,
}

impl<S: AsyncRead + Unpin> Read for SyncIo<'_, '_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_read(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<S: AsyncWrite + Unpin> Write for SyncIo<'_, '_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}
