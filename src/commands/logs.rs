//! `mailctl logs [SERVICE] [-f] [--tail N]`: a service's container log on
//! stdout as Docker keeps it, or every service's with a `service | ` prefix
//! (interleaved as lines arrive when following).

use std::io::Write;

use futures_util::stream::{select_all, StreamExt};

use super::Global;
use crate::cli::LogsArgs;
use crate::docker::{self, Docker, LogChunk};
use crate::error::user_error;
use crate::project::Project;
use crate::stack::{container_for, desired_stack, unknown_service};

pub fn run(global: &Global, args: &LogsArgs) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let config = project.load_config()?;
    let spec = desired_stack(&project, &config)?;
    let services: Vec<&crate::spec::ServiceSpec> = match &args.service {
        Some(name) => vec![spec
            .service(name)
            .ok_or_else(|| unknown_service(name, &spec))?],
        None => spec.services.iter().collect(),
    };
    docker::block_on(async {
        let docker = Docker::connect().await?;
        let observed = docker.observe(&spec.project).await?;
        let mut targets = Vec::new();
        for service in &services {
            match container_for(&observed, service) {
                Some(container) => targets.push((service.name.clone(), container.id.clone())),
                None if args.service.is_some() => {
                    return Err(user_error(
                        format!("`{}` has no container", service.name),
                        "start the stack with `mailctl up`",
                    ))
                }
                None => {}
            }
        }
        if targets.is_empty() {
            return Err(user_error(
                format!("project `{}` has no containers", spec.project),
                "start the stack with `mailctl up`",
            ));
        }
        let prefixed = args.service.is_none();
        let width = targets
            .iter()
            .map(|(name, _)| name.len())
            .max()
            .unwrap_or(0);
        let mut stdout = std::io::stdout().lock();
        if args.follow || targets.len() == 1 {
            let streams = targets.iter().map(|(name, id)| {
                let name = name.clone();
                docker
                    .logs(id, args.follow, args.tail)
                    .map(move |chunk| (name.clone(), chunk))
            });
            let mut merged = select_all(streams);
            while let Some((name, chunk)) = merged.next().await {
                if !write_chunk(&mut stdout, prefixed.then_some((&name, width)), &chunk?) {
                    break;
                }
            }
        } else {
            for (name, id) in &targets {
                let mut stream = docker.logs(id, false, args.tail);
                while let Some(chunk) = stream.next().await {
                    if !write_chunk(&mut stdout, Some((name, width)), &chunk?) {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    })?
}

/// Writes a chunk, each line prefixed when asked. False when stdout is
/// closed (e.g. piped into `head`): then the command just ends.
fn write_chunk(out: &mut impl Write, prefix: Option<(&String, usize)>, chunk: &LogChunk) -> bool {
    let result = match prefix {
        None => out.write_all(chunk.text.as_bytes()),
        Some((name, width)) => chunk
            .text
            .lines()
            .try_for_each(|line| writeln!(out, "{name:<width$} | {line}")),
    };
    result.and_then(|()| out.flush()).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_every_line() {
        let mut out = Vec::new();
        let chunk = LogChunk {
            stderr: false,
            text: "one\ntwo\n".to_owned(),
        };
        assert!(write_chunk(&mut out, Some((&"smtp".to_owned(), 5)), &chunk));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "smtp  | one\nsmtp  | two\n"
        );
    }
}
