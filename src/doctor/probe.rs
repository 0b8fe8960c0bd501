//! Network probes for `doctor`: TCP connects, SMTP conversations (with
//! STARTTLS), TLS handshakes that record the chain and the verifier's
//! judgement instead of aborting, and one HTTPS GET for the MTA-STS policy.
//! tokio-rustls is used only here.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_rustls::TlsConnector;

use super::certificate::Served;
use super::smtp::{parse_line, Reply};

/// How long one network step (connect, a reply, a handshake) may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(8);
/// The name `doctor` greets with.
const EHLO_NAME: &str = "doctor.mailctl.invalid";

/// The trust anchors: the system's roots plus extra PEM files (the
/// project's own certificate in self-signed mode, a configured CA).
#[derive(Clone)]
pub struct Trust {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl Trust {
    pub fn new(extra_pem_files: &[&Path]) -> Trust {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        for path in extra_pem_files {
            if let Ok(pem) = fs_err::read(path) {
                let mut reader = pem.as_slice();
                let certificates: Vec<CertificateDer<'static>> = rustls_pemfile_certs(&mut reader);
                roots.add_parsable_certificates(certificates);
            }
        }
        Trust {
            roots: Arc::new(roots),
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        }
    }

    fn connector(&self) -> Result<(TlsConnector, Arc<Recording>), String> {
        let inner =
            WebPkiServerVerifier::builder_with_provider(self.roots.clone(), self.provider.clone())
                .build()
                .map_err(|error| format!("cannot build the certificate verifier: {error}"))?;
        let recording = Arc::new(Recording {
            inner,
            seen: Mutex::new(None),
        });
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(recording.clone())
            .with_no_client_auth();
        Ok((TlsConnector::from(Arc::new(config)), recording))
    }
}

/// Certificates from PEM text (`-----BEGIN CERTIFICATE-----` blocks).
fn rustls_pemfile_certs(reader: &mut &[u8]) -> Vec<CertificateDer<'static>> {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(reader);
    let mut certificates = Vec::new();
    let mut inside = false;
    let mut body = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            inside = true;
            body.clear();
        } else if line == "-----END CERTIFICATE-----" {
            inside = false;
            if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body.as_bytes()) {
                certificates.push(CertificateDer::from(der));
            }
        } else if inside {
            body.push_str(line);
        }
    }
    certificates
}

/// The chain a server sent and the verifier's complaint, if any.
type Seen = (Vec<Vec<u8>>, Option<String>);

/// A verifier that lets every handshake finish and remembers the chain
/// and what the real verifier said about it.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<Seen>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .err()
            .map(|error| error.to_string());
        let mut chain = vec![end_entity.to_vec()];
        chain.extend(intermediates.iter().map(|certificate| certificate.to_vec()));
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some((chain, verdict));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

async fn step<T>(
    what: &str,
    future: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(STEP_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(format!("{what}: {error}")),
        Err(_) => Err(format!(
            "{what}: no answer within {} s",
            STEP_TIMEOUT.as_secs()
        )),
    }
}

pub async fn connect(address: SocketAddr) -> Result<TcpStream, String> {
    step(
        &format!("connect to {address}"),
        TcpStream::connect(address),
    )
    .await
}

/// An SMTP conversation over any stream.
pub struct Smtp<S> {
    stream: BufReader<S>,
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Smtp<S> {
    pub fn new(stream: S) -> Smtp<S> {
        Smtp {
            stream: BufReader::new(stream),
        }
    }

    pub async fn reply(&mut self) -> Result<Reply, String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let read = step("read an SMTP reply", self.stream.read_line(&mut line)).await?;
            if read == 0 {
                return Err("the server closed the connection".to_owned());
            }
            let (code, more, text) = parse_line(&line)
                .ok_or_else(|| format!("not an SMTP reply: {}", line.trim_end()))?;
            lines.push(text);
            if !more {
                return Ok(Reply { code, lines });
            }
        }
    }

    pub async fn command(&mut self, command: &str) -> Result<Reply, String> {
        step("send an SMTP command", async {
            self.stream
                .get_mut()
                .write_all(format!("{command}\r\n").as_bytes())
                .await?;
            self.stream.get_mut().flush().await
        })
        .await?;
        self.reply().await
    }

    pub fn into_inner(self) -> S {
        self.stream.into_inner()
    }
}

/// Port 25's greeting at `address` (the outbound test).
pub async fn greeting(address: SocketAddr) -> Result<Reply, String> {
    let mut smtp = Smtp::new(connect(address).await?);
    let reply = smtp.reply().await;
    let _ = smtp.command("QUIT").await;
    reply
}

/// Greeting and EHLO without TLS.
pub async fn ehlo(address: SocketAddr) -> Result<(Smtp<TcpStream>, Reply), String> {
    let mut smtp = Smtp::new(connect(address).await?);
    let greeting = smtp.reply().await?;
    if greeting.code != 220 {
        return Err(format!("greeting: {}", greeting.text()));
    }
    let ehlo = smtp.command(&format!("EHLO {EHLO_NAME}")).await?;
    if ehlo.code != 250 {
        return Err(format!("EHLO: {}", ehlo.text()));
    }
    Ok((smtp, ehlo))
}

/// Tries to relay: the null sender, then a recipient at a foreign domain;
/// never sends DATA.
pub async fn relay(address: SocketAddr, recipient: &str) -> Result<(Reply, Option<Reply>), String> {
    let (mut smtp, _) = ehlo(address).await?;
    let mail = smtp.command("MAIL FROM:<>").await?;
    let rcpt = if mail.code == 250 {
        Some(smtp.command(&format!("RCPT TO:<{recipient}>")).await?)
    } else {
        None
    };
    let _ = smtp.command("QUIT").await;
    Ok((mail, rcpt))
}

/// How the TLS session begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsStart {
    Implicit,
    SmtpStartTls,
}

/// A handshake with `host` as SNI; the chain and verdict are recorded.
pub async fn handshake(
    trust: &Trust,
    address: SocketAddr,
    host: &str,
    start: TlsStart,
) -> Result<Served, String> {
    let (_, served) = tls_stream(trust, address, host, start).await?;
    Ok(served)
}

async fn tls_stream(
    trust: &Trust,
    address: SocketAddr,
    host: &str,
    start: TlsStart,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, Served), String> {
    let tcp = match start {
        TlsStart::Implicit => connect(address).await?,
        TlsStart::SmtpStartTls => {
            let (mut smtp, ehlo) = ehlo(address).await?;
            if !ehlo.offers("STARTTLS") {
                return Err("STARTTLS is not offered".to_owned());
            }
            let reply = smtp.command("STARTTLS").await?;
            if reply.code != 220 {
                return Err(format!("STARTTLS: {}", reply.text()));
            }
            smtp.into_inner()
        }
    };
    let (connector, recording) = trust.connector()?;
    let name =
        ServerName::try_from(host.to_owned()).map_err(|error| format!("`{host}`: {error}"))?;
    let stream = step("TLS handshake", connector.connect(name, tcp)).await?;
    let protocol = stream
        .get_ref()
        .1
        .protocol_version()
        .map(|version| match version {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default();
    let (chain, chain_error) = recording
        .seen
        .lock()
        .ok()
        .and_then(|mut seen| seen.take())
        .unwrap_or_default();
    Ok((
        stream,
        Served {
            chain,
            chain_error,
            protocol,
        },
    ))
}

/// `GET https://host/path` at `address`; the body when the status is 200.
pub async fn https_get(
    trust: &Trust,
    address: SocketAddr,
    host: &str,
    path: &str,
) -> Result<(String, Served), String> {
    let (mut stream, served) = tls_stream(trust, address, host, TlsStart::Implicit).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mailctl-doctor\r\nConnection: close\r\n\r\n");
    step(
        "send the HTTP request",
        stream.write_all(request.as_bytes()),
    )
    .await?;
    let mut response = Vec::new();
    // A TLS close without close_notify still leaves the body read.
    let _ = step("read the HTTP response", stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("no complete HTTP response")?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("HTTP status `{status}`"));
    }
    let chunked = head.lines().any(|line| {
        line.to_ascii_lowercase().starts_with("transfer-encoding:")
            && line.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((body, served))
}

/// Decodes an HTTP/1.1 chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        if size == 0 {
            break;
        }
        out.push_str(rest.get(..size).unwrap_or(rest));
        body = rest.get(size + 2..).unwrap_or("");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }

    #[test]
    fn pem_certificates() {
        let (certificate, _) = crate::tls::self_signed(&["mail.example.org".to_owned()]).unwrap();
        let mut bytes = certificate.as_bytes();
        assert_eq!(rustls_pemfile_certs(&mut bytes).len(), 1);
    }
}
