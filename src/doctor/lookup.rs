//! DNS for `doctor`, through hickory-resolver: the system resolver, or the
//! one `--resolver` names. Blocklists refuse queries from public resolvers
//! (Spamhaus answers 127.255.255.254), so run `doctor` where it uses your
//! own resolver, or point `--resolver` at one. Answers become
//! [`Answer`]s for the pure verdicts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::net::NetError;
use hickory_resolver::proto::op::{Edns, Message, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::TokioResolver;

use super::spf;
use super::verdict::Answer;
use crate::error::WithHint;

/// How long one DNS query may take before it is retried or fails.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Dns {
    resolver: TokioResolver,
    /// The server asked directly for the DNSSEC (AD bit) check.
    server: Option<SocketAddr>,
}

impl Dns {
    /// A resolver asking `server`, or the system's resolvers.
    pub fn new(server: Option<SocketAddr>) -> anyhow::Result<Dns> {
        let settings = crate::net::ResolverSettings {
            timeout: QUERY_TIMEOUT,
            attempts: 2,
            cache: true,
        };
        let (resolver, server) = crate::net::resolver(server, settings)
            .hint("give a resolver with `--resolver IP[:PORT]`")?;
        Ok(Dns { resolver, server })
    }

    async fn records(&self, name: &str, rtype: RecordType) -> Answer<RData> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.lookup(fqdn.as_str(), rtype).await {
            Ok(lookup) => {
                let records: Vec<RData> = lookup
                    .answers()
                    .iter()
                    .filter(|record| record.record_type() == rtype)
                    .map(|record| record.data.clone())
                    .collect();
                if records.is_empty() {
                    Answer::Empty
                } else {
                    Answer::Records(records)
                }
            }
            Err(error) if no_records(&error) => Answer::Empty,
            Err(error) => Answer::Failed(error.to_string()),
        }
    }

    async fn map<T>(
        &self,
        name: &str,
        rtype: RecordType,
        convert: impl Fn(RData) -> Option<T>,
    ) -> Answer<T> {
        match self.records(name, rtype).await {
            Answer::Records(records) => {
                let values: Vec<T> = records.into_iter().filter_map(convert).collect();
                if values.is_empty() {
                    Answer::Empty
                } else {
                    Answer::Records(values)
                }
            }
            Answer::Empty => Answer::Empty,
            Answer::Failed(error) => Answer::Failed(error),
        }
    }

    /// TXT records, each one's character-strings joined (RFC 7208 §3.3).
    pub async fn txt(&self, name: &str) -> Answer<String> {
        self.map(name, RecordType::TXT, |data| match data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .await
    }

    pub async fn mx(&self, name: &str) -> Answer<(u16, String)> {
        self.map(name, RecordType::MX, |data| match data {
            RData::MX(mx) => Some((mx.preference, plain(&mx.exchange))),
            _ => None,
        })
        .await
    }

    pub async fn ipv4(&self, name: &str) -> Answer<Ipv4Addr> {
        self.map(name, RecordType::A, |data| match data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .await
    }

    /// A and AAAA together.
    pub async fn addresses(&self, name: &str) -> Answer<IpAddr> {
        let (v4, v6) = tokio::join!(
            self.ipv4(name),
            self.map(name, RecordType::AAAA, |data| match data {
                RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                _ => None,
            })
        );
        match (v4, v6) {
            (Answer::Failed(error), _) | (_, Answer::Failed(error)) => Answer::Failed(error),
            (v4, v6) => {
                let mut all: Vec<IpAddr> = v4.records().iter().copied().map(IpAddr::V4).collect();
                all.extend(v6.records().iter().copied());
                if all.is_empty() {
                    Answer::Empty
                } else {
                    Answer::Records(all)
                }
            }
        }
    }

    pub async fn ptr(&self, address: IpAddr) -> Answer<String> {
        if address.is_loopback() {
            let name = crate::dns::reverse_name(address);
            return match self.direct(&name, RecordType::PTR, false).await {
                Err(error) => Answer::Failed(error),
                Ok(response) => match response.metadata.response_code {
                    ResponseCode::NoError | ResponseCode::NXDomain => {
                        let names: Vec<String> = response
                            .answers
                            .iter()
                            .filter_map(|record| match &record.data {
                                RData::PTR(ptr) => Some(plain(&ptr.0)),
                                _ => None,
                            })
                            .collect();
                        if names.is_empty() {
                            Answer::Empty
                        } else {
                            Answer::Records(names)
                        }
                    }
                    code => Answer::Failed(format!("{code}")),
                },
            };
        }
        self.map(
            &crate::dns::reverse_name(address),
            RecordType::PTR,
            |data| match data {
                RData::PTR(ptr) => Some(plain(&ptr.0)),
                _ => None,
            },
        )
        .await
    }

    /// CAA records as (tag, value).
    pub async fn caa(&self, name: &str) -> Answer<(String, String)> {
        self.map(name, RecordType::CAA, |data| match data {
            RData::CAA(caa) => Some((
                caa.tag.to_string(),
                String::from_utf8_lossy(&caa.value).into_owned(),
            )),
            _ => None,
        })
        .await
    }

    /// TLSA records as (usage, selector, matching type, data).
    pub async fn tlsa(&self, name: &str) -> Answer<(u8, u8, u8, Vec<u8>)> {
        self.map(name, RecordType::TLSA, |data| match data {
            RData::TLSA(tlsa) => Some((
                u8::from(tlsa.cert_usage),
                u8::from(tlsa.selector),
                u8::from(tlsa.matching),
                tlsa.cert_data.clone(),
            )),
            _ => None,
        })
        .await
    }

    /// Whether the resolver marks the SOA of `name` as authenticated (the
    /// AD bit, RFC 4035 §3.2.3), asking with the DO bit set.
    pub async fn authenticated(&self, name: &str) -> Result<bool, String> {
        let response = self.direct(name, RecordType::SOA, true).await?;
        Ok(response.metadata.authentic_data)
    }

    /// One query sent straight to the resolver over UDP, bypassing the
    /// library's shortcuts (it answers loopback PTR queries itself, as RFC
    /// 6761 §6.3 allows, but doctor must see what the DNS says).
    async fn direct(&self, name: &str, rtype: RecordType, dnssec: bool) -> Result<Message, String> {
        let server = self.server.ok_or("no resolver address is known")?;
        let fqdn = Name::from_ascii(format!("{}.", name.trim_end_matches('.')))
            .map_err(|error| error.to_string())?;
        let mut message = Message::query();
        message.metadata.id = rand::random();
        message.metadata.recursion_desired = true;
        message.metadata.authentic_data = dnssec;
        message.add_query(Query::query(fqdn, rtype));
        let mut edns = Edns::new();
        edns.set_dnssec_ok(dnssec);
        edns.set_max_payload(1232);
        message.set_edns(edns);
        let bytes = message.to_vec().map_err(|error| error.to_string())?;
        let bind: SocketAddr = if server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|error| error.to_string())?;
        socket
            .send_to(&bytes, server)
            .await
            .map_err(|error| error.to_string())?;
        let mut buffer = vec![0u8; 4096];
        loop {
            let length = tokio::time::timeout(QUERY_TIMEOUT, socket.recv(&mut buffer))
                .await
                .map_err(|_| format!("no answer from {server}"))?
                .map_err(|error| error.to_string())?;
            let response = Message::from_vec(buffer.get(..length).unwrap_or_default())
                .map_err(|error| error.to_string())?;
            if response.metadata.id == message.metadata.id {
                return Ok(response);
            }
        }
    }

    /// Evaluates SPF for each address, fetching what the evaluation asks
    /// for round by round (each round's queries concurrently).
    pub async fn spf(&self, domain: &str, addresses: &[IpAddr]) -> Vec<(IpAddr, spf::Evaluation)> {
        let mut answers = spf::Answers::default();
        let mut results = Vec::new();
        for address in addresses {
            let mut evaluation = spf::evaluate(domain, *address, &answers);
            for _round in 0..=spf::LOOKUP_LIMIT + 2 {
                let Err(missing) = &evaluation.outcome else {
                    break;
                };
                let fetched = futures_util::future::join_all(
                    missing.iter().map(|query| self.spf_query(query.clone())),
                )
                .await;
                for (query, result) in missing.iter().zip(fetched) {
                    match (query, result) {
                        (spf::Query::Txt(name), Fetched::Txt(answer)) => {
                            answers.txt.insert(name.clone(), to_result(answer));
                        }
                        (spf::Query::Address(name), Fetched::Addresses(answer)) => {
                            answers.addresses.insert(name.clone(), to_result(answer));
                        }
                        (spf::Query::Mx(name), Fetched::Mx(answer)) => {
                            answers.mx.insert(name.clone(), to_result(answer));
                        }
                        _ => {}
                    }
                }
                evaluation = spf::evaluate(domain, *address, &answers);
            }
            results.push((*address, evaluation));
        }
        results
    }

    async fn spf_query(&self, query: spf::Query) -> Fetched {
        match query {
            spf::Query::Txt(name) => Fetched::Txt(self.txt(&name).await),
            spf::Query::Address(name) => Fetched::Addresses(self.addresses(&name).await),
            spf::Query::Mx(name) => Fetched::Mx(match self.mx(&name).await {
                Answer::Records(records) => {
                    Answer::Records(records.into_iter().map(|(_, exchange)| exchange).collect())
                }
                Answer::Empty => Answer::Empty,
                Answer::Failed(error) => Answer::Failed(error),
            }),
        }
    }
}

enum Fetched {
    Txt(Answer<String>),
    Addresses(Answer<IpAddr>),
    Mx(Answer<String>),
}

fn to_result<T>(answer: Answer<T>) -> Result<Vec<T>, String> {
    match answer {
        Answer::Records(records) => Ok(records),
        Answer::Empty => Ok(Vec::new()),
        Answer::Failed(error) => Err(error),
    }
}

fn no_records(error: &NetError) -> bool {
    error.is_no_records_found() || error.is_nx_domain()
}

/// A name in lower case without the trailing dot.
fn plain(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}
