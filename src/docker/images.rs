//! Images through bollard: which of the stack's images are missing, building
//! mailctl's own from the embedded contexts (`crate::images`), pulling a
//! user's prebuilt override, with progress and, on failure, the failing
//! step's last output lines.

use std::collections::VecDeque;

use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;

use super::{daemon_message, failed, is_not_found, Docker};
use crate::error::user_error;
use crate::progress::Progress;
use crate::spec::StackSpec;

/// Lines of a failed step shown to the user.
const FAILED_STEP_LINES: usize = 20;

/// What an image needs before containers can use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageWork {
    /// Built by mailctl from its embedded Dockerfile.
    Build { service: String, reference: String },
    /// A prebuilt image (`images:` override) to pull.
    Pull { service: String, reference: String },
}

impl ImageWork {
    pub fn reference(&self) -> &str {
        match self {
            ImageWork::Build { reference, .. } | ImageWork::Pull { reference, .. } => reference,
        }
    }
}

impl std::fmt::Display for ImageWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageWork::Build { service, reference } => {
                write!(f, "build     {service:<9} {reference}")
            }
            ImageWork::Pull { service, reference } => {
                write!(f, "pull      {service:<9} {reference}")
            }
        }
    }
}

impl Docker {
    /// True when the daemon has an image with this reference.
    pub async fn image_exists(&self, reference: &str) -> anyhow::Result<bool> {
        match self.client.inspect_image(reference).await {
            Ok(_) => Ok(true),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(failed(error, format!("cannot inspect image `{reference}`"))),
        }
    }

    /// The images of `spec` that are not there yet, in service order.
    pub async fn missing_images(&self, spec: &StackSpec) -> anyhow::Result<Vec<ImageWork>> {
        let mut work = Vec::new();
        for service in &spec.services {
            let reference = &service.image.reference;
            if work
                .iter()
                .any(|item: &ImageWork| item.reference() == reference)
                || self.image_exists(reference).await?
            {
                continue;
            }
            work.push(match service.image.build {
                Some(_) => ImageWork::Build {
                    service: service.name.clone(),
                    reference: reference.clone(),
                },
                None => ImageWork::Pull {
                    service: service.name.clone(),
                    reference: reference.clone(),
                },
            });
        }
        Ok(work)
    }

    /// Builds or pulls each missing image, one after the other (so later
    /// builds reuse the layers the first one made).
    pub async fn ensure_images(
        &self,
        work: &[ImageWork],
        progress: &Progress,
    ) -> anyhow::Result<()> {
        for item in work {
            match item {
                ImageWork::Build { service, reference } => {
                    self.build(service, reference, progress).await?
                }
                ImageWork::Pull { service, reference } => {
                    self.pull(service, reference, progress).await?
                }
            }
        }
        Ok(())
    }

    /// Builds `service`'s image from the embedded context and tags it `reference`.
    pub async fn build(
        &self,
        service: &str,
        reference: &str,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        self.build_with(service, reference, progress, false).await
    }

    /// Builds `service`'s image without the build cache, so every `apt-get`
    /// step fetches Debian's current packages (`mailctl upgrade`).
    pub async fn build_fresh(
        &self,
        service: &str,
        reference: &str,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        self.build_with(service, reference, progress, true).await
    }

    async fn build_with(
        &self,
        service: &str,
        reference: &str,
        progress: &Progress,
        no_cache: bool,
    ) -> anyhow::Result<()> {
        let context = crate::images::context_tar(service)?;
        let dockerfile = crate::images::dockerfile(service);
        let options = BuildImageOptionsBuilder::new()
            .dockerfile(&dockerfile)
            .t(reference)
            .rm(true)
            .forcerm(true)
            .nocache(no_cache)
            .build();
        let task = progress.task(service);
        task.message(format!("building {reference}"));
        let mut stream =
            self.client
                .build_image(options, None, Some(bollard::body_full(context.into())));
        let mut step = String::from("(before the first step)");
        let mut recent: VecDeque<String> = VecDeque::new();
        let mut partial = String::new();
        // The daemon's last line; the stream can still end with a decoding
        // error after it ("bytes remaining on stream"), while the image is
        // built and tagged.
        let tagged_line = format!("Successfully tagged {reference}");
        let mut tagged = false;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    let Some(text) = info.stream else { continue };
                    partial.push_str(&text);
                    while let Some(newline) = partial.find('\n') {
                        let line: String = partial.drain(..=newline).collect();
                        let line = line.trim_end().to_owned();
                        tagged |= line == tagged_line;
                        if line.starts_with("Step ") {
                            step = line.clone();
                            recent.clear();
                            task.message(format!("building: {}", shorten(&line, 100)));
                        } else if !line.trim().is_empty() {
                            task.output(&line);
                            recent.push_back(line);
                            if recent.len() > FAILED_STEP_LINES {
                                recent.pop_front();
                            }
                        }
                    }
                }
                Err(error) if tagged => {
                    task.output(&format!(
                        "the build's output ended uncleanly after tagging: {}",
                        daemon_message(&error)
                    ));
                    break;
                }
                Err(error) => {
                    if !partial.trim().is_empty() {
                        recent.push_back(partial.trim_end().to_owned());
                    }
                    task.fail(format!("build failed at {}", shorten(&step, 80)));
                    return Err(build_error(
                        service,
                        reference,
                        &step,
                        &recent,
                        &daemon_message(&error),
                    ));
                }
            }
        }
        task.finish(format!("built {reference}"));
        Ok(())
    }

    /// Pulls a prebuilt image.
    pub async fn pull(
        &self,
        service: &str,
        reference: &str,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let task = progress.task(service);
        task.message(format!("pulling {reference}"));
        let options = CreateImageOptionsBuilder::new()
            .from_image(reference)
            .build();
        let mut stream = self.client.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    let detail = match (
                        info.progress_detail.as_ref().and_then(|d| d.current),
                        info.progress_detail.as_ref().and_then(|d| d.total),
                    ) {
                        (Some(current), Some(total)) if total > 0 => {
                            format!(" {}%", current * 100 / total)
                        }
                        _ => String::new(),
                    };
                    if let Some(status) = info.status {
                        task.output(&format!("{} {status}{detail}", info.id.unwrap_or_default()));
                    }
                }
                Err(error) => {
                    task.fail(format!("cannot pull {reference}"));
                    return Err(user_error(
                        format!("cannot pull image `{reference}` for `{service}`: {}", daemon_message(&error)),
                        format!(
                            "check the name under `images:` in mailctl.yaml and that the registry is reachable (`docker pull {reference}`); remove the override to let mailctl build `{service}` itself"
                        ),
                    ));
                }
            }
        }
        task.finish(format!("pulled {reference}"));
        Ok(())
    }
}

fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(limit.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// The error for a failed build: the step, its last output, and a hint.
fn build_error(
    service: &str,
    reference: &str,
    step: &str,
    recent: &VecDeque<String>,
    message: &str,
) -> anyhow::Error {
    let mut cause = format!("{step}\n{message}");
    if !recent.is_empty() {
        cause.push_str(&format!("\nlast {} line(s) of its output:", recent.len()));
        for line in recent {
            cause.push_str(&format!("\n  | {line}"));
        }
    }
    let base_missing = step.contains("FROM")
        && (message.contains("pull access denied")
            || message.contains("not found")
            || message.contains("no such host")
            || message.contains("manifest unknown")
            || message.contains("dial tcp"));
    let hint = if base_missing {
        "the base image `debian:bookworm-slim` is missing and no registry is reachable: create it with `compose/bootstrap-base-image.sh` (debootstrap + docker import), then run `mailctl up` again".to_owned()
    } else if message.contains("Temporary failure resolving")
        || recent
            .iter()
            .any(|line| line.contains("Temporary failure resolving"))
    {
        "the build cannot reach Debian's mirrors: check the host's network and DNS (the build runs `apt-get`), then run `mailctl up` again".to_owned()
    } else {
        format!("the Dockerfile is `compose/images/{service}/Dockerfile` (also under `generated/images/`); fix the failing step and run `mailctl up` again")
    };
    crate::error::attach(
        anyhow::anyhow!(cause).context(format!("cannot build image `{reference}` for `{service}`")),
        hint,
    )
}
