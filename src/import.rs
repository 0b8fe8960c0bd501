//! Bulk import, the deciding part: reading a CSV or YAML list of mailboxes,
//! or the YAML that Mailu's `flask mailu config-export` writes, and planning
//! what to add to a `Config`. Every row is checked and every problem keeps
//! the line it came from, so that all of them can be reported at once. No
//! I/O and no hashing: `commands::import` reads the file, hashes the
//! passwords in parallel, creates DKIM keys and applies the plan.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::config::{self, Alias, AutoReply, Config, Domain, Forward, Issue, Mailbox, Size};
use crate::names::{Address, DomainName};
use crate::passwords;

/// The file formats `mailctl user import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Yaml,
}

impl Format {
    /// The format a file name implies: `.csv`, or `.yaml`/`.yml`/`.json`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Format::Csv),
            "yaml" | "yml" | "json" => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// The columns of a CSV file, and the keys of a YAML item.
pub const USER_FIELDS: [&str; 5] = ["address", "password", "password_hash", "quota", "name"];

/// The shortest plaintext password accepted, as for `mailctl user add`.
const MIN_PASSWORD_CHARS: usize = 10;

/// Mailu's quota when an export leaves `quota_bytes` out: the column's
/// default (`config-export` omits default values unless `--full`).
pub const MAILU_DEFAULT_QUOTA_BYTES: u64 = 1_000_000_000;

/// A syntactically valid hash that stands in for passwords not hashed yet
/// while the plan is validated. Never saved: the command replaces it.
const PENDING_HASH: &str = "{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$cGVuZGluZ3BlbmRpbmc$cGVuZGluZ3BlbmRpbmdwZW5kaW5ncGVuZGluZw";

/// A problem with the whole file: nothing of it can be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FileError {
    /// The line the problem is on, when it has one.
    pub line: Option<usize>,
    pub message: String,
    pub hint: String,
}

/// A row (CSV record, YAML item or Mailu object) that is not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub line: usize,
    pub message: String,
    pub hint: Option<String>,
}

/// Something in the file that is imported differently or not at all,
/// without making its row invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub line: usize,
    pub message: String,
}

/// A value with the line it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Lined<T> {
    pub line: usize,
    pub value: T,
}

/// Where a new mailbox's password hash comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// `mailbox.password_hash` already holds the hash to keep.
    Hashed,
    /// A plaintext password to hash with Argon2id.
    Plain(String),
    /// The source hash cannot be used; the mailbox is imported disabled
    /// with a hash of a random, discarded password.
    Reset {
        /// The scheme as the source wrote it, e.g. `{PBKDF2}` (pbkdf2-sha256).
        scheme: String,
        /// Why Dovecot cannot use it.
        reason: String,
    },
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Password::Hashed => f.write_str("Hashed"),
            Password::Plain(_) => f.write_str("Plain(<hidden>)"),
            Password::Reset { scheme, .. } => write!(f, "Reset({scheme})"),
        }
    }
}

/// A mailbox to add. Unless `password` is `Hashed`, its `password_hash` is
/// a stand-in that the command must replace.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMailbox {
    pub line: usize,
    pub mailbox: Mailbox,
    pub password: Password,
}

/// What an import adds, and what it leaves out.
#[derive(Debug, Default)]
pub struct Plan {
    /// New domains, without DKIM selectors: the command creates the keys.
    pub domains: Vec<Lined<Domain>>,
    pub mailboxes: Vec<NewMailbox>,
    pub aliases: Vec<Lined<Alias>>,
    /// Rows that are not imported, sorted by line.
    pub rejected: Vec<Rejected>,
    pub notes: Vec<Note>,
}

impl Plan {
    /// Whether nothing would be added.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.mailboxes.is_empty() && self.aliases.is_empty()
    }

    /// How many distinct rows are rejected (a row may have several problems).
    pub fn rejected_rows(&self) -> usize {
        self.rejected
            .iter()
            .map(|rejected| rejected.line)
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// The mailboxes whose password must be reset.
    pub fn resets(&self) -> impl Iterator<Item = &NewMailbox> {
        self.mailboxes
            .iter()
            .filter(|new| matches!(new.password, Password::Reset { .. }))
    }
}

// ---------------------------------------------------------------------------
// `mailctl user import`: CSV and YAML lists of mailboxes.

/// One mailbox as a row gives it, before any check.
#[derive(Clone, Default, PartialEq, Eq)]
struct UserRow {
    line: usize,
    address: String,
    password: Option<String>,
    password_hash: Option<String>,
    quota: Option<String>,
    name: Option<String>,
}

/// Plans the import of a CSV or YAML list of mailboxes into `config`.
pub fn plan_users(config: &Config, format: Format, text: &str) -> Result<Plan, FileError> {
    let (rows, mut rejected) = match format {
        Format::Csv => read_csv(text)?,
        Format::Yaml => read_user_yaml(text)?,
    };
    let domains: HashSet<&str> = config.domains.iter().map(|d| d.name.as_str()).collect();
    let mut candidates = Candidates::default();
    let mut seen = Seen::new(config);
    for row in rows {
        match check_user_row(&row, &domains, &mut seen) {
            Ok(new) => candidates.mailboxes.push(new),
            Err(problems) => rejected.extend(problems),
        }
    }
    candidates.rejected = rejected;
    settle(config, candidates)
}

fn check_user_row(
    row: &UserRow,
    domains: &HashSet<&str>,
    seen: &mut Seen,
) -> Result<NewMailbox, Vec<Rejected>> {
    let line = row.line;
    let mut problems = Vec::new();
    let reject = |message: String, hint: Option<String>| Rejected {
        line,
        message,
        hint,
    };
    let address =
        match seen.new_mailbox_address(&row.address, line, |domain| domains.contains(domain)) {
            Ok(address) => Some(address),
            Err(problem) => {
                problems.push(problem);
                None
            }
        };
    let password = match (&row.password, &row.password_hash) {
        (Some(_), Some(_)) => {
            problems.push(reject(
                "the row gives both a password and a password hash".into(),
                Some("leave one of `password` and `password_hash` empty".into()),
            ));
            None
        }
        (None, None) => {
            problems.push(reject(
                "the row gives neither a password nor a password hash".into(),
                Some("fill in `password` (it is hashed with Argon2id) or `password_hash`".into()),
            ));
            None
        }
        (Some(password), None) => {
            if password.chars().count() < MIN_PASSWORD_CHARS {
                problems.push(reject(
                    format!("the password is shorter than {MIN_PASSWORD_CHARS} characters"),
                    Some("choose a longer one".into()),
                ));
                None
            } else {
                Some((Password::Plain(password.clone()), PENDING_HASH.to_owned()))
            }
        }
        (None, Some(hash)) => match passwords::recognise(hash) {
            Ok(_) => Some((Password::Hashed, hash.clone())),
            Err(problem) => {
                problems.push(reject(
                    problem,
                    Some(
                        "give a Dovecot hash such as `{ARGON2ID}$argon2id$…` or `{SHA512-CRYPT}$6$…`, or the password itself in `password`"
                            .into(),
                    ),
                ));
                None
            }
        },
    };
    let quota = match row.quota.as_deref().map(parse_quota).transpose() {
        Ok(quota) => quota.flatten(),
        Err(problem) => {
            problems.push(reject(problem, Some("e.g. `500M`, `2G`, or `none`".into())));
            None
        }
    };
    match (address, password) {
        (Some(address), Some((password, hash))) if problems.is_empty() => Ok(NewMailbox {
            line,
            mailbox: new_mailbox(address, hash, quota, row.name.clone(), true),
            password,
        }),
        _ => Err(problems),
    }
}

/// `2G`, `500M`, a number of bytes, or `none`/`0`/`unlimited` for no quota.
fn parse_quota(input: &str) -> Result<Option<Size>, String> {
    let input = input.trim();
    if matches!(
        input.to_ascii_lowercase().as_str(),
        "" | "none" | "0" | "unlimited"
    ) {
        return Ok(None);
    }
    let size: Size = input
        .parse()
        .map_err(|error: config::SizeError| error.to_string())?;
    if size.bytes() < 1 << 20 {
        return Err(format!(
            "quota {size} is below 1M, too small to receive mail"
        ));
    }
    Ok(Some(size))
}

fn new_mailbox(
    address: String,
    password_hash: String,
    quota: Option<Size>,
    name: Option<String>,
    enabled: bool,
) -> Mailbox {
    Mailbox {
        address,
        password_hash,
        quota,
        name,
        enabled,
        send_as: Vec::new(),
        forward: None,
        autoreply: None,
        outbound_alert: None,
    }
}

// --- CSV (RFC 4180) ---------------------------------------------------------

/// One CSV record: the line it starts on, and its fields or why it cannot
/// be split into fields.
type Record = (usize, Result<Vec<String>, String>);

/// Splits `text` into records: fields separated by `,`, records by LF or
/// CRLF, `"…"` quoting with `""` for a quote (a quoted field may span
/// lines). Blank lines are skipped. A quote that is never closed ends the
/// file with an error record.
fn csv_records(text: &str) -> Vec<Record> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut problem = None;
        loop {
            let Some(c) = chars.next() else {
                fields.push(std::mem::take(&mut field));
                break;
            };
            match c {
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    quoted = false;
                }
                '\n' => {
                    line += 1;
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                '"' if field.is_empty() && !quoted => {
                    quoted = true;
                    let mut closed = false;
                    while let Some(c) = chars.next() {
                        match c {
                            '"' if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            '"' => {
                                closed = true;
                                break;
                            }
                            '\n' => {
                                line += 1;
                                field.push('\n');
                            }
                            c => field.push(c),
                        }
                    }
                    if !closed {
                        records.push((
                            start,
                            Err("a quoted field is never closed, so the rest of the file cannot be read".into()),
                        ));
                        return records;
                    }
                    // A CR before LF belongs to the line break, not the field.
                    if chars.peek() == Some(&'\r') {
                        chars.next();
                        if chars.peek() != Some(&'\n') {
                            problem.get_or_insert_with(|| {
                                "a closing quote is followed by more text in the same field"
                                    .to_owned()
                            });
                        }
                    }
                    if !matches!(chars.peek(), None | Some(',') | Some('\n')) {
                        problem.get_or_insert_with(|| {
                            "a closing quote is followed by more text in the same field; write `\"\"` for a quote inside a quoted field".to_owned()
                        });
                    }
                }
                c => {
                    if quoted {
                        problem.get_or_insert_with(|| {
                            "a closing quote is followed by more text in the same field".to_owned()
                        });
                    }
                    field.push(c);
                }
            }
        }
        let blank = fields.len() == 1 && fields[0].is_empty() && !quoted;
        if blank && problem.is_none() {
            continue;
        }
        records.push((start, problem.map_or(Ok(fields), Err)));
    }
    records
}

fn read_csv(text: &str) -> Result<(Vec<UserRow>, Vec<Rejected>), FileError> {
    let mut records = csv_records(text).into_iter();
    let columns_hint = format!(
        "the first line names the columns: `{}` (either a password or a hash per row)",
        USER_FIELDS.join(",")
    );
    let Some((header_line, header)) = records.next() else {
        return Err(FileError {
            line: None,
            message: "the file is empty".into(),
            hint: columns_hint,
        });
    };
    let header = header.map_err(|message| FileError {
        line: Some(header_line),
        message,
        hint: columns_hint.clone(),
    })?;
    let mut columns: Vec<&'static str> = Vec::new();
    for name in &header {
        let name = name.trim().to_ascii_lowercase();
        let Some(known) = USER_FIELDS.iter().find(|field| **field == name) else {
            return Err(FileError {
                line: Some(header_line),
                message: format!("unknown column `{name}`"),
                hint: columns_hint,
            });
        };
        if columns.contains(known) {
            return Err(FileError {
                line: Some(header_line),
                message: format!("the column `{name}` is named twice"),
                hint: columns_hint,
            });
        }
        columns.push(known);
    }
    if !columns.contains(&"address")
        || !(columns.contains(&"password") || columns.contains(&"password_hash"))
    {
        return Err(FileError {
            line: Some(header_line),
            message:
                "the header needs an `address` column and a `password` or `password_hash` column"
                    .into(),
            hint: columns_hint,
        });
    }
    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    for (line, record) in records {
        let fields = match record {
            Ok(fields) => fields,
            Err(message) => {
                rejected.push(Rejected {
                    line,
                    message,
                    hint: None,
                });
                continue;
            }
        };
        if fields.len() != columns.len() {
            rejected.push(Rejected {
                line,
                message: format!(
                    "the row has {} fields but the header names {} columns",
                    fields.len(),
                    columns.len()
                ),
                hint: Some("quote fields that contain a comma: `\"Doe, Jane\"`".into()),
            });
            continue;
        }
        let mut row = UserRow {
            line,
            ..UserRow::default()
        };
        for (column, value) in columns.iter().zip(fields) {
            set_user_field(&mut row, column, value);
        }
        rows.push(row);
    }
    Ok((rows, rejected))
}

/// Stores `value` in `row`; empty cells are absent. Passwords are kept as
/// given, everything else is trimmed.
fn set_user_field(row: &mut UserRow, column: &str, value: String) {
    let present = |value: String| {
        let trimmed = value.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_owned())
    };
    match column {
        "address" => row.address = value.trim().to_owned(),
        "password" => row.password = (!value.is_empty()).then_some(value),
        "password_hash" => row.password_hash = present(value),
        "quota" => row.quota = present(value),
        "name" => row.name = present(value),
        _ => {}
    }
}

// --- YAML ------------------------------------------------------------------

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_depth: 64,
        },
    }
}

fn yaml_error(error: &serde_saphyr::Error, hint: &str) -> FileError {
    let line = error
        .location()
        .map(|location| location.line() as usize)
        .filter(|line| *line > 0);
    FileError {
        line,
        message: format!(
            "the file is not the expected YAML: {}",
            error.without_snippet()
        ),
        hint: hint.to_owned(),
    }
}

fn line_of<T>(spanned: &Spanned<T>) -> usize {
    spanned.referenced.line() as usize
}

fn read_user_yaml(text: &str) -> Result<(Vec<UserRow>, Vec<Rejected>), FileError> {
    let hint = "write a list of maps: `- address: jane@example.com` then `password:` or `password_hash:`, and optionally `quota:` and `name:`";
    let items: Option<Vec<Spanned<Value>>> =
        serde_saphyr::from_str_with_options(text, yaml_options())
            .map_err(|error| yaml_error(&error, hint))?;
    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    for item in items.unwrap_or_default() {
        let line = line_of(&item);
        match user_row_from_yaml(line, &item.value) {
            Ok(row) => rows.push(row),
            Err(message) => rejected.push(Rejected {
                line,
                message,
                hint: Some(hint.into()),
            }),
        }
    }
    Ok((rows, rejected))
}

fn user_row_from_yaml(line: usize, value: &Value) -> Result<UserRow, String> {
    let Value::Object(map) = value else {
        return Err("the item is not a map".into());
    };
    if let Some(unknown) = map.keys().find(|key| !USER_FIELDS.contains(&key.as_str())) {
        return Err(format!(
            "unknown key `{unknown}`; the keys are {}",
            USER_FIELDS.map(|field| format!("`{field}`")).join(", ")
        ));
    }
    let mut row = UserRow {
        line,
        ..UserRow::default()
    };
    row.address = text_field(map, "address")?.unwrap_or_default();
    row.password = text_field(map, "password")?.filter(|password| !password.is_empty());
    row.password_hash = text_field(map, "password_hash")?
        .map(|hash| hash.trim().to_owned())
        .filter(|hash| !hash.is_empty());
    row.quota = match map.get("quota") {
        None | Some(Value::Null) => None,
        Some(Value::Number(number)) => Some(number.to_string()),
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => return Err("`quota` must be a size such as `2G`".into()),
    };
    row.name = text_field(map, "name")?
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    Ok(row)
}

/// A text value of `map`; `null` and a missing key are `None`.
fn text_field(map: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(format!("`{key}` must be text; quote it")),
    }
}

// ---------------------------------------------------------------------------
// `mailctl import mailu`: the YAML of `flask mailu config-export`.

/// The sections of a Mailu export, each item with its line.
#[derive(Debug, Deserialize)]
struct MailuExport {
    #[serde(default)]
    domain: Option<Vec<Spanned<Value>>>,
    #[serde(default)]
    user: Option<Vec<Spanned<Value>>>,
    #[serde(default)]
    alias: Option<Vec<Spanned<Value>>>,
    #[serde(default)]
    relay: Option<Vec<Spanned<Value>>>,
}

/// What Dovecot can make of a password from Mailu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailuHash {
    /// Dovecot verifies it: the value with its `{SCHEME}` prefix.
    Keep(String),
    /// A known scheme Dovecot cannot verify (or mailctl refuses).
    Reset { scheme: String, reason: String },
    /// Not a password hash Mailu writes.
    Invalid(String),
}

/// The `{SCHEME}` prefixes Mailu has written in front of its hashes (it
/// strips them again in `config-export` since 1.9).
const MAILU_PREFIXES: [&str; 6] = [
    "PBKDF2",
    "BLF-CRYPT",
    "SHA512-CRYPT",
    "SHA256-CRYPT",
    "MD5-CRYPT",
    "CRYPT",
];

/// Classifies a Mailu password: passlib identifies hashes by their own
/// `$id$` prefix; the `{SCHEME}` in front is optional and only a label.
pub fn classify_mailu_hash(value: &str) -> MailuHash {
    let value = value.trim();
    let (label, body) = match value
        .strip_prefix('{')
        .and_then(|rest| rest.split_once('}'))
    {
        Some((label, body)) if MAILU_PREFIXES.contains(&label.to_ascii_uppercase().as_str()) => {
            (Some(label.to_ascii_uppercase()), body)
        }
        Some((label, _)) => {
            return MailuHash::Invalid(format!("`{{{label}}}` is not a scheme Mailu writes"))
        }
        None => (None, value),
    };
    let shown = |what: &str| match &label {
        Some(label) if label == what => format!("`{{{label}}}`"),
        Some(label) => format!("`{{{label}}}` ({what})"),
        None => what.to_owned(),
    };
    let keep = |scheme: &str| {
        if label.as_deref().is_some_and(|label| label != scheme) {
            return MailuHash::Invalid(format!(
                "the hash is labelled `{{{}}}` but is a `{{{scheme}}}` hash",
                label.as_deref().unwrap_or_default()
            ));
        }
        let full = format!("{{{scheme}}}{body}");
        match passwords::recognise(&full) {
            Ok(_) => MailuHash::Keep(full),
            Err(problem) => MailuHash::Invalid(problem),
        }
    };
    let identifier = body
        .strip_prefix('$')
        .and_then(|rest| rest.split_once('$'))
        .map(|(identifier, _)| identifier);
    match identifier {
        Some("2a" | "2b" | "2y") => keep("BLF-CRYPT"),
        Some("6") => keep("SHA512-CRYPT"),
        Some("5") => keep("SHA256-CRYPT"),
        Some("argon2id") if label.is_none() => keep("ARGON2ID"),
        Some("argon2i") if label.is_none() => keep("ARGON2I"),
        Some("1") => MailuHash::Reset {
            scheme: shown("MD5-CRYPT"),
            reason: "MD5-CRYPT is too weak: Dovecot could verify it, but mailctl does not accept it".into(),
        },
        Some(id @ ("pbkdf2-sha256" | "pbkdf2-sha512" | "pbkdf2")) => MailuHash::Reset {
            scheme: shown(&format!("passlib `${id}$`")),
            reason: "passlib's PBKDF2 format is not Dovecot's: Dovecot's `{PBKDF2}` is `$1$salt$rounds$hex` with HMAC-SHA1, so it cannot verify this hash".into(),
        },
        Some("bcrypt-sha256") => MailuHash::Reset {
            scheme: shown("passlib `$bcrypt-sha256$`"),
            reason: "passlib's bcrypt-sha256, Mailu 2's default, runs bcrypt over an HMAC-SHA256 of the password; Dovecot has no such scheme".into(),
        },
        Some(id) if !id.is_empty() && id.len() <= 20 && !id.contains(char::is_whitespace) => {
            MailuHash::Reset {
                scheme: shown(&format!("`${id}$`")),
                reason: format!("Dovecot cannot verify passlib's `${id}$` hashes"),
            }
        }
        _ if body.len() == 13 && is_crypt_base64(body) => MailuHash::Reset {
            scheme: shown("DES crypt"),
            reason: "traditional DES crypt is too weak: Dovecot could verify it, but mailctl does not accept it".into(),
        },
        _ => MailuHash::Invalid("the password is not a hash Mailu writes".into()),
    }
}

fn is_crypt_base64(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
}

/// Plans the import of a Mailu export into `config`: domains, users with
/// their hashes (or disabled, to be reset), forwarding and automatic
/// replies, aliases (`%` wildcards become catch-alls).
pub fn plan_mailu(config: &Config, text: &str) -> Result<Plan, FileError> {
    let hint = "give the YAML (or JSON) that `flask mailu config-export --secrets` writes, with `domain:`, `user:` and `alias:` sections";
    let export: Option<MailuExport> = serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|error| yaml_error(&error, hint))?;
    let Some(export) = export else {
        return Err(FileError {
            line: None,
            message: "the file is empty".into(),
            hint: hint.into(),
        });
    };
    let (domains, users, aliases, relays) = (
        export.domain.unwrap_or_default(),
        export.user.unwrap_or_default(),
        export.alias.unwrap_or_default(),
        export.relay.unwrap_or_default(),
    );
    if domains.is_empty() && users.is_empty() && aliases.is_empty() && relays.is_empty() {
        return Err(FileError {
            line: None,
            message: "the file has no `domain`, `user`, `alias` or `relay` section".into(),
            hint: hint.into(),
        });
    }

    let mut candidates = Candidates::default();
    let mut notes = Vec::new();
    let mut rejected = Vec::new();

    // Domains first: users and aliases may be on the new ones.
    let mut known: HashSet<String> = config.domains.iter().map(|d| d.name.clone()).collect();
    let mut new_domains: HashMap<String, usize> = HashMap::new();
    for item in &domains {
        let line = line_of(item);
        match mailu_domain(line, &item.value, config, &new_domains, &mut notes) {
            Ok(Some(domain)) => {
                new_domains.insert(domain.name.clone(), line);
                known.insert(domain.name.clone());
                candidates.domains.push(Lined {
                    line,
                    value: domain,
                });
            }
            Ok(None) => {}
            Err(problem) => rejected.push(problem),
        }
    }

    let mut seen = Seen::new(config);
    for item in &users {
        let line = line_of(item);
        match mailu_user(line, &item.value, &known, &mut seen, &mut notes) {
            Ok(new) => candidates.mailboxes.push(new),
            Err(problems) => rejected.extend(problems),
        }
    }
    for item in &aliases {
        let line = line_of(item);
        match mailu_alias(line, &item.value, &known, &mut seen) {
            Ok(alias) => candidates.aliases.push(Lined { line, value: alias }),
            Err(problem) => rejected.push(problem),
        }
    }
    for item in &relays {
        let name = item
            .value
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        notes.push(Note {
            line: line_of(item),
            message: format!(
                "relay `{name}` is not imported: mailctl does not relay domains to other servers"
            ),
        });
    }

    candidates.rejected = rejected;
    let mut plan = settle(config, candidates)?;
    add_role_aliases(config, &mut plan);
    notes.sort_by_key(|note| note.line);
    plan.notes = notes;
    Ok(plan)
}

fn mailu_domain(
    line: usize,
    value: &Value,
    config: &Config,
    new_domains: &HashMap<String, usize>,
    notes: &mut Vec<Note>,
) -> Result<Option<Domain>, Rejected> {
    let reject = |message: String, hint: Option<String>| Rejected {
        line,
        message,
        hint,
    };
    let Value::Object(map) = value else {
        return Err(reject("the domain entry is not a map".into(), None));
    };
    let name = text_field(map, "name")
        .map_err(|problem| reject(problem, None))?
        .ok_or_else(|| reject("the domain entry has no `name`".into(), None))?;
    let domain = DomainName::parse(&name).map_err(|error| {
        reject(
            format!("domain `{name}`: {}", error.reason),
            error.hint.clone(),
        )
    })?;
    if let Some(first) = new_domains.get(domain.as_str()) {
        return Err(reject(
            format!(
                "domain `{}` is listed twice (first on line {first})",
                domain.display_both()
            ),
            Some("remove one of the entries".into()),
        ));
    }
    for alternative in string_list(map.get("alternatives")).unwrap_or_default() {
        notes.push(Note {
            line,
            message: format!(
                "alternative domain `{alternative}` of `{domain}` is not imported: mailctl has no domain aliases; add it with `mailctl domain add {alternative}` and aliases"
            ),
        });
    }
    if config.domain(domain.as_str()).is_some() {
        notes.push(Note {
            line,
            message: format!("domain `{domain}` is already configured and kept as it is"),
        });
        return Ok(None);
    }
    if map
        .get("dkim_key")
        .and_then(Value::as_str)
        .is_some_and(|key| !key.trim().is_empty())
    {
        notes.push(Note {
            line,
            message: format!(
                "Mailu's DKIM key of `{domain}` is not reused: new keys are created; publish the records `mailctl dns {domain}` shows"
            ),
        });
    }
    Ok(Some(Domain {
        name: domain.as_str().to_owned(),
        dmarc: config::Dmarc::default(),
        mta_sts: config::MtaSts::default(),
        tls_rpt_address: None,
        dkim: Vec::new(),
    }))
}

/// The address of a Mailu user or alias: `email`, or `localpart` and `domain`.
fn mailu_email(map: &Map<String, Value>) -> Result<String, String> {
    if let Some(email) = text_field(map, "email")? {
        return Ok(email.trim().to_owned());
    }
    match (text_field(map, "localpart")?, text_field(map, "domain")?) {
        (Some(local), Some(domain)) => Ok(format!("{}@{}", local.trim(), domain.trim())),
        _ => Err("the entry has no `email`".into()),
    }
}

fn mailu_user(
    line: usize,
    value: &Value,
    known: &HashSet<String>,
    seen: &mut Seen,
    notes: &mut Vec<Note>,
) -> Result<NewMailbox, Vec<Rejected>> {
    let reject = |message: String| {
        vec![Rejected {
            line,
            message,
            hint: None,
        }]
    };
    let Value::Object(map) = value else {
        return Err(reject("the user entry is not a map".into()));
    };
    let email = mailu_email(map).map_err(reject)?;
    let address = seen
        .new_mailbox_address(&email, line, |domain| known.contains(domain))
        .map_err(|problem| vec![problem])?;

    let plaintext = map.get("hash_password").and_then(Value::as_bool) == Some(true);
    let password = match (
        text_field(map, "password").map_err(reject)?,
        text_field(map, "password_hash").map_err(reject)?,
        text_field(map, "hash_scheme").map_err(reject)?,
    ) {
        (Some(password), None, None) if plaintext => {
            if password.chars().count() < MIN_PASSWORD_CHARS {
                return Err(reject(format!(
                    "`{address}`: the plaintext password is shorter than {MIN_PASSWORD_CHARS} characters"
                )));
            }
            Ok(Password::Plain(password))
        }
        (Some(password), None, None) => Err(password),
        // The older `config-update` form: the hash and its scheme apart.
        (None, Some(hash), Some(scheme)) => Err(format!("{{{scheme}}}{hash}")),
        (None, None, None) => {
            return Err(reject(format!(
                "`{address}` has no `password`; export with `flask mailu config-export --secrets`"
            )))
        }
        _ => {
            return Err(reject(format!(
                "`{address}` gives its password in more than one way"
            )))
        }
    };
    let (password, hash) = match password {
        Ok(plain) => (plain, PENDING_HASH.to_owned()),
        Err(hash) if hash.trim() == "<hidden>" => {
            return Err(reject(format!(
                "the password of `{address}` is hidden; export with `flask mailu config-export --secrets`"
            )))
        }
        Err(hash) => match classify_mailu_hash(&hash) {
            MailuHash::Keep(full) => (Password::Hashed, full),
            MailuHash::Reset { scheme, reason } => {
                (Password::Reset { scheme, reason }, PENDING_HASH.to_owned())
            }
            MailuHash::Invalid(problem) => {
                return Err(vec![Rejected {
                    line,
                    message: format!("`{address}`: {problem}"),
                    hint: Some(
                        "Mailu's hashes start with `$2b$`, `$6$`, `$5$`, `$pbkdf2-sha256$` or `$bcrypt-sha256$`, optionally after a `{SCHEME}`".into(),
                    ),
                }])
            }
        },
    };

    let quota = match map.get("quota_bytes") {
        None | Some(Value::Null) => Some(Size::from_bytes(MAILU_DEFAULT_QUOTA_BYTES)),
        Some(value) => match value.as_u64() {
            Some(0) => None,
            Some(bytes) => Some(Size::from_bytes(bytes)),
            None => {
                return Err(reject(format!(
                    "`{address}`: `quota_bytes` must be a whole number of bytes"
                )))
            }
        },
    };
    let enabled = match map.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(enabled)) => *enabled,
        Some(_) => {
            return Err(reject(format!(
                "`{address}`: `enabled` must be true or false"
            )))
        }
    };
    let name = text_field(map, "displayed_name")
        .map_err(reject)?
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    let mut mailbox = new_mailbox(
        address.clone(),
        hash,
        quota,
        name,
        enabled && !matches!(password, Password::Reset { .. }),
    );
    mailbox.forward = mailu_forward(map, &address);
    mailbox.autoreply = mailu_autoreply(map).map_err(reject)?;
    for (key, what) in [
        ("tokens", "authentication tokens (app passwords)"),
        ("fetches", "fetched accounts"),
    ] {
        if map
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(|items| !items.is_empty())
        {
            notes.push(Note {
                line,
                message: format!("the {what} of `{address}` are not imported"),
            });
        }
    }
    Ok(NewMailbox {
        line,
        mailbox,
        password,
    })
}

/// `forward_enabled` with `forward_destination` and `forward_keep` (Mailu
/// keeps a copy unless told otherwise).
fn mailu_forward(map: &Map<String, Value>, own: &str) -> Option<Forward> {
    if map.get("forward_enabled").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let to: Vec<String> = string_list(map.get("forward_destination"))
        .unwrap_or_default()
        .into_iter()
        .filter(|target| !target.eq_ignore_ascii_case(own))
        .collect();
    if to.is_empty() {
        return None;
    }
    let keep = map
        .get("forward_keep")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    Some(Forward { to, keep })
}

/// `reply_enabled` with its subject, body and date window; Mailu's default
/// dates (1900-01-01 and 2999-12-31) mean no limit.
fn mailu_autoreply(map: &Map<String, Value>) -> Result<Option<AutoReply>, String> {
    if map.get("reply_enabled").and_then(Value::as_bool) != Some(true) {
        return Ok(None);
    }
    let subject = text_field(map, "reply_subject")?
        .map(|subject| subject.trim().to_owned())
        .filter(|subject| !subject.is_empty())
        .unwrap_or_else(|| "Automatic reply".to_owned());
    let body = text_field(map, "reply_body")?.unwrap_or_default();
    let date = |key: &str, default: &str| -> Result<Option<String>, String> {
        Ok(text_field(map, key)?
            .map(|date| date.trim().to_owned())
            .filter(|date| !date.is_empty() && date != default))
    };
    Ok(Some(AutoReply {
        subject,
        body,
        from: date("reply_startdate", "1900-01-01")?,
        until: date("reply_enddate", "2999-12-31")?,
    }))
}

fn mailu_alias(
    line: usize,
    value: &Value,
    known: &HashSet<String>,
    seen: &mut Seen,
) -> Result<Alias, Rejected> {
    let reject = |message: String, hint: Option<String>| Rejected {
        line,
        message,
        hint,
    };
    let Value::Object(map) = value else {
        return Err(reject("the alias entry is not a map".into(), None));
    };
    let email = mailu_email(map).map_err(|problem| reject(problem, None))?;
    let wildcard = map.get("wildcard").and_then(Value::as_bool) == Some(true);
    let (local, domain) = email
        .rsplit_once('@')
        .ok_or_else(|| reject(format!("alias `{email}` is not a mail address"), None))?;
    let source = if wildcard && local == "%" {
        let domain = DomainName::parse(domain)
            .map_err(|error| reject(format!("alias `{email}`: {}", error.reason), error.hint))?;
        format!("@{domain}")
    } else if wildcard && local.contains(['%', '_']) {
        return Err(reject(
            format!("wildcard alias `{email}` matches a pattern; mailctl has only whole-domain catch-alls"),
            Some("add the addresses it should match as aliases (`mailctl alias add …`), or `@domain` for all".into()),
        ));
    } else {
        Address::parse(&email)
            .map_err(|error| reject(format!("alias `{email}`: {}", error.reason), error.hint))?
            .to_string()
    };
    let source_domain = source.rsplit_once('@').map_or("", |(_, domain)| domain);
    if !known.contains(source_domain) {
        return Err(reject(
            format!("alias `{source}` is on domain `{source_domain}`, which is neither configured nor in the export"),
            Some(format!("add the domain first: `mailctl domain add {source_domain}`")),
        ));
    }
    seen.new_alias_source(&source, line)?;
    let mut destinations: Vec<String> = Vec::new();
    for destination in
        string_list(map.get("destination")).map_err(|problem| reject(problem, None))?
    {
        let address = Address::parse(&destination).map_err(|error| {
            reject(
                format!(
                    "alias `{source}`: destination `{destination}`: {}",
                    error.reason
                ),
                error.hint,
            )
        })?;
        let address = address.to_string();
        if !destinations.contains(&address) {
            destinations.push(address);
        }
    }
    if destinations.is_empty() {
        return Err(reject(format!("alias `{source}` has no destination"), None));
    }
    Ok(Alias {
        source,
        destinations,
    })
}

/// A list of strings, or one comma-separated string (Mailu accepts both).
fn string_list(value: Option<&Value>) -> Result<Vec<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(|text| text.trim().to_owned())
                    .ok_or_else(|| "a list entry is not text".to_owned())
            })
            .filter(|item| !matches!(item, Ok(text) if text.is_empty()))
            .collect(),
        Some(_) => Err("expected a list of addresses".into()),
    }
}

/// `postmaster@` and `abuse@` for each new domain, delivering to the same
/// mailbox as `mailctl domain add` picks, unless the import defines them.
fn add_role_aliases(config: &Config, plan: &mut Plan) {
    let Some(postmaster) = config.role_mailbox() else {
        return;
    };
    let taken: HashSet<String> = plan
        .mailboxes
        .iter()
        .map(|new| new.mailbox.address.clone())
        .chain(plan.aliases.iter().map(|alias| alias.value.source.clone()))
        .collect();
    let mut roles = Vec::new();
    for domain in &plan.domains {
        let aliases = crate::config::role_aliases(&domain.value.name, &postmaster, |address| {
            taken.contains(address)
        });
        roles.extend(aliases.into_iter().map(|value| Lined {
            line: domain.line,
            value,
        }));
    }
    plan.aliases.extend(roles);
}

// ---------------------------------------------------------------------------
// Checks shared by both imports.

/// The addresses already taken, by the configuration or by earlier rows.
struct Seen {
    mailboxes: HashSet<String>,
    aliases: HashSet<String>,
    rows: HashMap<String, usize>,
}

impl Seen {
    fn new(config: &Config) -> Self {
        Seen {
            mailboxes: config.mailboxes.iter().map(|m| m.address.clone()).collect(),
            aliases: config.aliases.iter().map(|a| a.source.clone()).collect(),
            rows: HashMap::new(),
        }
    }

    /// The normalised address of a new mailbox on a domain `configured`
    /// accepts, or why it cannot be added.
    fn new_mailbox_address(
        &mut self,
        input: &str,
        line: usize,
        configured: impl Fn(&str) -> bool,
    ) -> Result<String, Rejected> {
        let reject = |message: String, hint: Option<String>| Rejected {
            line,
            message,
            hint,
        };
        if input.trim().is_empty() {
            return Err(reject("the address is empty".into(), None));
        }
        let address = Address::parse(input).map_err(|error| {
            reject(
                error.reason,
                Some(
                    error
                        .hint
                        .unwrap_or_else(|| "write it as `name@example.com`".into()),
                ),
            )
        })?;
        let domain = address.domain.as_str().to_owned();
        let address = address.to_string();
        if !configured(&domain) {
            return Err(reject(
                format!("mailbox `{address}` is on domain `{domain}`, which is not configured"),
                Some(format!(
                    "add the domain first: `mailctl domain add {domain}`"
                )),
            ));
        }
        if self.mailboxes.contains(&address) {
            return Err(reject(
                format!("mailbox `{address}` already exists"),
                Some(format!(
                    "remove the row, or change its password with `mailctl user passwd {address}`"
                )),
            ));
        }
        if self.aliases.contains(&address) {
            return Err(reject(
                format!("`{address}` is already an alias"),
                Some(format!(
                    "remove the alias first: `mailctl alias remove {address}`"
                )),
            ));
        }
        if let Some(first) = self.rows.get(&address) {
            return Err(reject(
                format!("mailbox `{address}` is listed twice (first on line {first})"),
                Some("remove one of the rows".into()),
            ));
        }
        self.rows.insert(address.clone(), line);
        Ok(address)
    }

    /// Checks that an alias source is new.
    fn new_alias_source(&mut self, source: &str, line: usize) -> Result<(), Rejected> {
        let reject = |message: String| Rejected {
            line,
            message,
            hint: None,
        };
        if self.aliases.contains(source) {
            return Err(reject(format!("alias `{source}` already exists")));
        }
        if self.mailboxes.contains(source) {
            return Err(reject(format!("`{source}` is already a mailbox")));
        }
        if let Some(first) = self.rows.get(source) {
            return Err(reject(format!(
                "`{source}` is also defined on line {first}"
            )));
        }
        self.rows.insert(source.to_owned(), line);
        Ok(())
    }
}

/// Rows that passed their own checks, before validation as a whole.
#[derive(Default)]
struct Candidates {
    domains: Vec<Lined<Domain>>,
    mailboxes: Vec<NewMailbox>,
    aliases: Vec<Lined<Alias>>,
    rejected: Vec<Rejected>,
}

/// Validates `config` with the candidates added, drops the rows that the
/// validation blames and tries again, until what is left is valid (a
/// dropped mailbox can leave an alias pointing nowhere). A problem that no
/// row can be blamed for fails the whole import.
fn settle(config: &Config, mut candidates: Candidates) -> Result<Plan, FileError> {
    let base_domains = config.domains.len();
    let base_mailboxes = config.mailboxes.len();
    let base_aliases = config.aliases.len();
    loop {
        let mut merged = config.clone();
        merged
            .domains
            .extend(candidates.domains.iter().map(|d| d.value.clone()));
        merged
            .mailboxes
            .extend(candidates.mailboxes.iter().map(|m| m.mailbox.clone()));
        merged
            .aliases
            .extend(candidates.aliases.iter().map(|a| a.value.clone()));
        let issues = match config::validate(merged) {
            Ok(_) => break,
            Err(issues) => issues,
        };
        let mut blamed_domains = BTreeSet::new();
        let mut blamed_mailboxes = BTreeSet::new();
        let mut blamed_aliases = BTreeSet::new();
        let mut unattributed = Vec::new();
        for issue in issues {
            let target = match indexed(&issue.path) {
                Some(("domains", index)) if index >= base_domains => {
                    let index = index - base_domains;
                    blamed_domains.insert(index);
                    Some(candidates.domains[index].line)
                }
                Some(("mailboxes", index)) if index >= base_mailboxes => {
                    let index = index - base_mailboxes;
                    blamed_mailboxes.insert(index);
                    Some(candidates.mailboxes[index].line)
                }
                Some(("aliases", index)) if index >= base_aliases => {
                    let index = index - base_aliases;
                    blamed_aliases.insert(index);
                    Some(candidates.aliases[index].line)
                }
                _ => None,
            };
            match target {
                Some(line) => candidates.rejected.push(Rejected {
                    line,
                    message: issue.message,
                    hint: issue.hint,
                }),
                None => unattributed.push(issue),
            }
        }
        if !unattributed.is_empty() {
            return Err(conflict(&unattributed));
        }
        remove_indices(&mut candidates.domains, &blamed_domains);
        remove_indices(&mut candidates.mailboxes, &blamed_mailboxes);
        remove_indices(&mut candidates.aliases, &blamed_aliases);
    }
    let mut rejected = candidates.rejected;
    rejected.sort_by_key(|rejected| rejected.line);
    Ok(Plan {
        domains: candidates.domains,
        mailboxes: candidates.mailboxes,
        aliases: candidates.aliases,
        rejected,
        notes: Vec::new(),
    })
}

/// `("mailboxes", 3)` for `mailboxes[3].address`.
fn indexed(path: &str) -> Option<(&str, usize)> {
    let (name, rest) = path.split_once('[')?;
    let (index, _) = rest.split_once(']')?;
    Some((name, index.parse().ok()?))
}

fn remove_indices<T>(items: &mut Vec<T>, indices: &BTreeSet<usize>) {
    let mut index = 0;
    items.retain(|_| {
        let keep = !indices.contains(&index);
        index += 1;
        keep
    });
}

fn conflict(issues: &[Issue]) -> FileError {
    let mut message =
        "importing would leave the configuration invalid, and no row can be blamed:".to_owned();
    for issue in issues {
        message.push_str(&format!("\n  ({}) {}", issue.path, issue.message));
    }
    FileError {
        line: None,
        message,
        hint: "fix mailctl.yaml first (`mailctl render --check` shows its problems), then import again".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let text = "version: 1\nhostname: mail.example.test\nprimary_domain: example.test\n\
                    domains:\n  - name: example.test\n  - name: example.org\n\
                    mailboxes:\n  - address: admin@example.test\n    password_hash: \"{SHA512-CRYPT}$6$abcdefgh$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n\
                    aliases:\n  - source: postmaster@example.test\n    destinations: [admin@example.test]\n";
        config::parse_str(text, Path::new("mailctl.yaml")).unwrap()
    }

    #[test]
    fn csv_records_follow_rfc_4180() {
        let text = "\u{feff}a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\n\"multi\nline\",z\nlast,\"\"";
        let records = csv_records(text);
        assert_eq!(records.len(), 4);
        assert_eq!(records[0], (1, Ok(vec!["a".into(), "b".into()])));
        assert_eq!(
            records[1],
            (2, Ok(vec!["x, y".into(), "say \"hi\"".into()]))
        );
        assert_eq!(records[2], (4, Ok(vec!["multi\nline".into(), "z".into()])));
        assert_eq!(records[3], (6, Ok(vec!["last".into(), String::new()])));
    }

    #[test]
    fn csv_problems_keep_their_line() {
        let records = csv_records("a,b\n\"x\"y,z\nok,1\n\"open,2\n");
        assert_eq!(records[1].0, 2);
        assert!(records[1].1.is_err());
        assert_eq!(records[2], (3, Ok(vec!["ok".into(), "1".into()])));
        assert_eq!(records[3].0, 4);
        assert!(records[3].1.as_ref().unwrap_err().contains("never closed"));
    }

    #[test]
    fn csv_rows_are_checked_together() {
        let text = "address,password,password_hash,quota,name\n\
                    jane@example.test,correct horse battery,,2G,Jane Doe\n\
                    not-an-address,correct horse battery,,,\n\
                    bob@nowhere.test,correct horse battery,,,\n\
                    admin@example.test,correct horse battery,,,\n\
                    JANE@example.test,correct horse battery,,,\n\
                    tom@example.org,,{MD5}abc,,\n\
                    ann@example.org,short,,,\n\
                    joe@example.org,correct horse battery,,lots,\n\
                    \"Doe, Jim\",x\n";
        let plan = plan_users(&config(), Format::Csv, text).unwrap();
        assert_eq!(plan.mailboxes.len(), 1);
        let jane = &plan.mailboxes[0];
        assert_eq!(jane.mailbox.address, "jane@example.test");
        assert_eq!(jane.mailbox.quota, Some(Size::from_bytes(2 << 30)));
        assert_eq!(jane.mailbox.name.as_deref(), Some("Jane Doe"));
        assert!(matches!(jane.password, Password::Plain(_)));
        let lines: Vec<usize> = plan.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9, 10]);
        assert!(plan.rejected[3].message.contains("first on line 2"));
        assert!(!format!("{:?}", jane.password).contains("horse"));
    }

    #[test]
    fn csv_header_problems_fail_the_file() {
        let error = plan_users(&config(), Format::Csv, "address,secret\n").unwrap_err();
        assert_eq!(error.line, Some(1));
        assert!(error.message.contains("`secret`"));
        assert!(plan_users(&config(), Format::Csv, "").is_err());
    }

    #[test]
    fn yaml_items_have_their_lines() {
        let text = "# users\n- address: jane@example.test\n  password_hash: \"{SHA512-CRYPT}$6$abcdefgh$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n  quota: 1073741824\n\
                    - address: bad\n  password: correct horse battery\n\
                    - address: tom@example.test\n  pasword: typo\n";
        let plan = plan_users(&config(), Format::Yaml, text).unwrap();
        assert_eq!(plan.mailboxes.len(), 1);
        assert_eq!(plan.mailboxes[0].line, 2);
        assert_eq!(plan.mailboxes[0].password, Password::Hashed);
        assert_eq!(
            plan.mailboxes[0].mailbox.quota,
            Some(Size::from_bytes(1 << 30))
        );
        let lines: Vec<usize> = plan.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![5, 7]);
    }

    #[test]
    fn validation_problems_are_blamed_on_their_row() {
        // A malformed SHA512-CRYPT body passes `recognise` but not validation.
        let text = "address,password_hash,name\n\
                    ok@example.test,{SHA512-CRYPT}$6$abcdefgh$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,\n\
                    short@example.test,{SHA512-CRYPT}$6$abcdefgh$tooshort,\n\
                    colon@example.test,{SHA512-CRYPT}$6$abcdefgh$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,a:b\n";
        let plan = plan_users(&config(), Format::Csv, text).unwrap();
        assert_eq!(plan.mailboxes.len(), 1);
        let lines: Vec<usize> = plan.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4]);
    }

    #[test]
    fn mailu_hashes_are_classified() {
        let bcrypt = "$2b$12$.jCd/elm57j.jKKOaH29hOKrf8dgLTwsitGTvQWIuMXYjUu3SQVYu";
        assert_eq!(
            classify_mailu_hash(bcrypt),
            MailuHash::Keep(format!("{{BLF-CRYPT}}{bcrypt}"))
        );
        assert_eq!(
            classify_mailu_hash(&format!("{{BLF-CRYPT}}{bcrypt}")),
            MailuHash::Keep(format!("{{BLF-CRYPT}}{bcrypt}"))
        );
        assert!(matches!(
            classify_mailu_hash(&format!("{{SHA512-CRYPT}}{bcrypt}")),
            MailuHash::Invalid(_)
        ));
        let sha512 = "$6$rounds=656000$abcdefghijklmnop$PbrD44.erjbVptVptKKeYd0r75pDPZoDsZLt1WE6fThAb/Bg7m0OVGqugBemdDmTgywLm932ztJPHiFmf9x3X/";
        assert_eq!(
            classify_mailu_hash(sha512),
            MailuHash::Keep(format!("{{SHA512-CRYPT}}{sha512}"))
        );
        for unverifiable in [
            "{PBKDF2}$pbkdf2-sha256$29000$N2ZPaQ1BxRsvdQ$cnhGd1Ec0Cw7m8DHY8lUbdRh5zD0vaXr3OJKtETVbmE",
            "$pbkdf2-sha512$25000$abc$def",
            "$bcrypt-sha256$v=2,t=2b,r=12$n79VH.0Q2TMWmt3Oqt9uku$Kq4Noyk3094Y2QlB8NdRT8SvGiI4ft2",
            "{MD5-CRYPT}$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0",
            "abJnggxhB/yWI",
        ] {
            assert!(
                matches!(classify_mailu_hash(unverifiable), MailuHash::Reset { .. }),
                "{unverifiable}"
            );
        }
        for invalid in ["hunter2 is my password", "{PLAIN}secret", ""] {
            assert!(
                matches!(classify_mailu_hash(invalid), MailuHash::Invalid(_)),
                "{invalid}"
            );
        }
    }

    #[test]
    fn mailu_wildcards_and_new_domains() {
        let bcrypt = "$2b$12$.jCd/elm57j.jKKOaH29hOKrf8dgLTwsitGTvQWIuMXYjUu3SQVYu";
        let text = format!(
            "domain:\n  - name: Shop.Example\n\nuser:\n  - email: ann@shop.example\n    password: '{bcrypt}'\n\n\
             alias:\n  - email: '%@shop.example'\n    destination: [ann@shop.example]\n    wildcard: true\n\
             \x20 - email: 'sales-%@shop.example'\n    destination: ann@shop.example\n    wildcard: true\n\
             \x20 - email: info@nowhere.example\n    destination: [ann@shop.example]\n"
        );
        let plan = plan_mailu(&config(), &text).unwrap();
        assert_eq!(plan.domains.len(), 1);
        assert_eq!(plan.domains[0].value.name, "shop.example");
        assert_eq!(plan.mailboxes[0].line, 5);
        assert_eq!(
            plan.mailboxes[0].mailbox.quota,
            Some(Size::from_bytes(MAILU_DEFAULT_QUOTA_BYTES))
        );
        let sources: Vec<&str> = plan
            .aliases
            .iter()
            .map(|alias| alias.value.source.as_str())
            .collect();
        assert_eq!(
            sources,
            vec![
                "@shop.example",
                "postmaster@shop.example",
                "abuse@shop.example"
            ]
        );
        let lines: Vec<usize> = plan.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![12, 15]);
    }

    #[test]
    fn not_a_mailu_export() {
        assert!(plan_mailu(&config(), "- address: a@example.test\n").is_err());
        assert!(plan_mailu(&config(), "other: 1\n").is_err());
    }
}
