//! RFC 2136 updates signed with TSIG against a real BIND 9: adds, replaces
//! and deletes reach the zone, other records survive, and a server that
//! refuses says why.

use std::net::SocketAddr;

use crate::support::bind::Bind;
use mailctl::dns::update::{canonical, Change, TsigKey, UpdateClient};
use mailctl::dns::{character_strings, RecordType};

#[tokio::test(flavor = "multi_thread")]
async fn updates_reach_a_real_server_and_leave_other_records_alone() {
    let bind = Bind::start(&[(
        "example.test",
        "unrelated.example.test. IN TXT \"keep me\"\nexample.test. IN MX 20 old.example.test.\n",
    )]);
    let client = UpdateClient::new(bind.addr(), TsigKey::from_file(&bind.key_file).unwrap());

    assert_eq!(
        client.find_zone("_dmarc.mail.example.test").await.unwrap(),
        "example.test"
    );
    let outside = client.find_zone("example.org").await.unwrap_err();
    assert!(
        format!("{outside:#}").contains("not authoritative"),
        "{outside:#}"
    );

    let long_text = format!("v=DKIM1; k=rsa; p={}", "A".repeat(400));
    let changes = vec![
        Change::DeleteRrset {
            name: "example.test".into(),
            rtype: RecordType::Mx,
        },
        Change::Add {
            name: "example.test".into(),
            ttl: 3600,
            rtype: RecordType::Mx,
            data: "10 mail.example.test.".into(),
        },
        Change::Add {
            name: "mail.example.test".into(),
            ttl: 3600,
            rtype: RecordType::A,
            data: "127.0.0.1".into(),
        },
        Change::Add {
            name: "key._domainkey.example.test".into(),
            ttl: 3600,
            rtype: RecordType::Txt,
            data: character_strings(&long_text),
        },
    ];
    if let Err(error) = client.apply("example.test", &changes).await {
        panic!("{error:#}\n{}", bind.log());
    }

    assert_eq!(bind.dig("example.test", "MX"), ["10 mail.example.test."]);
    let published = client
        .query("key._domainkey.example.test", RecordType::Txt)
        .await
        .unwrap();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].0, 3600);
    assert_eq!(
        published[0].1,
        canonical(RecordType::Txt, &character_strings(&long_text)).unwrap()
    );
    assert_eq!(bind.dig("unrelated.example.test", "TXT"), ["\"keep me\""]);

    client
        .apply(
            "example.test",
            &[Change::DeleteRecord {
                name: "key._domainkey.example.test".into(),
                rtype: RecordType::Txt,
                data: character_strings(&long_text),
            }],
        )
        .await
        .unwrap();
    assert!(client
        .query("key._domainkey.example.test", RecordType::Txt)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(bind.dig("unrelated.example.test", "TXT"), ["\"keep me\""]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_or_a_dead_server_is_explained() {
    let bind = Bind::start(&[("example.test", "")]);
    let wrong = TsigKey::parse(&format!(
        "key \"{}\" {{ algorithm hmac-sha256; secret \"d3Jvbmcgc2VjcmV0IGZvciB0aGUga2V5\"; }};",
        crate::support::bind::KEY_NAME
    ))
    .unwrap();
    let client = UpdateClient::new(bind.addr(), wrong);
    let add = [Change::Add {
        name: "example.test".into(),
        ttl: 60,
        rtype: RecordType::A,
        data: "192.0.2.1".into(),
    }];
    let error = format!(
        "{:#}",
        client.apply("example.test", &add).await.unwrap_err()
    );
    assert!(error.to_lowercase().contains("not authorized"), "{error}");
    assert!(bind.dig("example.test", "A").is_empty());

    let unknown = TsigKey::parse(
        "key \"someone-else\" { algorithm hmac-sha256; secret \"d3Jvbmcgc2VjcmV0IGZvciB0aGUga2V5\"; };",
    )
    .unwrap();
    let error = format!(
        "{:#}",
        UpdateClient::new(bind.addr(), unknown)
            .apply("example.test", &add)
            .await
            .unwrap_err()
    );
    assert!(error.contains("example.test"), "{error}");
    assert!(bind.dig("example.test", "A").is_empty());

    let closed: SocketAddr = ([127, 0, 0, 1], crate::support::free_ports()[0]).into();
    let key = TsigKey::from_file(&bind.key_file).unwrap();
    let error = format!(
        "{:#}",
        UpdateClient::new(closed, key)
            .apply("example.test", &add)
            .await
            .unwrap_err()
    );
    assert!(error.contains("--server"), "{error}");
}
