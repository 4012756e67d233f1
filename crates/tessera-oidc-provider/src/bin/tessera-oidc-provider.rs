//! `tessera-oidc-provider --client-id ID --client-secret SECRET [--port N] [--email ADDRESS]`:
//! an OpenID Connect provider on `127.0.0.1` with no login page, for tests that drive the
//! server from outside (a browser journey). Every authorization signs in one user, whose
//! verified address is `--email` (`ada@example.com` by default). Prints exactly one line,
//! `listening on 127.0.0.1:PORT`, once it accepts connections; serves until interrupted.
//!
//! Run with `cargo run -p tessera-oidc-provider -- --client-id tessera --client-secret s3cret`.

use std::io::Write as _;
use std::process::ExitCode;

use tessera_oidc_provider::{OidcProvider, ProviderUser};

const USAGE: &str = "usage: tessera-oidc-provider --client-id ID --client-secret SECRET [--port N] [--email ADDRESS]";

struct Args {
    client_id: String,
    client_secret: String,
    port: u16,
    email: String,
}

fn parse_args() -> Result<Args, String> {
    let (mut client_id, mut client_secret, mut port) = (None, None, 0);
    let mut email = "ada@example.com".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--client-id" => client_id = Some(args.next().ok_or(USAGE)?),
            "--client-secret" => client_secret = Some(args.next().ok_or(USAGE)?),
            "--email" => email = args.next().ok_or(USAGE)?,
            "--port" => {
                let value = args.next().ok_or(USAGE)?;
                port = value
                    .parse()
                    .map_err(|_| format!("--port: {value:?} is not a port\n{USAGE}"))?;
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        client_id: client_id.ok_or(USAGE)?,
        client_secret: client_secret.ok_or(USAGE)?,
        port,
        email,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let provider =
        match OidcProvider::start_on(args.port, &args.client_id, &args.client_secret).await {
            Ok(provider) => provider,
            Err(error) => {
                eprintln!("tessera-oidc-provider: {error}");
                return ExitCode::FAILURE;
            }
        };
    provider.set_user(ProviderUser::new("browser-user-1", &args.email));
    println!("listening on 127.0.0.1:{}", provider.port());
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
