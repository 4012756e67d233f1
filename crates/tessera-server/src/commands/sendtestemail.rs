//! `tessera sendtestemail ADDRESS…`: Django's command — one message to each address now,
//! through the configured backend, to check the mail settings.
//!
//! It needs no database (as Django's): it builds the mailer alone and sends the message the
//! service's [`Auth::send_test_email`](tessera_auth::Auth::send_test_email) sends
//! ([`Email::test_message`]), so that the mail settings can be checked on a machine whose
//! database is not set up yet.

use tessera_auth::mail::{Email, EmailBackend, Mailer};
use tessera_core::Clock;

use crate::config::Config;

/// Sends one test message to each of `addresses`, printing one line for each; fails when
/// one could not be sent (after trying the others), or at once when mail is switched off.
pub async fn send_test_email(config: &Config, addresses: &[String]) -> anyhow::Result<()> {
    if config.mail.email_backend == EmailBackend::Off {
        anyhow::bail!(
            "e-mail is switched off (email_backend = \"off\"): no test e-mail sent; set \
             email_backend = \"smtp\" and smtp_url to send mail"
        );
    }
    let mailer = Mailer::from_settings(&config.mail).await?;
    let (server, now) = (config.public_url(), Clock::system().now());
    let mut failed = 0;
    for address in addresses {
        match mailer
            .send(&Email::test_message(address, &server, now))
            .await
        {
            Ok(()) => println!("Sent a test e-mail to {address}."),
            Err(error) => {
                failed += 1;
                println!("Could not send a test e-mail to {address}: {error}");
            }
        }
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} test e-mail(s) could not be sent",
            addresses.len()
        );
    }
    Ok(())
}
