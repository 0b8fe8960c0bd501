//! Rendering: the pure step from config and `StackSpec` to every generated
//! file (compose file, each service's configuration, the image build
//! contexts), and the separate step that writes them, only when changed.
//! The spec is built from the config first; the hashes of the rendered
//! files are then joined into it, and the compose file is written from
//! that. tera is used here and nowhere else.

mod context;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use include_dir::{include_dir, Dir, DirEntry};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::files::{self, WriteOutcome};
use crate::images;
use crate::secrets::Secrets;
use crate::service::Service;
use crate::spec::StackSpec;

pub use context::{build_context, TemplateContext};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");
static COMPOSE_TEMPLATE: &str = include_str!("../../compose/docker-compose.yml.tera");

/// Generated files are private: they hold password hashes and keys' paths.
const FILE_MODE: u32 = 0o600;
const EXECUTABLE_MODE: u32 = 0o700;

/// One generated file, relative to `generated/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub mode: u32,
}

/// Users' own snippets from `overrides/<service>/`, by service and path.
pub type Overrides = BTreeMap<String, BTreeMap<PathBuf, String>>;

/// Everything rendering needs, read beforehand so that rendering is pure.
pub struct RenderInput<'a> {
    pub config: &'a Config,
    pub secrets: &'a Secrets,
    pub root: &'a Path,
    pub overrides: &'a Overrides,
}

/// The rendered stack: files plus the spec they describe, with each
/// service's definition and files hashes in its labels.
pub struct Rendered {
    pub files: Vec<RenderedFile>,
    pub spec: StackSpec,
}

/// Renders every file. Pure: the same input gives the same bytes.
pub fn render(input: &RenderInput) -> anyhow::Result<Rendered> {
    let spec = StackSpec::build(input.config, input.root)?;
    let context = build_context(input)?;
    // tera copies the whole context on every render, so each template gets
    // only the top-level keys it names (5,000 mailboxes would otherwise be
    // copied once per file and per domain).
    let full = serde_json::to_value(&context).context("cannot prepare the template context")?;
    let serde_json::Value::Object(full) = full else {
        anyhow::bail!("the template context is not an object");
    };
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![".xml", ".html"]);
    let mut sources = Vec::new();
    collect_templates(&TEMPLATES, &mut sources);
    for (name, source) in &sources {
        tera.add_raw_template(name, source)
            .with_context(|| format!("template `{name}` does not parse"))?;
    }
    tera.add_raw_template("docker-compose.yml", COMPOSE_TEMPLATE)
        .context("the compose template does not parse")?;

    let mut files = Vec::new();
    for (name, source) in &sources {
        let Some(output) = name.strip_suffix(".tera") else {
            continue;
        };
        let tera_context = &context_for(source, &full)?;
        if output.contains("{domain}") {
            for domain in &context.domains {
                let mut per_domain = tera_context.clone();
                per_domain.insert("domain", domain);
                let text = render_one(&tera, name, &per_domain)?;
                let path = output.replace("{domain}", &domain.name);
                files.push(config_file(&path, text));
            }
        } else {
            let text = render_one(&tera, name, tera_context)?;
            files.push(config_file(output, text));
        }
    }
    for mailbox in &input.config.mailboxes {
        if let Some(script) = crate::sieve::user_script(mailbox) {
            files.push(config_file(
                &format!("imap/sieve/users/{}.sieve", mailbox.address),
                script,
            ));
        }
    }
    apply_overrides(&mut files, input.overrides);

    let spec = spec.with_file_hashes(&service_hashes(&files))?;
    let compose_context = tera::Context::from_serialize(compose_view(&spec, input.root))
        .context("cannot prepare the compose template context")?;
    let compose = render_one(&tera, "docker-compose.yml", &compose_context)?;
    files.push(RenderedFile {
        path: PathBuf::from("docker-compose.yml"),
        contents: compose.into_bytes(),
        mode: FILE_MODE,
    });
    files.push(RenderedFile {
        path: PathBuf::from(".env"),
        contents: format!("COMPOSE_PROJECT_NAME={}\n", spec.project).into_bytes(),
        mode: FILE_MODE,
    });
    files.extend(build_context_files(&spec)?);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Rendered { files, spec })
}

/// The spec as the compose file shows it: bind sources relative to
/// `generated/`, so the project directory can move.
fn compose_view(spec: &StackSpec, root: &Path) -> StackSpec {
    let generated = root.join("generated");
    let mut view = spec.clone();
    for service in &mut view.services {
        for mount in &mut service.mounts {
            if let crate::spec::MountSpec::Bind { source, .. } = mount {
                if let Ok(inside) = source.strip_prefix(&generated) {
                    *source = Path::new(".").join(inside);
                } else if let Ok(beside) = source.strip_prefix(root) {
                    *source = Path::new("..").join(beside);
                }
            }
        }
    }
    view
}

/// The part of the context that `source` refers to: every top-level key
/// whose name appears in the template text.
fn context_for(
    source: &str,
    full: &serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<tera::Context> {
    let selected: serde_json::Map<String, serde_json::Value> = full
        .iter()
        .filter(|(key, _)| source.contains(key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    tera::Context::from_value(serde_json::Value::Object(selected))
        .context("cannot prepare the template context")
}

fn render_one(tera: &tera::Tera, name: &str, context: &tera::Context) -> anyhow::Result<String> {
    tera.render(name, context).map_err(|error| {
        // tera's top-level message is only "Failed to render"; the cause is below.
        let mut message = format!("cannot render `{name}`");
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        anyhow::anyhow!(message)
    })
}

fn collect_templates(directory: &Dir<'static>, out: &mut Vec<(String, String)>) {
    for entry in directory.entries() {
        match entry {
            DirEntry::Dir(child) => collect_templates(child, out),
            DirEntry::File(file) => {
                if let Some(text) = file.contents_utf8() {
                    out.push((file.path().to_string_lossy().into_owned(), text.to_owned()));
                }
            }
        }
    }
    out.sort();
}

fn config_file(path: &str, contents: String) -> RenderedFile {
    RenderedFile {
        path: Path::new("config").join(path),
        contents: contents.into_bytes(),
        mode: FILE_MODE,
    }
}

/// Each `overrides/<service>/<path>` is appended to the generated file of
/// the same path (later settings win in Postfix, Dovecot, Rspamd and
/// nginx), or added as a new file.
fn apply_overrides(files: &mut Vec<RenderedFile>, overrides: &Overrides) {
    for (service, snippets) in overrides {
        for (relative, text) in snippets {
            let path = Path::new("config").join(service).join(relative);
            let block = format!(
                "\n# ---- from overrides/{service}/{} ----\n{text}",
                relative.display()
            );
            match files.iter_mut().find(|file| file.path == path) {
                Some(file) => file.contents.extend_from_slice(block.as_bytes()),
                None => files.push(RenderedFile {
                    path,
                    contents: text.clone().into_bytes(),
                    mode: FILE_MODE,
                }),
            }
        }
    }
}

/// SHA-256 of each service's files, so a change recreates only that service.
fn service_hashes(files: &[RenderedFile]) -> BTreeMap<String, String> {
    let mut hashes = BTreeMap::new();
    for service in Service::names() {
        let prefix = Path::new("config").join(service);
        let mut hasher = Sha256::new();
        let mut service_files: Vec<&RenderedFile> = files
            .iter()
            .filter(|file| file.path.starts_with(&prefix))
            .collect();
        service_files.sort_by(|a, b| a.path.cmp(&b.path));
        for file in service_files {
            hasher.update(file.path.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update(&file.contents);
        }
        hashes.insert(service.to_owned(), hex::encode(hasher.finalize()));
    }
    hashes
}

/// The image build contexts under `generated/images/`, so that plain
/// Compose can build the same images.
fn build_context_files(spec: &StackSpec) -> anyhow::Result<Vec<RenderedFile>> {
    let mut out: BTreeMap<PathBuf, RenderedFile> = BTreeMap::new();
    for service in &spec.services {
        if service.image.build.is_none() {
            continue;
        }
        for file in images::context_files(&service.name)? {
            let path = Path::new("images").join(&file.path);
            out.entry(path.clone()).or_insert(RenderedFile {
                path,
                contents: file.contents.to_vec(),
                mode: if file.executable {
                    EXECUTABLE_MODE
                } else {
                    FILE_MODE
                },
            });
        }
    }
    Ok(out.into_values().collect())
}

/// What writing did, per file.
#[derive(Debug, Default)]
pub struct WriteReport {
    pub created: Vec<PathBuf>,
    pub updated: Vec<PathBuf>,
    pub removed: Vec<PathBuf>,
    pub unchanged: usize,
}

impl WriteReport {
    pub fn changed(&self) -> bool {
        !(self.created.is_empty() && self.updated.is_empty() && self.removed.is_empty())
    }

    /// Services whose configuration files changed.
    pub fn changed_services(&self) -> Vec<String> {
        let mut services: Vec<String> = self
            .created
            .iter()
            .chain(&self.updated)
            .chain(&self.removed)
            .filter_map(|path| {
                let mut components = path.components();
                (components.next()?.as_os_str() == "config")
                    .then(|| components.next())
                    .flatten()
                    .map(|service| service.as_os_str().to_string_lossy().into_owned())
            })
            .collect();
        services.sort();
        services.dedup();
        services
    }
}

/// How the files on disk differ from `files`.
#[derive(Debug, Default)]
pub struct Difference {
    pub missing: Vec<PathBuf>,
    pub changed: Vec<(PathBuf, String, String)>,
    pub stale: Vec<PathBuf>,
}

impl Difference {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.changed.is_empty() && self.stale.is_empty()
    }
}

/// Compares `files` with what is under `generated`.
pub fn compare(generated: &Path, files: &[RenderedFile]) -> anyhow::Result<Difference> {
    let mut difference = Difference::default();
    for file in files {
        let path = generated.join(&file.path);
        match std::fs::read(&path) {
            Ok(existing) if existing == file.contents => {}
            Ok(existing) => difference.changed.push((
                file.path.clone(),
                String::from_utf8_lossy(&existing).into_owned(),
                String::from_utf8_lossy(&file.contents).into_owned(),
            )),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                difference.missing.push(file.path.clone())
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read `{}`", path.display()))
            }
        }
    }
    difference.stale = stale_files(generated, files)?;
    Ok(difference)
}

/// Writes changed files and removes generated files that are no longer
/// produced. `generated/` belongs to mailctl; nothing there is hand-edited.
pub fn write(generated: &Path, files: &[RenderedFile]) -> anyhow::Result<WriteReport> {
    files::create_private_dir(generated, 0o700)?;
    let mut report = WriteReport::default();
    let mut changed = Vec::new();
    for file in files {
        let path = generated.join(&file.path);
        if let Some(parent) = path.parent() {
            if !parent.exists() {
                files::create_private_dir(parent, 0o700)?;
            }
        }
        match files::compare_file(&path, &file.contents, file.mode)? {
            WriteOutcome::Created => report.created.push(file.path.clone()),
            WriteOutcome::Updated => report.updated.push(file.path.clone()),
            WriteOutcome::Unchanged => {
                report.unchanged += 1;
                continue;
            }
        }
        changed.push((path, file));
    }
    let entries: Vec<(&Path, &[u8], u32)> = changed
        .iter()
        .map(|(path, file)| (path.as_path(), file.contents.as_slice(), file.mode))
        .collect();
    files::write_batch_atomic(&entries)?;
    for stale in stale_files(generated, files)? {
        fs_err::remove_file(generated.join(&stale))?;
        report.removed.push(stale);
    }
    Ok(report)
}

fn stale_files(generated: &Path, files: &[RenderedFile]) -> anyhow::Result<Vec<PathBuf>> {
    let expected: std::collections::BTreeSet<&Path> =
        files.iter().map(|file| file.path.as_path()).collect();
    let mut stale = Vec::new();
    let mut stack = vec![generated.to_owned()];
    while let Some(directory) = stack.pop() {
        let entries = match std::fs::read_dir(&directory) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(error).with_context(|| format!("cannot list `{}`", directory.display()))
            }
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if let Ok(relative) = path.strip_prefix(generated) {
                let name = relative.to_string_lossy();
                if !expected.contains(relative)
                    && !name.starts_with(".mailctl-")
                    && !name.starts_with("state")
                {
                    stale.push(relative.to_owned());
                }
            }
        }
    }
    stale.sort();
    Ok(stale)
}

/// Reads `overrides/<service>/…` (UTF-8 text files only).
pub fn read_overrides(directory: &Path) -> anyhow::Result<Overrides> {
    let mut overrides = Overrides::new();
    for service in Service::names() {
        let base = directory.join(service);
        if !base.is_dir() {
            continue;
        }
        let mut stack = vec![base.clone()];
        while let Some(current) = stack.pop() {
            for entry in fs_err::read_dir(&current)? {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    stack.push(path);
                } else {
                    let text = fs_err::read_to_string(&path).with_context(|| {
                        format!("override `{}` is not UTF-8 text", path.display())
                    })?;
                    let relative = path.strip_prefix(&base)?.to_owned();
                    overrides
                        .entry(service.to_owned())
                        .or_default()
                        .insert(relative, text);
                }
            }
        }
    }
    Ok(overrides)
}

/// Renders `config` in memory (reads secrets and overrides, writes nothing).
pub fn project_in_memory(
    project: &crate::project::Project,
    config: &crate::config::Config,
) -> anyhow::Result<Rendered> {
    let secrets = crate::secrets::Secrets::load(&project.secrets_dir())?;
    let overrides = read_overrides(&project.overrides_dir())?;
    render(&RenderInput {
        config,
        secrets: &secrets,
        root: project.root(),
        overrides: &overrides,
    })
}

/// Renders and writes what changed.
pub fn write_project(
    project: &crate::project::Project,
    config: &crate::config::Config,
) -> anyhow::Result<WriteReport> {
    let rendered = project_in_memory(project, config)?;
    write(&project.generated_dir(), &rendered.files)
}
