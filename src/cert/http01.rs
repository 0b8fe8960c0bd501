//! HTTP-01 answers (RFC 8555 §8.3): files under
//! `/.well-known/acme-challenge/`. While the stack runs, `web` serves them
//! from its ACME webroot volume (written with `docker exec`, so no container
//! changes); when it is down, a temporary listener on the configured HTTP
//! address does. Before ordering, `probe` checks each name resolves and a
//! probe file comes back through that same path.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::resolve::Resolver;
use crate::config::Config;
use crate::docker::Docker;
use crate::error::user_error;

/// The webroot inside `web`, as `templates/web/nginx.conf.tera` serves it.
pub const WEBROOT: &str = "/var/www/acme/.well-known/acme-challenge";

type Files = Arc<Mutex<HashMap<String, String>>>;

/// Where challenge files go.
pub enum Responder {
    /// The running `web` container.
    Web { docker: Docker, container: String },
    /// A temporary listener of our own (the stack is down).
    Listener {
        files: Files,
        tasks: Vec<tokio::task::JoinHandle<()>>,
        addresses: Vec<SocketAddr>,
    },
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Responder::Listener { tasks, .. } = self {
            for task in tasks {
                task.abort();
            }
        }
    }
}

/// True for a token that is safe as a file name (base64url, RFC 8555 §8.1).
pub fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

impl Responder {
    /// The running `web` container, or else a temporary listener on the
    /// configured HTTP addresses.
    pub async fn start(config: &Config) -> anyhow::Result<Responder> {
        if let Ok(docker) = Docker::connect().await {
            let observed = docker.observe(&config.name).await?;
            if let Some(web) = observed.containers.iter().find(|container| {
                container.service.as_deref() == Some("web") && container.state.is_up()
            }) {
                return Ok(Responder::Web {
                    container: web.name.clone(),
                    docker,
                });
            }
        }
        let Some(port) = config.ports.http.number() else {
            return Err(user_error(
                "HTTP-01 needs port 80, but `ports.http` is off",
                "publish it again (`ports: {http: 80}`) or use `tls.challenge: dns-01`",
            ));
        };
        let files: Files = Arc::default();
        let mut tasks = Vec::new();
        let mut addresses = Vec::new();
        for address in &config.network.bind {
            let socket = SocketAddr::new(*address, port);
            let listener = tokio::net::TcpListener::bind(socket).await.map_err(|error| {
                user_error(
                    format!("cannot listen on {socket} to answer the HTTP-01 challenges: {error}"),
                    if error.kind() == std::io::ErrorKind::PermissionDenied {
                        "ports below 1024 need root (or CAP_NET_BIND_SERVICE); run `mailctl cert issue` as root".to_owned()
                    } else {
                        format!("something else listens on port {port}: stop it, or start the stack (`mailctl up`) so `web` answers")
                    },
                )
            })?;
            addresses.push(socket);
            let files = files.clone();
            tasks.push(tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let files = files.clone();
                    tokio::spawn(async move {
                        let _ = answer(stream, files).await;
                    });
                }
            }));
        }
        Ok(Responder::Listener {
            files,
            tasks,
            addresses,
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Responder::Web { container, .. } => {
                format!("`web` ({container}) from its ACME webroot")
            }
            Responder::Listener { addresses, .. } => format!(
                "a temporary listener on {} (the stack is not running)",
                addresses
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Serves `content` at `/.well-known/acme-challenge/<token>`.
    pub async fn put(&self, token: &str, content: &str) -> anyhow::Result<()> {
        if !valid_token(token) {
            anyhow::bail!("the ACME server sent a token that is not base64url: `{token}`");
        }
        match self {
            Responder::Web { docker, container } => {
                let script = format!(
                    "set -e; d={WEBROOT}; mkdir -p \"$d\"; printf %s \"$2\" >\"$d/.$1.tmp\"; chmod 0644 \"$d/.$1.tmp\"; mv -f \"$d/.$1.tmp\" \"$d/$1\""
                );
                let output = docker
                    .exec(container, &["sh", "-c", &script, "sh", token, content])
                    .await?;
                if output.exit_code != 0 {
                    anyhow::bail!(
                        "cannot write the challenge file in `{container}`: {}{}",
                        output.stdout,
                        output.stderr
                    );
                }
            }
            Responder::Listener { files, .. } => {
                if let Ok(mut files) = files.lock() {
                    files.insert(token.to_owned(), content.to_owned());
                }
            }
        }
        Ok(())
    }

    /// Removes the files of `tokens`.
    pub async fn remove(&self, tokens: &[String]) -> anyhow::Result<()> {
        let tokens: Vec<&str> = tokens
            .iter()
            .map(String::as_str)
            .filter(|token| valid_token(token))
            .collect();
        if tokens.is_empty() {
            return Ok(());
        }
        match self {
            Responder::Web { docker, container } => {
                let script = format!("cd {WEBROOT} && rm -f -- \"$@\"");
                let mut command = vec!["sh", "-c", script.as_str(), "sh"];
                command.extend(tokens.iter().copied());
                let output = docker.exec(container, &command).await?;
                if output.exit_code != 0 {
                    anyhow::bail!(
                        "cannot remove challenge files in `{container}`: {}{}",
                        output.stdout,
                        output.stderr
                    );
                }
            }
            Responder::Listener { files, .. } => {
                if let Ok(mut files) = files.lock() {
                    for token in tokens {
                        files.remove(token);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Answers one HTTP/1.x request on the temporary listener.
async fn answer(mut stream: tokio::net::TcpStream, files: Files) -> anyhow::Result<()> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    let read = async {
        loop {
            let count = stream.read(&mut buffer).await?;
            if count == 0 {
                break;
            }
            request.extend_from_slice(&buffer[..count]);
            if request.windows(4).any(|window| window == b"\r\n\r\n") || request.len() > 8192 {
                break;
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), read).await??;
    let text = String::from_utf8_lossy(&request);
    let path = text
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or_default();
    let body = path
        .strip_prefix("/.well-known/acme-challenge/")
        .and_then(|token| files.lock().ok()?.get(token).cloned());
    let response = match body {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_owned(),
    };
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

/// A plain `GET` of `path` at `address` with `Host: host`: status and body.
async fn http_get(address: SocketAddr, host: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mailctl\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        (&mut stream)
            .take(64 * 1024)
            .read_to_end(&mut response)
            .await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within 10 s"))??;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("the answer is not HTTP"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Checks, for every name, that it resolves and that a probe file placed
/// through `responder` comes back over HTTP on `port` at each address —
/// the way the ACME server will fetch the challenge.
pub async fn probe(
    responder: &Responder,
    resolver: &Resolver,
    names: &[String],
    port: u16,
) -> anyhow::Result<()> {
    let token = format!("mailctl-probe-{}", rand::random::<u64>());
    let content = format!("mailctl probe {}", rand::random::<u64>());
    responder.put(&token, &content).await?;
    let result = probe_names(resolver, names, port, &token, &content).await;
    responder.remove(std::slice::from_ref(&token)).await?;
    result
}

async fn probe_names(
    resolver: &Resolver,
    names: &[String],
    port: u16,
    token: &str,
    content: &str,
) -> anyhow::Result<()> {
    let path = format!("/.well-known/acme-challenge/{token}");
    for name in names {
        let addresses: Vec<IpAddr> = resolver.addresses(name).await?;
        if addresses.is_empty() {
            return Err(user_error(
                format!(
                    "`{name}` does not resolve ({} finds no A or AAAA record), so the ACME server cannot reach it",
                    resolver.describe()
                ),
                format!(
                    "publish an A record for `{name}` pointing at this server (`mailctl dns` lists every record), wait for it to propagate, and try again; or turn the name off under `tls.names`"
                ),
            ));
        }
        for address in addresses {
            let socket = SocketAddr::new(address, port);
            let url = format!("http://{name}:{port}{path} (at {address})");
            match http_get(socket, name, &path).await {
                Ok((200, body)) if body.trim_end() == content => {}
                Ok((status, body)) => {
                    return Err(user_error(
                        format!(
                            "the probe file did not come back from {url}: HTTP {status}{}",
                            if status == 200 {
                                format!(", other content ({} bytes)", body.len())
                            } else {
                                String::new()
                            }
                        ),
                        format!(
                            "`{name}` resolves to {address}, but what answers there is not this server's `web`: does the A record point elsewhere (an old host, a proxy or CDN that does not pass /.well-known/acme-challenge/)?"
                        ),
                    ));
                }
                Err(error) => {
                    return Err(user_error(
                        format!("cannot fetch the probe file from {url}: {error:#}"),
                        format!(
                            "is port {port} open in the firewall and does `{name}`'s A record ({address}) point at this server? Without port 80, use `tls.challenge: dns-01`"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn tokens_are_safe_file_names() {
        assert!(valid_token("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"));
        assert!(!valid_token("../etc/passwd"));
        assert!(!valid_token("a b"));
        assert!(!valid_token(""));
    }

    #[test]
    fn the_temporary_listener_answers() {
        crate::docker::block_on(async {
            let mut config = crate::config::parse_str(
                "version: 1\nhostname: mail.example.com\nprimary_domain: example.com\ndomains:\n  - name: example.com\n",
                std::path::Path::new("mailctl.yaml"),
            )
            .unwrap();
            let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = free.local_addr().unwrap().port();
            drop(free);
            config.network.bind = vec![IpAddr::from([127, 0, 0, 1])];
            config.ports.http = crate::config::Port(Some(port));
            config.name = format!("mailctl-http01-test-{}", std::process::id());
            let responder = Responder::start(&config).await.unwrap();
            assert!(matches!(responder, Responder::Listener { .. }));
            responder.put("token_1", "token_1.thumb").await.unwrap();
            let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let (status, body) = http_get(address, "x", "/.well-known/acme-challenge/token_1")
                .await
                .unwrap();
            assert_eq!((status, body.as_str()), (200, "token_1.thumb"));
            responder.remove(&["token_1".to_owned()]).await.unwrap();
            let (status, _) = http_get(address, "x", "/.well-known/acme-challenge/token_1")
                .await
                .unwrap();
            assert_eq!(status, 404);
        })
        .unwrap();
    }
}
