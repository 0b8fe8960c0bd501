//! Talking to an authoritative DNS server directly: queries for what a zone
//! holds now, and dynamic updates (RFC 2136) signed with a TSIG key
//! (RFC 8945), sent over TCP. `dns push` and the DNS-01 challenge use it.
//!
//! Record data crosses this module's boundary as master-file text, the form
//! [`super::records::rdata`] prints; [`canonical`] turns any such text into one
//! normal form so that expected and published data compare by meaning, not
//! by spelling (`"a" "b"` and `"ab"` are different TXT records; `10 mx.`
//! spelled in capitals is the same MX).

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType as WireType, TSigner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::records::RecordType;
use crate::error::attach;

/// How long one exchange with the server may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest clock difference the server may accept (RFC 8945 §5.2.3
/// recommends 300 seconds).
const TSIG_FUDGE: u16 = 300;

/// A TSIG key as BIND's `tsig-keygen` and `ddns-confgen` write it:
/// `key "NAME" { algorithm hmac-sha256; secret "BASE64"; };`.
#[derive(Clone)]
pub struct TsigKey {
    pub name: String,
    pub algorithm: String,
    secret: Vec<u8>,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl TsigKey {
    pub fn from_file(path: &Path) -> anyhow::Result<TsigKey> {
        let text = fs_err::read_to_string(path).map_err(|error| {
            attach(
                error.into(),
                "pass the key file your DNS server accepts updates with (made by `tsig-keygen NAME`)"
                    .to_owned(),
            )
        })?;
        TsigKey::parse(&text)
            .with_context(|| format!("reading the TSIG key in `{}`", path.display()))
    }

    /// Parses the first `key` statement of a BIND key file.
    pub fn parse(text: &str) -> anyhow::Result<TsigKey> {
        let hint = "the file should look like `key \"NAME\" { algorithm hmac-sha256; secret \"BASE64\"; };`, as `tsig-keygen NAME` writes it";
        let text = strip_comments(text);
        let rest = text
            .trim_start()
            .strip_prefix("key")
            .ok_or_else(|| attach(anyhow!("no `key` statement found"), hint.to_owned()))?;
        let (name, body) = rest
            .split_once('{')
            .ok_or_else(|| attach(anyhow!("the `key` statement has no `{{`"), hint.to_owned()))?;
        let name = name
            .trim()
            .trim_matches('"')
            .trim_end_matches('.')
            .to_owned();
        let body = body
            .split_once('}')
            .map(|(body, _)| body)
            .ok_or_else(|| attach(anyhow!("the `key` statement has no `}}`"), hint.to_owned()))?;
        let mut algorithm = None;
        let mut secret = None;
        for statement in body.split(';') {
            let statement = statement.trim();
            if let Some(value) = statement.strip_prefix("algorithm") {
                algorithm = Some(value.trim().trim_matches('"').to_ascii_lowercase());
            } else if let Some(value) = statement.strip_prefix("secret") {
                secret = Some(value.trim().trim_matches('"').to_owned());
            }
        }
        if name.is_empty() {
            return Err(attach(anyhow!("the key has no name"), hint.to_owned()));
        }
        let algorithm = algorithm
            .ok_or_else(|| attach(anyhow!("key `{name}` has no `algorithm`"), hint.to_owned()))?;
        let secret = secret
            .ok_or_else(|| attach(anyhow!("key `{name}` has no `secret`"), hint.to_owned()))?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret.as_bytes())
            .map_err(|error| {
                attach(
                    anyhow!("the secret of key `{name}` is not base64: {error}"),
                    hint.to_owned(),
                )
            })?;
        let key = TsigKey {
            name,
            algorithm,
            secret,
        };
        key.wire_algorithm()?;
        Ok(key)
    }

    fn wire_algorithm(&self) -> anyhow::Result<TsigAlgorithm> {
        match self.algorithm.trim_end_matches('.') {
            "hmac-sha256" => Ok(TsigAlgorithm::HmacSha256),
            "hmac-sha384" => Ok(TsigAlgorithm::HmacSha384),
            "hmac-sha512" => Ok(TsigAlgorithm::HmacSha512),
            other => Err(attach(
                anyhow!("TSIG algorithm `{other}` of key `{}` is not supported", self.name),
                "make a key with `tsig-keygen -a hmac-sha256 NAME` (hmac-sha384 and hmac-sha512 also work)"
                    .to_owned(),
            )),
        }
    }

    fn signer(&self) -> anyhow::Result<TSigner> {
        let name = Name::from_ascii(&self.name)
            .with_context(|| format!("TSIG key name `{}`", self.name))?;
        TSigner::new(
            self.secret.clone(),
            self.wire_algorithm()?,
            name,
            TSIG_FUDGE,
        )
        .map_err(|error| anyhow!("TSIG key `{}`: {error}", self.name))
    }
}

/// Removes `//` and `#` comments, but not inside quoted strings: a base64
/// secret may well contain `//`.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut quoted = false;
            let mut end = line.len();
            let bytes = line.as_bytes();
            for (index, byte) in bytes.iter().enumerate() {
                match byte {
                    b'"' => quoted = !quoted,
                    b'#' if !quoted => {
                        end = index;
                        break;
                    }
                    b'/' if !quoted && bytes.get(index + 1) == Some(&b'/') => {
                        end = index;
                        break;
                    }
                    _ => {}
                }
            }
            &line[..end]
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One change in an update. Owner names are absolute, without the trailing
/// dot; data is master-file text (see the module comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Add {
        name: String,
        ttl: u32,
        rtype: RecordType,
        data: String,
    },
    DeleteRrset {
        name: String,
        rtype: RecordType,
    },
    DeleteRecord {
        name: String,
        rtype: RecordType,
        data: String,
    },
}

impl fmt::Display for Change {
    /// The change as `nsupdate` would spell it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Add {
                name,
                ttl,
                rtype,
                data,
            } => write!(f, "update add {name}. {ttl} IN {} {data}", rtype.as_str()),
            Change::DeleteRrset { name, rtype } => {
                write!(f, "update delete {name}. IN {}", rtype.as_str())
            }
            Change::DeleteRecord { name, rtype, data } => {
                write!(f, "update delete {name}. IN {} {data}", rtype.as_str())
            }
        }
    }
}

fn wire_type(rtype: RecordType) -> WireType {
    match rtype {
        RecordType::A => WireType::A,
        RecordType::Aaaa => WireType::AAAA,
        RecordType::Mx => WireType::MX,
        RecordType::Txt => WireType::TXT,
        RecordType::Srv => WireType::SRV,
        RecordType::Cname => WireType::CNAME,
        RecordType::Caa => WireType::CAA,
        RecordType::Tlsa => WireType::TLSA,
        RecordType::Ptr => WireType::PTR,
    }
}

fn absolute_name(name: &str) -> anyhow::Result<Name> {
    let mut parsed = Name::from_ascii(name.trim_end_matches('.'))
        .with_context(|| format!("`{name}` is not a valid DNS name"))?;
    parsed.set_fqdn(true);
    Ok(parsed)
}

fn parse_data(rtype: RecordType, data: &str) -> anyhow::Result<RData> {
    RData::try_from_str(wire_type(rtype), data)
        .map_err(|error| anyhow!("`{data}` is not valid {} data: {error}", rtype.as_str()))
}

/// Record data in one normal form: names lower case and absolute, TXT as
/// quoted character-strings exactly as split on the wire.
pub fn canonical(rtype: RecordType, data: &str) -> anyhow::Result<String> {
    Ok(present(&parse_data(rtype, data)?))
}

fn present(data: &RData) -> String {
    match data {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|bytes| super::records::quote(bytes))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string().to_ascii_lowercase(),
    }
}

/// A client for one authoritative server and one key.
#[derive(Debug, Clone)]
pub struct UpdateClient {
    server: SocketAddr,
    key: TsigKey,
}

impl UpdateClient {
    pub fn new(server: SocketAddr, key: TsigKey) -> UpdateClient {
        UpdateClient { server, key }
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The zone `name` belongs to: the closest enclosing name that has an SOA
    /// record at this server.
    pub async fn find_zone(&self, name: &str) -> anyhow::Result<String> {
        let mut candidate = name.trim_end_matches('.').to_ascii_lowercase();
        loop {
            let response = self.exchange_query(&candidate, WireType::SOA).await?;
            // The SOA comes as the answer at the apex, and in the authority
            // section of an authoritative NXDOMAIN or NODATA answer below it.
            let soa_owner = response
                .answers
                .iter()
                .chain(response.authorities.iter())
                .find(|record| record.record_type() == WireType::SOA)
                .map(|record| {
                    record
                        .name
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase()
                });
            if let Some(zone) = soa_owner {
                if response.metadata.authoritative {
                    return Ok(zone);
                }
            }
            match candidate.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => candidate = parent.to_owned(),
                _ => {
                    return Err(attach(
                        anyhow!(
                            "DNS server {} is not authoritative for any zone holding `{name}`",
                            self.server
                        ),
                        "pass the primary server of the domain's zone with `--server HOST[:PORT]`"
                            .to_owned(),
                    ))
                }
            }
        }
    }

    /// The records of one name and type at this server, as (TTL, data in
    /// [`canonical`] form).
    pub async fn query(&self, name: &str, rtype: RecordType) -> anyhow::Result<Vec<(u32, String)>> {
        let response = self.exchange_query(name, wire_type(rtype)).await?;
        match response.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            code => bail!(
                "DNS server {} answered {code} to the {} query for `{name}`",
                self.server,
                rtype.as_str()
            ),
        }
        Ok(response
            .answers
            .iter()
            .filter(|record| {
                record.record_type() == wire_type(rtype) && same_name(&record.name, name)
            })
            .map(|record| (record.ttl, present(&record.data)))
            .collect())
    }

    /// Sends every change as one signed UPDATE of `zone`: the server applies
    /// all of them or none (RFC 2136 §3.4).
    pub async fn apply(&self, zone: &str, changes: &[Change]) -> anyhow::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let zone_name = absolute_name(zone)?;
        let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Update);
        message.metadata.recursion_desired = false;
        let mut zone_query = Query::new();
        zone_query
            .set_name(zone_name.clone())
            .set_query_class(DNSClass::IN)
            .set_query_type(WireType::SOA);
        message.add_query(zone_query);
        for change in changes {
            let record = match change {
                Change::Add {
                    name,
                    ttl,
                    rtype,
                    data,
                } => Record::from_rdata(absolute_name(name)?, *ttl, parse_data(*rtype, data)?),
                Change::DeleteRrset { name, rtype } => {
                    let mut record = Record::update0(absolute_name(name)?, 0, wire_type(*rtype));
                    record.dns_class = DNSClass::ANY;
                    record
                }
                Change::DeleteRecord { name, rtype, data } => {
                    let mut record =
                        Record::from_rdata(absolute_name(name)?, 0, parse_data(*rtype, data)?);
                    record.dns_class = DNSClass::NONE;
                    record
                }
            };
            if !zone_name.zone_of(&record.name) {
                bail!("`{}` is not in zone `{zone}`", record.name);
            }
            message.authorities.push(record);
        }
        let signer = self.key.signer()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or_default();
        let verifier = message
            .finalize(&signer, now)
            .map_err(|error| anyhow!("signing the update with key `{}`: {error}", self.key.name))?;
        let bytes = message
            .to_vec()
            .map_err(|error| anyhow!("encoding the update: {error}"))?;
        let reply = self.exchange(&bytes).await?;
        let unverified =
            Message::from_vec(&reply).map_err(|error| anyhow!("reading the answer: {error}"))?;
        // A refusal is believed as it comes: a server that does not know the
        // key cannot sign its answer (RFC 8945 §5.3.2). Success must be signed.
        let response = match (verifier, unverified.metadata.response_code) {
            (Some(mut verifier), ResponseCode::NoError) => verifier
                .verify(&reply)
                .map_err(|error| {
                    attach(
                        anyhow!(
                            "the answer of {} to the update is not signed with key `{}`: {error}",
                            self.server,
                            self.key.name
                        ),
                        "check that the server knows this key".to_owned(),
                    )
                })?
                .into_message(),
            _ => unverified,
        };
        if response.metadata.id != message.metadata.id {
            bail!("DNS server {} answered another request", self.server);
        }
        match response.metadata.response_code {
            ResponseCode::NoError => Ok(()),
            code => Err(attach(
                anyhow!(
                    "DNS server {} refused the update of zone `{zone}`: {code}",
                    self.server
                ),
                update_hint(code, &self.key.name, zone),
            )),
        }
    }

    async fn exchange_query(&self, name: &str, rtype: WireType) -> anyhow::Result<Message> {
        let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = false;
        message.add_query(Query::query(absolute_name(name)?, rtype));
        let bytes = message
            .to_vec()
            .map_err(|error| anyhow!("encoding the query: {error}"))?;
        let reply = self.exchange(&bytes).await?;
        let response =
            Message::from_vec(&reply).map_err(|error| anyhow!("reading the answer: {error}"))?;
        if response.metadata.id != message.metadata.id {
            bail!("DNS server {} answered another request", self.server);
        }
        Ok(response)
    }

    /// One request and its answer over TCP, each with a two-octet length
    /// (RFC 1035 §4.2.2).
    async fn exchange(&self, request: &[u8]) -> anyhow::Result<Vec<u8>> {
        let server = self.server;
        let exchange = async {
            let mut stream = TcpStream::connect(server).await?;
            let length = u16::try_from(request.len())
                .map_err(|_| std::io::Error::other("request longer than 65535 octets"))?;
            let mut framed = Vec::with_capacity(request.len() + 2);
            framed.extend_from_slice(&length.to_be_bytes());
            framed.extend_from_slice(request);
            stream.write_all(&framed).await?;
            let length = stream.read_u16().await?;
            let mut reply = vec![0; usize::from(length)];
            stream.read_exact(&mut reply).await?;
            Ok::<_, std::io::Error>(reply)
        };
        match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => Err(attach(
                anyhow::Error::new(error).context(format!("talking to DNS server {server} over TCP")),
                "check the address and port given with `--server`, and that the server listens on TCP".to_owned(),
            )),
            Err(_) => Err(attach(
                anyhow!("DNS server {server} did not answer within {} seconds", EXCHANGE_TIMEOUT.as_secs()),
                "check the address and port given with `--server`, and any firewall in between".to_owned(),
            )),
        }
    }
}

fn same_name(name: &Name, expected: &str) -> bool {
    name.to_ascii()
        .trim_end_matches('.')
        .eq_ignore_ascii_case(expected.trim_end_matches('.'))
}

/// What to do about an update the server refused.
fn update_hint(code: ResponseCode, key: &str, zone: &str) -> String {
    match code {
        ResponseCode::Refused => format!(
            "the server's log says why: either key `{key}` may not update `{zone}` (add `update-policy {{ grant {key} zonesub ANY; }};` to the zone), or a record failed the server's checks (an MX or SRV target with no address record)"
        ),
        ResponseCode::NotAuth => format!(
            "the server is not the primary of `{zone}`, or does not know key `{key}`: send the update to the zone's primary server"
        ),
        ResponseCode::NotZone => format!("a name in the update is outside zone `{zone}`"),
        ResponseCode::ServFail => "the server failed to apply the update; its log says why".to_owned(),
        _ => format!("check the server's log for the update of `{zone}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_tsig_keygen_file() {
        let key = TsigKey::parse(
            "key \"mailctl-update\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0LWtleS1ieXRlcw==\";\n};\n",
        )
        .unwrap();
        assert_eq!(key.name, "mailctl-update");
        assert_eq!(key.algorithm, "hmac-sha256");
        assert_eq!(key.secret, b"secret-key-bytes");
        assert!(!format!("{key:?}").contains("c2Vj"));
    }

    #[test]
    fn a_secret_with_slashes_is_not_a_comment() {
        // base64 has `/`: `//` inside the quoted secret is data.
        let key = TsigKey::parse(
            "# made by tsig-keygen\nkey \"k\" { // the key\n\talgorithm hmac-sha256;\n\tsecret \"ab//////+AAA\"; # secret\n};\n",
        )
        .unwrap();
        assert_eq!(key.name, "k");
        assert_eq!(key.secret.len(), 9);
    }

    #[test]
    fn refuses_unsupported_or_broken_keys() {
        let md5 = TsigKey::parse("key k { algorithm hmac-md5; secret \"AAAA\"; };");
        assert!(format!("{:#}", md5.unwrap_err()).contains("not supported"));
        let no_secret = TsigKey::parse("key k { algorithm hmac-sha256; };");
        assert!(format!("{:#}", no_secret.unwrap_err()).contains("no `secret`"));
        let not_base64 = TsigKey::parse("key k { algorithm hmac-sha256; secret \"!!\"; };");
        assert!(format!("{:#}", not_base64.unwrap_err()).contains("not base64"));
        assert!(TsigKey::parse("zone example.com {};").is_err());
    }

    #[test]
    fn canonical_data_compares_by_meaning() {
        assert_eq!(
            canonical(RecordType::Mx, "10 MAIL.Example.COM.").unwrap(),
            canonical(RecordType::Mx, "10 mail.example.com.").unwrap()
        );
        assert_eq!(
            canonical(RecordType::Txt, "\"v=spf1 mx -all\"").unwrap(),
            "\"v=spf1 mx -all\""
        );
        assert_ne!(
            canonical(RecordType::Txt, "\"a\" \"b\"").unwrap(),
            canonical(RecordType::Txt, "\"ab\"").unwrap()
        );
        assert!(canonical(RecordType::A, "not-an-address").is_err());
    }

    #[test]
    fn changes_print_as_nsupdate_lines() {
        let add = Change::Add {
            name: "example.com".into(),
            ttl: 3600,
            rtype: RecordType::Mx,
            data: "10 mail.example.com.".into(),
        };
        assert_eq!(
            add.to_string(),
            "update add example.com. 3600 IN MX 10 mail.example.com."
        );
        let delete = Change::DeleteRrset {
            name: "_dmarc.example.com".into(),
            rtype: RecordType::Txt,
        };
        assert_eq!(
            delete.to_string(),
            "update delete _dmarc.example.com. IN TXT"
        );
    }
}
