//! `tessera-smtp-sink --dir DIR [--port N]`: an SMTP server on `127.0.0.1` that writes each
//! message it receives to `DIR/<n>.eml`, for tests that drive the server from outside (a
//! browser test reads the mails from the directory). Prints exactly one line,
//! `listening on 127.0.0.1:PORT`, once it accepts connections; serves until interrupted.
//!
//! Run with `cargo run -p tessera-smtp-sink -- --dir /tmp/mail`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use tessera_smtp_sink::SmtpSink;

const USAGE: &str = "usage: tessera-smtp-sink --dir DIR [--port N]";

fn parse_args() -> Result<(PathBuf, u16), String> {
    let mut dir = None;
    let mut port = 0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = Some(PathBuf::from(args.next().ok_or(USAGE)?)),
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
    Ok((dir.ok_or(USAGE)?, port))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let (dir, port) = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("tessera-smtp-sink: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let sink = match SmtpSink::builder().dir(&dir).port(port).start().await {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("tessera-smtp-sink: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "listening on {}", sink.addr())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    match tokio::signal::ctrl_c().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera-smtp-sink: {e}");
            ExitCode::FAILURE
        }
    }
}
