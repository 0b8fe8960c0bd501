//! The command line, as clap types only: no I/O here. Each `///` comment is
//! the option's `--help` text. The spellings are a contract with scripts.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "mailctl",
    version,
    about = "Run a secure, deliverable mail server for many domains on one Docker host",
    propagate_version = true
)]
pub struct Cli {
    /// The project directory (holds mailctl.yaml)
    #[arg(
        short = 'C',
        long = "dir",
        global = true,
        value_name = "DIR",
        env = "MAILCTL_DIR"
    )]
    pub dir: Option<PathBuf>,
    /// Print machine-readable JSON on stdout where a command has data
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors and warnings
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Answer yes to confirmations and take defaults for questions
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once; boxing buys nothing
pub enum Command {
    /// Create a project: mailctl.yaml, secrets, DKIM keys, the first mailbox, and the rendered stack
    Init(InitArgs),
    /// Render docker-compose.yml and every service's configuration from mailctl.yaml
    Render(RenderArgs),
    /// Build the images, create and start the stack, and wait until every service is healthy
    Up(UpArgs),
    /// Stop and remove the stack's containers and network (mail in the volumes is kept)
    Down(DownArgs),
    /// Show each service's state, health, image, uptime and ports
    Status(StatusArgs),
    /// Show the logs of one service, or of every service
    Logs(LogsArgs),
    /// Restart one service, or every service, and wait until it is healthy
    Restart(RestartArgs),
    /// Show the DNS records each domain needs, or push them over RFC 2136
    Dns(DnsArgs),
    /// Check everything a mail server needs (stack, network, DNS, blocklists, TLS, relay) and say what to fix
    Doctor(DoctorArgs),
    /// Add, remove and list mail domains (applied live)
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Add, remove and change mailboxes (applied live)
    #[command(subcommand)]
    User(UserCommand),
    /// Add, remove and list aliases; `@domain` as the source is a catch-all (applied live)
    #[command(subcommand)]
    Alias(AliasCommand),
    /// List, add and lift bans of addresses that kept failing to log in
    #[command(subcommand)]
    Ban(BanCommand),
    /// Import domains, mailboxes and aliases from another mail server (applied live)
    #[command(subcommand)]
    Import(ImportCommand),
    /// Obtain, renew and inspect the TLS certificates (ACME: Let's Encrypt)
    #[command(subcommand)]
    Cert(CertCommand),
    /// Write one archive of every mailbox, the queue, spam data, keys, certificates and the configuration
    Backup(BackupArgs),
    /// Verify an archive, then restore it into an empty project directory (or over a stopped stack with `--yes`)
    Restore(RestoreArgs),
    /// Back up, rebuild images with fresh packages, migrate the configuration, recreate services one at a time; roll back on failure
    Upgrade(UpgradeArgs),
}

#[derive(Debug, Subcommand)]
pub enum BanCommand {
    /// The banned addresses (IPv6 by /64), with when each ban ends and why
    List,
    /// Ban an address (or network) on every published port now
    Add {
        address: String,
        /// How long: `90s`, `10m`, `1h`, `7d` (default: `security.bans.duration`)
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
    },
    /// Lift a ban at once and forget the address's earlier bans
    Remove { address: String },
}

#[derive(Debug, Default, Args)]
pub struct BackupArgs {
    /// The folder for the archive (default: the project's `backups/`)
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Keep only the newest N archives of this project in that folder
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
}

#[derive(Debug, Default, Args)]
pub struct RestoreArgs {
    /// The `.tar.zst` archive written by `mailctl backup`
    #[arg(value_name = "ARCHIVE")]
    pub archive: PathBuf,
}

#[derive(Debug, Default, Args)]
pub struct UpgradeArgs {
    /// Show which services would change and why, and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not rebuild mailctl's images; only apply new image references, templates and configuration
    #[arg(long)]
    pub skip_rebuild: bool,
    /// Seconds each recreated service may take to become healthy before everything is rolled back
    #[arg(long, value_name = "SECONDS", default_value_t = 180)]
    pub timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsModeArg {
    Letsencrypt,
    SelfSigned,
    Custom,
}

#[derive(Debug, Default, Args)]
pub struct InitArgs {
    /// The mail server's full name, the target of every domain's MX (e.g. mail.example.com)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// A domain to receive mail for; repeat for more (the first is the primary domain)
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// The first mailbox, which also receives postmaster and abuse mail
    #[arg(long, value_name = "ADDRESS")]
    pub admin: Option<String>,
    /// Read the first mailbox's password from the first line of stdin
    #[arg(long)]
    pub admin_password_stdin: bool,
    /// Where TLS certificates come from
    #[arg(long, value_enum, value_name = "MODE")]
    pub tls: Option<TlsModeArg>,
    /// Contact address for the ACME (Let's Encrypt) account
    #[arg(long, value_name = "ADDRESS")]
    pub acme_email: Option<String>,
    /// ACME directory URL (default: Let's Encrypt production)
    #[arg(long, value_name = "URL")]
    pub acme_directory: Option<String>,
    /// For `--tls custom`: the certificate chain (PEM)
    #[arg(long, value_name = "FILE")]
    pub certificate_file: Option<PathBuf>,
    /// For `--tls custom`: the private key (PEM)
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// A host address to publish the ports on; repeat for more (default 0.0.0.0)
    #[arg(long = "bind", value_name = "ADDRESS")]
    pub bind: Vec<IpAddr>,
    /// The server's public address for DNS records, when it differs from the bind addresses
    #[arg(long = "public-address", value_name = "ADDRESS")]
    pub public_addresses: Vec<IpAddr>,
    /// Move or turn off a published port: NAME=NUMBER or NAME=off
    /// (names: smtp submissions submission imaps pop3s sieve http https)
    #[arg(long = "port", value_name = "NAME=NUMBER")]
    pub ports: Vec<String>,
    /// The Docker network's private IPv4 subnet
    #[arg(long, value_name = "CIDR")]
    pub subnet: Option<String>,
    /// The Compose project name, which prefixes containers, networks and volumes
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// This machine has no Internet DNS (tests, demos): outside lookups fail at once
    #[arg(long)]
    pub offline_dns: bool,
    /// Read answers from a YAML file (keys as the long flags, with `_` for `-`)
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// Rewrite an existing project's mailctl.yaml (DKIM keys, secrets and mailboxes are kept)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Default, Args)]
pub struct RenderArgs {
    /// Change nothing; exit 1 if any generated file is out of date
    #[arg(long)]
    pub check: bool,
    /// Show what would change as a unified diff
    #[arg(long)]
    pub diff: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum DnsFormat {
    #[default]
    Zone,
    Table,
    Json,
}

#[derive(Debug, Default, Args)]
pub struct DnsArgs {
    /// Only this domain (default: every domain)
    #[arg(value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: DnsFormat,
    #[command(subcommand)]
    pub command: Option<DnsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Add missing records and replace stale ones that mailctl owns with RFC 2136 updates (TSIG-signed); other records are never touched
    Push(DnsPushArgs),
}

#[derive(Debug, Args)]
pub struct DnsPushArgs {
    /// Only this domain (default: every domain)
    #[arg(value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// The primary (authoritative) DNS server accepting updates
    #[arg(long, value_name = "HOST[:PORT]")]
    pub server: String,
    /// The TSIG key in BIND's format (`tsig-keygen NAME > FILE`)
    #[arg(long, value_name = "FILE")]
    pub tsig_key: PathBuf,
    /// Print the update and send nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Default, Args)]
pub struct DoctorArgs {
    /// Only this domain (default: every domain)
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// The DNS resolver to ask (default: the system's); blocklists refuse public resolvers
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,
}

#[derive(Debug, Default, Args)]
pub struct UpArgs {
    /// Print the plan (images to build, containers to create, recreate, start or remove) and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds each service may take to become healthy
    #[arg(long, value_name = "SECONDS", default_value_t = 180)]
    pub timeout: u64,
}

#[derive(Debug, Default, Args)]
pub struct DownArgs {
    /// Also delete the named volumes: every mailbox, the queue and learned spam data (asks first; needs `--yes` without a terminal)
    #[arg(long)]
    pub volumes: bool,
}

#[derive(Debug, Default, Args)]
pub struct StatusArgs {}

#[derive(Debug, Default, Args)]
pub struct LogsArgs {
    /// Only this service (smtp, imap, antispam, redis, resolver, web)
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,
    /// Keep printing new lines as they come
    #[arg(short, long)]
    pub follow: bool,
    /// Start with the last N lines of each log
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
}

#[derive(Debug, Default, Args)]
pub struct RestartArgs {
    /// Only this service (default: every service)
    #[arg(value_name = "SERVICE")]
    pub service: Option<String>,
    /// Seconds each service may take to become healthy again
    #[arg(long, value_name = "SECONDS", default_value_t = 180)]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Add a domain: DKIM keys, role aliases, live apply, then the DNS records to publish
    Add {
        /// The domain (internationalised names are accepted)
        domain: String,
    },
    /// Remove a domain; refused while it has mailboxes or aliases unless `--purge`
    Remove {
        domain: String,
        /// Also remove its mailboxes and aliases from the configuration (mail stays on disk)
        #[arg(long)]
        purge: bool,
        /// With `--purge`: also delete the domain's mail from the mail volume
        #[arg(long, requires = "purge")]
        delete_mail: bool,
    },
    /// List domains with their mailboxes and aliases
    List,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a mailbox
    Add {
        address: String,
        /// Read the password from the first line of stdin
        #[arg(long)]
        password_stdin: bool,
        /// Storage quota, e.g. `500M` or `2G` (default: none)
        #[arg(long, value_name = "SIZE")]
        quota: Option<String>,
        /// Display name
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove a mailbox; its mail is kept unless `--purge`
    Remove {
        address: String,
        /// Also delete the mailbox's mail
        #[arg(long)]
        purge: bool,
    },
    /// List mailboxes
    List {
        /// Only this domain
        domain: Option<String>,
    },
    /// Set a new password
    Passwd {
        address: String,
        /// Read the password from the first line of stdin
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set the storage quota (`2G`, `500M`, or `none`)
    Quota { address: String, size: String },
    /// Refuse logins for a mailbox; mail for it is still delivered and kept
    Disable { address: String },
    /// Allow logins again
    Enable { address: String },
    /// Forward the mailbox's mail to other addresses (Sieve redirect; SPF-safe envelope)
    Forward {
        address: String,
        /// A destination; repeat for several
        #[arg(long = "to", value_name = "ADDRESS", required_unless_present = "off")]
        to: Vec<String>,
        /// Keep a copy in the mailbox as well
        #[arg(long)]
        keep: bool,
        /// Stop forwarding
        #[arg(long, conflicts_with_all = ["to", "keep"])]
        off: bool,
    },
    /// Answer incoming mail automatically, once per sender, optionally between two dates
    Autoreply {
        address: String,
        /// Subject of the reply
        #[arg(long, required_unless_present = "off")]
        subject: Option<String>,
        /// A file holding the reply's text
        #[arg(long, value_name = "FILE", required_unless_present = "off")]
        body_file: Option<std::path::PathBuf>,
        /// First day to answer (YYYY-MM-DD)
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Last day to answer (YYYY-MM-DD)
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// Stop answering
        #[arg(long, conflicts_with_all = ["subject", "body_file", "from", "until"])]
        off: bool,
    },
    /// Send the mail held by the outbound brake for a mailbox and clear its counts
    ///
    /// Past `security.outbound_alert_per_hour` or `_per_day` recipients (or
    /// the mailbox's own `outbound_alert`), a sender's mail is held in the
    /// queue and the postmaster is told. This sends what is held, or with
    /// `--delete` discards it (after a stolen password), and starts the
    /// mailbox's counts from zero.
    Release {
        address: String,
        /// Delete the held mail instead of sending it
        #[arg(long)]
        delete: bool,
    },
    /// Create many mailboxes from a CSV or YAML file, applied live once
    ///
    /// CSV: a header line `address,password,password_hash,quota,name`, then one
    /// mailbox per line; YAML: a list of maps with the same keys. Each row gives
    /// either a password (hashed with Argon2id) or a Dovecot hash such as
    /// `{SHA512-CRYPT}$6$…` (kept as it is). Every row is checked first; if any
    /// is invalid, all of them are reported with their line numbers and nothing
    /// is imported, unless `--skip-invalid`.
    Import {
        /// The file to read (`.csv`, `.yaml`, `.yml` or `.json`)
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Import the valid rows and report the invalid ones
        #[arg(long)]
        skip_invalid: bool,
        /// The file's format (default: from its extension)
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<ImportFormat>,
    },
}

/// The formats `mailctl user import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    Csv,
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import the YAML that Mailu's `flask mailu config-export --secrets` writes
    ///
    /// Imports domains (with new DKIM keys, as `mailctl domain add` makes),
    /// users, aliases (a `%@domain` wildcard becomes the `@domain` catch-all),
    /// forwarding and automatic replies. `quota_bytes` becomes the quota (left
    /// out: Mailu's default of 1000000000 bytes; 0: none).
    ///
    /// Password hashes that Dovecot verifies are kept: bcrypt (`$2b$`, as
    /// `{BLF-CRYPT}`), `$6$` (`{SHA512-CRYPT}`) and `$5$` (`{SHA256-CRYPT}`),
    /// with or without Mailu's `{SCHEME}` label. Users whose hash Dovecot cannot
    /// verify (passlib's `$pbkdf2-sha256$` behind Mailu's `{PBKDF2}`, Mailu 2's
    /// `$bcrypt-sha256$`) or that mailctl refuses as weak (`{MD5-CRYPT}`, DES
    /// `{CRYPT}`) are imported DISABLED with an unusable random hash, and listed:
    /// set a password with `mailctl user passwd ADDRESS`, then
    /// `mailctl user enable ADDRESS`. Mail for them is delivered meanwhile.
    ///
    /// Not imported (each is reported): alternative domains, relays, tokens and
    /// fetched accounts; Mailu's DKIM keys are replaced by new ones. Spam
    /// settings, IMAP/POP switches and admin rights are ignored.
    Mailu {
        /// The export (YAML or JSON)
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Import the valid entries and report the invalid ones
        #[arg(long)]
        skip_invalid: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Deliver mail for SOURCE to each DESTINATION (local or external); adds to an existing alias
    Add {
        /// `name@domain`, or `@domain` for a catch-all
        source: String,
        #[arg(required = true)]
        destinations: Vec<String>,
    },
    /// Remove an alias, or only some of its destinations
    Remove {
        source: String,
        destinations: Vec<String>,
    },
    /// List aliases
    List {
        /// Only this domain
        domain: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Obtain certificates for the hostname and every domain's web names now, install them and reload the services
    Issue(CertIssueArgs),
    /// Renew the certificates that are due (within `tls.renew_before_days` of expiry, or in the CA's renewal window); safe to run daily
    Renew(CertRenewArgs),
    /// Move the hostname's certificate to the next key, whose TLSA `3 1 1` record `mailctl dns` has published beside the current one (`tls.reuse_key`)
    Rollover(CertRolloverArgs),
    /// Show each certificate's names, issuer, expiry and last renewal attempt
    Status,
    /// Install a daily systemd timer that runs `cert renew` (prints a cron line where there is no systemd)
    InstallTimer(CertTimerArgs),
}

#[derive(Debug, Default, Args)]
pub struct CertAcmeArgs {
    /// Trust this CA (PEM) for the ACME server's own HTTPS certificate (test CAs such as Pebble)
    #[arg(long, value_name = "FILE")]
    pub acme_ca_root: Option<PathBuf>,
    /// Use Let's Encrypt's staging server (untrusted certificates, generous rate limits)
    #[arg(long, conflicts_with = "acme_directory")]
    pub staging: bool,
    /// Use this ACME directory URL instead of `tls.acme_directory`
    #[arg(long, value_name = "URL")]
    pub acme_directory: Option<String>,
    /// Check names with this DNS resolver (IP[:PORT]) instead of the system's
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,
    /// Keep the current private key (a published TLSA `3 1 1` record stays valid)
    #[arg(long)]
    pub reuse_key: bool,
    /// Skip the checks before ordering (names resolve, the challenge path answers)
    #[arg(long)]
    pub no_check: bool,
}

#[derive(Debug, Default, Args)]
pub struct CertIssueArgs {
    #[command(flatten)]
    pub acme: CertAcmeArgs,
}

#[derive(Debug, Default, Args)]
pub struct CertRenewArgs {
    #[command(flatten)]
    pub acme: CertAcmeArgs,
    /// Renew when a certificate expires within this many days (default: `tls.renew_before_days`, 30)
    #[arg(long, value_name = "DAYS")]
    pub renew_before_days: Option<u32>,
}

#[derive(Debug, Default, Args)]
pub struct CertRolloverArgs {
    #[command(flatten)]
    pub acme: CertAcmeArgs,
    /// Roll over even though DNS does not serve the next key's TLSA record yet
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Default, Args)]
pub struct CertTimerArgs {
    /// Where the systemd units go
    #[arg(long, value_name = "DIR", default_value = "/etc/systemd/system")]
    pub unit_dir: PathBuf,
    /// Only print the units (or the cron line); change nothing
    #[arg(long)]
    pub print: bool,
}
