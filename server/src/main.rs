//! The `cobrowse-server` binary: parses the command line, loads the group configuration and
//! serves (see `docs/LAYOUT.md` for the URLs).
//!
//! ```text
//! cobrowse-server [--listen ADDR] [--config FILE] [--root DIR] [--idle-timeout SECS] [--test-hooks]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use cobrowse_server::config::Config;
use cobrowse_server::ServerOptions;

const USAGE: &str =
    "usage: cobrowse-server [--listen ADDR] [--config FILE] [--root DIR] [--idle-timeout SECS] [--test-hooks]

  --listen ADDR          address to listen on (default 127.0.0.1:8080)
  --config FILE          group configuration, TOML (default server/demo-config.toml)
  --root DIR             repository root holding dist/, demo-site/, skins/, server/viewer/ (default .)
  --idle-timeout SECS    end a session that has had no agent for SECS seconds (default 1800)
  --test-hooks           enable POST /__test/drop/KEY (end-to-end tests only)";

#[derive(Debug)]
struct Args {
    listen: String,
    config: PathBuf,
    root: PathBuf,
    test_hooks: bool,
    idle_timeout: Option<f64>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut a = Args {
        listen: "127.0.0.1:8080".into(),
        config: PathBuf::from("server/demo-config.toml"),
        root: PathBuf::from("."),
        test_hooks: false,
        idle_timeout: None,
    };
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--listen" => a.listen = value("--listen")?,
            "--config" => a.config = PathBuf::from(value("--config")?),
            "--root" => a.root = PathBuf::from(value("--root")?),
            "--idle-timeout" => {
                let v = value("--idle-timeout")?;
                match v.parse::<f64>() {
                    Ok(n) if n > 0.0 && n.is_finite() => a.idle_timeout = Some(n),
                    _ => return Err(format!("--idle-timeout needs a positive number, not {v:?}")),
                }
            }
            "--test-hooks" if inline.is_none() => a.test_hooks = true,
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Some(a))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("cobrowse-server: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cobrowse-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cobrowse-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut opts = ServerOptions {
        root: args.root,
        test_hooks: args.test_hooks,
        ..ServerOptions::default()
    };
    if let Some(secs) = args.idle_timeout {
        opts.idle_ttl = std::time::Duration::from_secs_f64(secs);
    }
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cobrowse-server: cannot listen on {}: {e}", args.listen);
                return ExitCode::FAILURE;
            }
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or(args.listen);
        eprintln!(
            "cobrowse-server listening on http://{addr}/ ({} groups from {}{})",
            config.groups.len(),
            args.config.display(),
            if opts.test_hooks {
                ", test hooks on"
            } else {
                ""
            }
        );
        tokio::select! {
            r = cobrowse_server::serve(listener, config, opts) => match r {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cobrowse-server: {e}");
                    ExitCode::FAILURE
                }
            },
            _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Result<Option<Args>, String> {
        parse_args(s.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_flags() {
        let a = args(&["--listen", "127.0.0.1:0", "--config=x.toml", "--test-hooks"])
            .unwrap()
            .unwrap();
        assert_eq!(a.listen, "127.0.0.1:0");
        assert_eq!(a.config, PathBuf::from("x.toml"));
        assert!(a.test_hooks);
        assert_eq!(a.root, PathBuf::from("."));
        assert!(args(&["--listen"]).is_err());
        assert!(args(&["--bogus"]).is_err());
        assert!(args(&["--help"]).unwrap().is_none());
        let a = args(&["--idle-timeout", "2.5"]).unwrap().unwrap();
        assert_eq!(a.idle_timeout, Some(2.5));
        assert!(args(&["--idle-timeout", "0"]).is_err());
        assert!(args(&["--idle-timeout=x"]).is_err());
    }
}
