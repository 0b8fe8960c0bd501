//! `mailctl user import` and `mailctl import mailu`: read the file, let
//! `crate::import` plan it against the configuration, hash the new
//! passwords in parallel, create DKIM keys for new domains, then save and
//! apply once. With an invalid row and no `--skip-invalid`, nothing changes.

use std::path::Path;

use rayon::prelude::*;

use super::Global;
use crate::cli::{ImportCommand, ImportFormat};
use crate::config::Config;
use crate::error::user_error;
use crate::import::{self, FileError, Format, Password, Plan};
use crate::project::Project;
use crate::{dkim, live, output, passwords};

/// An import file larger than this is refused before reading (100,000
/// mailboxes in CSV take about 15 MiB).
const MAX_IMPORT_BYTES: u64 = 64 * 1024 * 1024;

/// Length of the random, discarded password behind an unusable hash.
const UNUSABLE_PASSWORD_CHARS: usize = 40;

pub fn run(global: &Global, command: &ImportCommand) -> anyhow::Result<()> {
    match command {
        ImportCommand::Mailu { file, skip_invalid } => {
            let project = Project::new(&global.dir)?;
            let _lock = project.lock()?;
            let config = project.load_config()?;
            let text = read(file)?;
            let plan =
                import::plan_mailu(&config, &text).map_err(|error| file_error(file, error))?;
            apply(global, &project, config, file, plan, *skip_invalid)
        }
    }
}

/// `mailctl user import`.
pub fn users(
    global: &Global,
    file: &Path,
    format: Option<ImportFormat>,
    skip_invalid: bool,
) -> anyhow::Result<()> {
    let project = Project::new(&global.dir)?;
    let _lock = project.lock()?;
    let config = project.load_config()?;
    let format = match format {
        Some(ImportFormat::Csv) => Format::Csv,
        Some(ImportFormat::Yaml) => Format::Yaml,
        None => Format::from_path(file).ok_or_else(|| {
            user_error(
                format!(
                    "cannot tell the format of `{}` from its name",
                    file.display()
                ),
                "name it `.csv`, `.yaml` or `.yml`, or pass `--format csv` or `--format yaml`",
            )
        })?,
    };
    let text = read(file)?;
    let plan =
        import::plan_users(&config, format, &text).map_err(|error| file_error(file, error))?;
    apply(global, &project, config, file, plan, skip_invalid)
}

fn read(file: &Path) -> anyhow::Result<String> {
    let metadata = fs_err::metadata(file)?;
    if metadata.len() > MAX_IMPORT_BYTES {
        return Err(user_error(
            format!(
                "`{}` is {} bytes, over the limit of {MAX_IMPORT_BYTES} bytes",
                file.display(),
                metadata.len()
            ),
            "split it into several files and import them one after the other",
        ));
    }
    let bytes = fs_err::read(file)?;
    String::from_utf8(bytes).map_err(|_| {
        user_error(
            format!("`{}` is not UTF-8 text", file.display()),
            "save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
        )
    })
}

fn file_error(file: &Path, error: FileError) -> anyhow::Error {
    let place = match error.line {
        Some(line) => format!("{}:{line}", file.display()),
        None => file.display().to_string(),
    };
    user_error(
        format!("cannot import `{place}`: {}", error.message),
        error.hint,
    )
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// All rejected rows as one error: nothing was imported.
fn rejected_error(file: &Path, plan: &Plan) -> anyhow::Error {
    let mut message = format!(
        "`{}` has {}; nothing was imported",
        file.display(),
        plural(plan.rejected_rows(), "invalid row", "invalid rows")
    );
    for rejected in &plan.rejected {
        message.push_str(&format!(
            "\n  --> {}:{}: {}",
            file.display(),
            rejected.line,
            rejected.message
        ));
        if let Some(hint) = &rejected.hint {
            message.push_str(&format!("\n      hint: {hint}"));
        }
    }
    user_error(
        message,
        "fix these rows and run the command again, or pass `--skip-invalid` to import the valid ones",
    )
}

fn apply(
    global: &Global,
    project: &Project,
    mut config: Config,
    file: &Path,
    plan: Plan,
    skip_invalid: bool,
) -> anyhow::Result<()> {
    if !plan.rejected.is_empty() && !skip_invalid {
        return Err(rejected_error(file, &plan));
    }
    let name = file.display();
    for rejected in &plan.rejected {
        output::warning(format!(
            "skipped {name}:{}: {}",
            rejected.line, rejected.message
        ));
    }
    for note in &plan.notes {
        output::warning(format!("{name}:{}: {}", note.line, note.message));
    }
    let skipped = plan.rejected_rows();
    let resets: Vec<(String, String, String)> = plan
        .resets()
        .filter_map(|new| match &new.password {
            Password::Reset { scheme, reason } => {
                Some((new.mailbox.address.clone(), scheme.clone(), reason.clone()))
            }
            _ => None,
        })
        .collect();
    let counts = (plan.domains.len(), plan.mailboxes.len(), plan.aliases.len());

    if !plan.is_empty() {
        let Plan {
            domains,
            mut mailboxes,
            aliases,
            ..
        } = plan;
        let to_hash = mailboxes
            .iter()
            .filter(|new| new.password != Password::Hashed)
            .count();
        if to_hash > 0 {
            output::status(format!(
                "hashing {} with Argon2id…",
                plural(to_hash, "password", "passwords")
            ));
        }
        // Argon2id is the slow part: spread it over every core.
        let progress = crate::progress::Progress::new();
        let counter = progress.counter("hashing", to_hash as u64);
        let hashes = mailboxes
            .par_iter()
            .map(|new| {
                let hash = match &new.password {
                    Password::Hashed => return Ok(None),
                    Password::Plain(password) => passwords::hash_argon2id(password),
                    Password::Reset { .. } => {
                        passwords::hash_argon2id(&passwords::generate(UNUSABLE_PASSWORD_CHARS))
                    }
                };
                counter.inc();
                hash.map(Some)
            })
            .collect::<anyhow::Result<Vec<Option<String>>>>();
        counter.finish();
        let hashes = hashes?;
        for (new, hash) in mailboxes.iter_mut().zip(hashes) {
            if let Some(hash) = hash {
                new.mailbox.password_hash = hash;
            }
        }
        for domain in domains {
            let mut domain = domain.value;
            let selectors = crate::dkim::new_selectors();
            for selector in &selectors {
                dkim::ensure_key(
                    &project.dkim_key_path(&domain.name, &selector.selector),
                    selector.algorithm,
                )?;
            }
            domain.dkim = selectors;
            config.domains.push(domain);
        }
        config
            .mailboxes
            .extend(mailboxes.into_iter().map(|new| new.mailbox));
        config
            .aliases
            .extend(aliases.into_iter().map(|alias| alias.value));
        live::apply_change(project, &config)?;
    }

    for (address, scheme, reason) in &resets {
        output::warning(format!(
            "`{address}` is imported disabled: its {scheme} hash cannot be used\n  \
             why: {reason}\n  \
             password must be reset: `mailctl user passwd {address}`, then `mailctl user enable {address}`"
        ));
    }
    let (domains, mailboxes, aliases) = counts;
    let mut imported = Vec::new();
    if domains > 0 {
        imported.push(plural(domains, "domain", "domains"));
    }
    imported.push(plural(mailboxes, "mailbox", "mailboxes"));
    if aliases > 0 {
        imported.push(plural(aliases, "alias", "aliases"));
    }
    let mut summary = format!(
        "imported {}, skipped {}",
        imported.join(", "),
        plural(skipped, "invalid row", "invalid rows")
    );
    if !resets.is_empty() {
        summary.push_str(&format!(
            "; {} must have {} password reset",
            plural(resets.len(), "mailbox", "mailboxes"),
            if resets.len() == 1 { "its" } else { "their" }
        ));
    }
    output::status(summary);
    if domains > 0 {
        output::status("publish the new domains' DNS records: `mailctl dns DOMAIN` shows them");
    }
    if global.json {
        output::json(&serde_json::json!({
            "imported": {"domains": domains, "mailboxes": mailboxes, "aliases": aliases},
            "skipped": skipped,
            "password_reset": resets.iter().map(|(address, _, _)| address).collect::<Vec<_>>(),
        }))?;
    }
    Ok(())
}
