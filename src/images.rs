//! The Dockerfiles and scripts under `compose/images/`, embedded in the
//! binary: per service, its build context (its own folder plus `common/`),
//! the content hash that tags the image, and the context as a tar stream.

use include_dir::{include_dir, Dir, DirEntry};
use sha2::{Digest, Sha256};

static IMAGES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/compose/images");

/// The folder every service's context also carries.
const COMMON: &str = "common";

/// One file of a build context.
#[derive(Debug, Clone)]
pub struct ContextFile {
    /// Path inside the context, e.g. `smtp/Dockerfile`.
    pub path: String,
    pub contents: &'static [u8],
    pub executable: bool,
}

/// Every file of `service`'s build context, sorted by path.
pub fn context_files(service: &str) -> anyhow::Result<Vec<ContextFile>> {
    let Some(directory) = IMAGES.get_dir(service) else {
        anyhow::bail!("no build context for service `{service}` in this mailctl");
    };
    let mut out = Vec::new();
    collect(directory, &mut out);
    if let Some(common) = IMAGES.get_dir(COMMON) {
        collect(common, &mut out);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn collect(directory: &Dir<'static>, out: &mut Vec<ContextFile>) {
    for entry in directory.entries() {
        match entry {
            DirEntry::Dir(child) => collect(child, out),
            DirEntry::File(file) => {
                let path = file.path().to_string_lossy().replace('\\', "/");
                let executable = path.ends_with(".sh")
                    || path.contains("/bin/")
                    || file.contents().starts_with(b"#!");
                out.push(ContextFile {
                    path,
                    contents: file.contents(),
                    executable,
                });
            }
        }
    }
}

/// The first 16 hex digits of SHA-256 over the context's paths and contents.
pub fn content_hash(service: &str) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    for file in context_files(service)? {
        hasher.update(file.path.as_bytes());
        hasher.update([0]);
        hasher.update((file.contents.len() as u64).to_be_bytes());
        hasher.update(file.contents);
    }
    Ok(hex::encode(hasher.finalize())[..16].to_owned())
}

/// The image reference mailctl builds for `service`.
pub fn reference(service: &str) -> anyhow::Result<String> {
    Ok(format!("mailctl/{service}:{}", content_hash(service)?))
}

/// The path of the Dockerfile inside the context.
pub fn dockerfile(service: &str) -> String {
    format!("{service}/Dockerfile")
}

/// The context as an uncompressed tar archive, for the Docker build API.
pub fn context_tar(service: &str) -> anyhow::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for file in context_files(service)? {
        let mut header = tar::Header::new_gnu();
        header.set_size(file.contents.len() as u64);
        header.set_mode(if file.executable { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, &file.path, file.contents)?;
    }
    Ok(builder.into_inner()?)
}
