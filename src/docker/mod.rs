//! The Docker adapter: the only module that uses bollard. It connects to the
//! daemon (checking that it speaks API 1.41 or newer), builds images, ensures
//! the network and volumes, observes the project's containers, creates,
//! starts, stops and removes them, reads health and logs, runs commands in
//! them, and applies a `Plan`. Callers see plain values and `anyhow` errors
//! whose messages name the thing that failed and what to do.

mod apply;
mod archive;
mod containers;
pub mod deliveries;
pub mod guard;
mod images;
pub mod ports;
mod resources;

use std::future::Future;

use crate::error::user_error;

pub use apply::{apply, reload, wait_healthy, ApplyOptions, ServiceFailure};
pub use archive::{HelperMount, HELPER_LABEL};
pub use containers::{ContainerDetails, ExecOutput, LogChunk, LogStream};
pub use images::ImageWork;
pub use resources::ProjectResources;

/// The oldest Docker Engine API mailctl talks to (Docker 20.10).
pub const MINIMUM_API: (usize, usize) = (1, 41);

/// Where the daemon is when `DOCKER_HOST` is not set.
const DEFAULT_ENDPOINT: &str = "unix:///var/run/docker.sock";

/// A connection to the Docker daemon.
#[derive(Debug, Clone)]
pub struct Docker {
    client: bollard::Docker,
    endpoint: String,
}

/// Runs `future` on a fresh tokio runtime: the commands are synchronous and
/// only the Docker work is async.
pub fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| anyhow::anyhow!("cannot start the async runtime: {error}"))?;
    Ok(runtime.block_on(future))
}

impl Docker {
    /// Connects to the daemon named by `DOCKER_HOST` (default: the local
    /// socket) and agrees on an API version.
    pub async fn connect() -> anyhow::Result<Docker> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|host| !host.trim().is_empty());
        let endpoint = host.clone().unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let connected = match host.as_deref() {
            None => bollard::Docker::connect_with_local_defaults(),
            Some(host) if host.starts_with("unix://") => bollard::Docker::connect_with_local_defaults(),
            Some(host) if host.starts_with("tcp://") || host.starts_with("http://") => {
                bollard::Docker::connect_with_http_defaults()
            }
            Some(other) => {
                return Err(user_error(
                    format!("`DOCKER_HOST={other}` uses a scheme mailctl cannot connect with"),
                    "use a local socket (`unix:///var/run/docker.sock`) or `tcp://HOST:PORT`; for SSH, forward the socket (`ssh -L`) and point `DOCKER_HOST` at it",
                ))
            }
        };
        let client = match connected {
            Ok(client) => client,
            Err(error) => return Err(unreachable(error, &endpoint)),
        };
        let client = match client.negotiate_version().await {
            Ok(client) => client,
            Err(error) => return Err(unreachable(error, &endpoint)),
        };
        let version = client.client_version();
        if (version.major_version, version.minor_version) < MINIMUM_API {
            return Err(user_error(
                format!(
                    "the Docker daemon at `{endpoint}` speaks API {}.{}; mailctl needs {}.{} or newer (Docker 20.10)",
                    version.major_version, version.minor_version, MINIMUM_API.0, MINIMUM_API.1
                ),
                "upgrade Docker (Debian: `apt-get install docker.io` from bookworm or newer)",
            ));
        }
        Ok(Docker { client, endpoint })
    }

    /// Where the daemon is, as `DOCKER_HOST` would name it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The API version agreed with the daemon, e.g. `1.41`.
    pub fn api_version(&self) -> String {
        let version = self.client.client_version();
        format!("{}.{}", version.major_version, version.minor_version)
    }
}

/// The error for a daemon that cannot be reached, with what to check.
fn unreachable(error: bollard::errors::Error, endpoint: &str) -> anyhow::Error {
    let socket = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    let permission = io_error_kind(&error) == Some(std::io::ErrorKind::PermissionDenied);
    let missing = matches!(error, bollard::errors::Error::SocketNotFoundError(_))
        || io_error_kind(&error) == Some(std::io::ErrorKind::NotFound);
    let hint = if permission {
        format!(
            "you may not use `{socket}`: run mailctl as root, or add your user to the `docker` group (`usermod -aG docker $USER`, then log in again)"
        )
    } else if missing {
        format!(
            "nothing listens at `{socket}`: is the Docker daemon installed and running (`systemctl start docker`)? If it listens elsewhere, set `DOCKER_HOST`"
        )
    } else {
        "is the Docker daemon running (`systemctl status docker`)? Check `DOCKER_HOST`, and that you may use its socket (root or the `docker` group)".to_owned()
    };
    crate::error::attach(
        anyhow::Error::new(error)
            .context(format!("cannot reach the Docker daemon at `{endpoint}`")),
        hint,
    )
}

/// The I/O error kind somewhere in `error`'s chain.
fn io_error_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(link) = current {
        if let Some(io) = link.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        current = link.source();
    }
    None
}

/// True when Docker answered 404 (no such container, image, network or volume).
fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// True when Docker answered 409 (conflict: name taken, in use).
fn is_conflict(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// The daemon's own message for a failed request, without bollard's prefix.
fn daemon_message(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

/// Wraps a bollard error with what mailctl was doing.
fn failed(error: bollard::errors::Error, doing: impl Into<String>) -> anyhow::Error {
    anyhow::anyhow!(daemon_message(&error)).context(doing.into())
}
