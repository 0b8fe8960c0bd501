//! DNS: the records every configured mail domain needs (decided from the
//! configuration and the DKIM public keys, with no I/O) and their output as
//! a zone file, a table or JSON.

pub mod records;
pub mod update;
pub mod zone;

pub use records::{
    expected_records, mta_sts_id, mta_sts_policy, reverse_name, unicode_name, DkimKeys, DnsRecord,
    ExpectedRecords, Note, RecordType, RecordValue, DEFAULT_TTL,
};
pub use zone::{character_strings, rdata, to_json, to_table, to_zone, with_soa_ns};
