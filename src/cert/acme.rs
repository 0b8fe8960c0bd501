//! The ACME protocol (RFC 8555), the only user of instant-acme: the account
//! (created once, its credentials kept 0600), orders, challenge answers,
//! finalisation with our own CSR, and the server's renewal information
//! (RFC 9773) where it has any. What to do with a challenge is the caller's
//! business: an order hands out the tokens, the caller places them, then
//! `finish` asks the server to check them.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use instant_acme::{
    Account, AuthorizationStatus, CertificateIdentifier, ChallengeType, Identifier, NewAccount,
    NewOrder, Order, OrderStatus, RetryPolicy,
};
use time::OffsetDateTime;

use super::ChallengeFailure;
use crate::config::Challenge;
use crate::error::user_error;
use crate::files;

/// A logged-in ACME account.
pub struct AcmeAccount {
    account: Account,
    directory: String,
}

/// One challenge to answer before the order can go on.
#[derive(Debug, Clone)]
pub struct ChallengeTask {
    pub name: String,
    pub token: String,
    /// The HTTP-01 file's content.
    pub key_authorization: String,
    /// The DNS-01 TXT record's value.
    pub dns_value: String,
}

/// An order whose challenges are yet to be placed.
pub struct PendingOrder {
    order: Order,
    challenge: Challenge,
    pub tasks: Vec<ChallengeTask>,
    /// Names the server already holds a valid authorization for (from an
    /// earlier order of this account): it reuses them, so they have no
    /// challenge to answer.
    pub already_valid: Vec<String>,
}

/// What one authorization of a new order asks of us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationNeed {
    /// Pending: its challenge must be answered.
    Challenge,
    /// Valid already: the server reused an authorization this account
    /// earned before (RFC 8555 §7.1.4 lets it; Let's Encrypt does for 30
    /// days, Pebble at random), so there is nothing to answer.
    AlreadyValid,
}

/// Decides from an authorization's status what the order needs for it;
/// any other state (invalid, expired, revoked, deactivated) ends the order.
pub fn authorization_need(
    name: &str,
    status: AuthorizationStatus,
) -> anyhow::Result<AuthorizationNeed> {
    match status {
        AuthorizationStatus::Pending => Ok(AuthorizationNeed::Challenge),
        AuthorizationStatus::Valid => Ok(AuthorizationNeed::AlreadyValid),
        other => Err(anyhow::anyhow!(
            "the authorization for `{name}` is {other:?}, not pending"
        )),
    }
}

/// Why an order failed, in terms the caller can explain.
#[derive(Debug)]
pub struct OrderFailure {
    /// The ACME problem document of the order or request, if any.
    pub problem: Option<String>,
    pub detail: String,
    /// Per name, what the server said about its challenge.
    pub challenges: Vec<ChallengeFailure>,
}

impl std::fmt::Display for OrderFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for OrderFailure {}

fn challenge_type(challenge: Challenge) -> ChallengeType {
    match challenge {
        Challenge::Http01 => ChallengeType::Http01,
        Challenge::Dns01 => ChallengeType::Dns01,
    }
}

/// Turns an instant-acme error into an [`OrderFailure`] (problem documents)
/// or a plain error naming what was being done.
fn failure(error: instant_acme::Error, doing: &str) -> anyhow::Error {
    match error {
        instant_acme::Error::Api(problem) => anyhow::Error::new(OrderFailure {
            problem: problem.r#type.clone(),
            detail: format!("{doing}: the ACME server answered: {problem}"),
            challenges: Vec::new(),
        }),
        other => anyhow::Error::new(other).context(doing.to_owned()),
    }
}

impl AcmeAccount {
    /// Loads the account kept in `credentials_path`, or creates one at
    /// `directory` and keeps its credentials there (0600). `ca_root` is a
    /// PEM file of a CA to trust for the directory's TLS (test servers).
    pub async fn load_or_create(
        directory: &str,
        ca_root: Option<&Path>,
        credentials_path: &Path,
        email: Option<&str>,
    ) -> anyhow::Result<(AcmeAccount, bool)> {
        let builder = || -> anyhow::Result<instant_acme::AccountBuilder> {
            match ca_root {
                Some(root) => Account::builder_with_root(root).map_err(|error| {
                    user_error(
                        format!(
                            "cannot use `{}` as the ACME server's CA: {error}",
                            root.display()
                        ),
                        "give a PEM file holding one CA certificate",
                    )
                }),
                None => Account::builder().context("cannot set up the HTTPS client for ACME"),
            }
        };
        let unreachable_hint = || {
            format!(
                "is `{directory}` the right ACME directory URL, and can this machine reach it (firewall, proxy, DNS)? For a test CA, pass its root with `--acme-ca-root FILE`"
            )
        };
        if credentials_path.exists() {
            let text = fs_err::read(credentials_path)?;
            let credentials: instant_acme::AccountCredentials = serde_json::from_slice(&text)
                .with_context(|| {
                    format!(
                        "`{}` is not an ACME account file",
                        credentials_path.display()
                    )
                })?;
            let account = builder()?
                .from_credentials(credentials)
                .await
                .map_err(|error| {
                    crate::error::attach(
                        failure(
                            error,
                            &format!("cannot reach the ACME server at `{directory}`"),
                        ),
                        unreachable_hint(),
                    )
                })?;
            return Ok((
                AcmeAccount {
                    account,
                    directory: directory.to_owned(),
                },
                false,
            ));
        }
        let contact = email.map(|email| format!("mailto:{email}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let (account, credentials) = builder()?
            .create(
                &NewAccount {
                    contact: &contacts,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                directory.to_owned(),
                None,
            )
            .await
            .map_err(|error| {
                crate::error::attach(
                    failure(
                        error,
                        &format!("cannot create an ACME account at `{directory}`"),
                    ),
                    unreachable_hint(),
                )
            })?;
        let json = serde_json::to_vec_pretty(&credentials)?;
        if let Some(parent) = credentials_path.parent() {
            files::create_private_dir(parent, 0o700)?;
        }
        files::write_atomic(credentials_path, &json, 0o600)?;
        Ok((
            AcmeAccount {
                account,
                directory: directory.to_owned(),
            },
            true,
        ))
    }

    pub fn directory(&self) -> &str {
        &self.directory
    }

    /// Places a new order for `names` and collects the challenges of its
    /// pending authorizations.
    pub async fn new_order(
        &self,
        names: &[String],
        challenge: Challenge,
    ) -> anyhow::Result<PendingOrder> {
        let identifiers: Vec<Identifier> = names
            .iter()
            .map(|name| Identifier::Dns(name.clone()))
            .collect();
        let mut order = self
            .account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|error| {
                failure(
                    error,
                    &format!("the ACME server refused an order for {}", names.join(", ")),
                )
            })?;
        let mut tasks = Vec::new();
        let mut already_valid = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(result) = authorizations.next().await {
            let mut authorization =
                result.map_err(|error| failure(error, "cannot read an authorization"))?;
            let name = authorization.identifier().to_string();
            match authorization_need(&name, authorization.status)? {
                AuthorizationNeed::Challenge => {}
                AuthorizationNeed::AlreadyValid => {
                    already_valid.push(name);
                    continue;
                }
            }
            let handle = authorization
                .challenge(challenge_type(challenge))
                .ok_or_else(|| {
                    user_error(
                        format!(
                            "the ACME server offers no {} challenge for `{name}`",
                            challenge.as_str()
                        ),
                        "use the other challenge type (`tls.challenge` in mailctl.yaml)",
                    )
                })?;
            let key_authorization = handle.key_authorization();
            tasks.push(ChallengeTask {
                name,
                token: handle.token.clone(),
                key_authorization: key_authorization.as_str().to_owned(),
                dns_value: key_authorization.dns_value(),
            });
        }
        Ok(PendingOrder {
            order,
            challenge,
            tasks,
            already_valid,
        })
    }

    /// The start of the server's suggested renewal window for the
    /// certificate with this ARI identifier (`None` when the server has no
    /// ARI or does not answer).
    pub async fn renewal_window_start(
        &self,
        authority_key_identifier: &str,
        serial: &str,
    ) -> Option<OffsetDateTime> {
        let identifier = CertificateIdentifier {
            authority_key_identifier: authority_key_identifier.to_owned().into(),
            serial: serial.to_owned().into(),
        };
        match self.account.renewal_info(&identifier).await {
            Ok((info, _)) => Some(info.suggested_window.start),
            Err(_) => None,
        }
    }
}

impl PendingOrder {
    /// Tells the server every challenge is in place, waits for its
    /// verdict, then finalises with `csr_der` and returns the PEM chain.
    pub async fn finish(mut self, csr_der: &[u8], timeout: Duration) -> anyhow::Result<String> {
        let wanted = challenge_type(self.challenge);
        let mut authorizations = self.order.authorizations();
        while let Some(result) = authorizations.next().await {
            let mut authorization =
                result.map_err(|error| failure(error, "cannot read an authorization"))?;
            if authorization.status != AuthorizationStatus::Pending {
                continue;
            }
            let name = authorization.identifier().to_string();
            if let Some(mut handle) = authorization.challenge(wanted.clone()) {
                handle.set_ready().await.map_err(|error| {
                    failure(
                        error,
                        &format!("the ACME server refused the challenge for `{name}`"),
                    )
                })?;
            }
        }
        let retries = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .backoff(1.5)
            .timeout(timeout);
        let status = self.order.poll_ready(&retries).await;
        match status {
            Ok(OrderStatus::Ready) => {}
            Ok(_) | Err(instant_acme::Error::Api(_)) => {
                let problem = match &status {
                    Err(instant_acme::Error::Api(problem)) => Some(problem.clone()),
                    _ => None,
                };
                let challenges = self.challenge_failures().await;
                let detail = match (&problem, challenges.is_empty()) {
                    (Some(problem), true) => {
                        format!("the ACME server refused the order: {problem}")
                    }
                    (_, false) => format!(
                        "the ACME server could not validate {}",
                        challenges
                            .iter()
                            .map(|failure| format!("`{}`", failure.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    (None, true) => "the order became invalid".to_owned(),
                };
                return Err(anyhow::Error::new(OrderFailure {
                    problem: problem.and_then(|problem| problem.r#type),
                    detail,
                    challenges,
                }));
            }
            Err(instant_acme::Error::Timeout(_)) => {
                anyhow::bail!(
                    "the ACME server did not validate the challenges within {} s",
                    timeout.as_secs()
                )
            }
            Err(other) => return Err(failure(other, "cannot follow the order")),
        }
        self.order
            .finalize_csr(csr_der)
            .await
            .map_err(|error| failure(error, "the ACME server refused to finalise the order"))?;
        self.order
            .poll_certificate(&retries)
            .await
            .map_err(|error| failure(error, "cannot download the certificate"))
    }

    /// What the server said about each failed challenge.
    async fn challenge_failures(&mut self) -> Vec<ChallengeFailure> {
        let wanted = challenge_type(self.challenge);
        let mut failures = Vec::new();
        let mut authorizations = self.order.authorizations();
        while let Some(Ok(authorization)) = authorizations.next().await {
            if authorization.status == AuthorizationStatus::Valid {
                continue;
            }
            let name = authorization.identifier().to_string();
            for challenge in &authorization.challenges {
                if challenge.r#type != wanted {
                    continue;
                }
                let error = challenge.error.as_ref();
                if error.is_none() && authorization.status == AuthorizationStatus::Pending {
                    continue;
                }
                failures.push(ChallengeFailure {
                    name: name.clone(),
                    challenge: self.challenge.as_str().to_owned(),
                    checked: super::checked_location(self.challenge, &name, &challenge.token),
                    problem: error.and_then(|problem| problem.r#type.clone()),
                    detail: error.and_then(|problem| problem.detail.clone()),
                });
            }
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_pending_authorization_needs_its_challenge_answered() {
        assert_eq!(
            authorization_need("mail.example.com", AuthorizationStatus::Pending).unwrap(),
            AuthorizationNeed::Challenge
        );
    }

    #[test]
    fn a_reused_valid_authorization_needs_no_challenge() {
        assert_eq!(
            authorization_need("mail.example.com", AuthorizationStatus::Valid).unwrap(),
            AuthorizationNeed::AlreadyValid
        );
    }

    #[test]
    fn any_other_state_ends_the_order_and_names_the_name() {
        for status in [
            AuthorizationStatus::Invalid,
            AuthorizationStatus::Revoked,
            AuthorizationStatus::Expired,
            AuthorizationStatus::Deactivated,
        ] {
            let error = authorization_need("mail.example.com", status).unwrap_err();
            assert!(error.to_string().contains("`mail.example.com`"), "{error}");
        }
    }
}
