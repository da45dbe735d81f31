//! tradeward-virtual-piv: a software PIV smart card for tests.
//!
//! Runs Nitrokey's piv-authenticator applet on trussed's virtual platform
//! (RAM storage, fixed-seed RNG: every start is a factory-fresh, reproducible
//! card), wrapped so that the `yubikey` crate accepts it as a YubiKey 5, and
//! plugs it into vsmartcard's vpcd reader driver running inside pcscd.
//!
//! TEST ONLY: the keys it holds are as safe as the RAM of this process and
//! its RNG is predictable.

mod apdu;
mod card;
mod platform;
mod vpcd;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use log::{error, info, warn, LevelFilter, Log, Metadata, Record};

use card::{Identity, VirtualCard};
use platform::{CardDispatch, SharedClient, BACKENDS};
use vpcd::{Connection, Message, ReadError};

const USAGE: &str = "\
Usage: tradeward-virtual-piv [OPTIONS]

A test-only virtual PIV card (piv-authenticator) for vsmartcard's vpcd.

Options:
  --serial N            serial number reported by GET SERIAL (default 21000001)
  --vpcd-port P         TCP port vpcd listens on, on 127.0.0.1 (default 35963)
  --version X.Y.Z       YubiKey firmware version to report (default 5.4.3)
  --connect-timeout S   give up after S seconds without vpcd (default 30)
  -h, --help            print this help

Environment:
  TRADEWARD_VPIV_LOG    log level of this program: error, warn, info (default),
                        debug, or trace (trace logs every APDU, PINs included)
  TRADEWARD_VPIV_LOG_DEPS  log level of the applet and trussed (default off)

Signals: SIGUSR1 \"unplugs\" the card (it disconnects from vpcd, so the
reader reports no card) and SIGUSR2 plugs it back in (it reconnects, as a
freshly inserted card: PIN and management key must be given again, but
keys and objects stay, as on a real device).

Exits 0 on SIGTERM or SIGINT, 2 when vpcd cannot be reached for the
connect timeout (at start, or after vpcd went away).";

static STOP: AtomicBool = AtomicBool::new(false);
/// Set while the card is "unplugged" (SIGUSR1 until SIGUSR2).
static UNPLUGGED: AtomicBool = AtomicBool::new(false);
/// Raised by every signal, so a blocked read wakes up to look.
static WAKE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(signal: libc::c_int) {
    match signal {
        libc::SIGUSR1 => UNPLUGGED.store(true, Ordering::SeqCst),
        libc::SIGUSR2 => UNPLUGGED.store(false, Ordering::SeqCst),
        _ => STOP.store(true, Ordering::SeqCst),
    }
    WAKE.store(true, Ordering::SeqCst);
}

/// Wait (while unplugged) until SIGUSR2 or a stop signal.
fn wait_while_unplugged() -> bool {
    while UNPLUGGED.load(Ordering::SeqCst) {
        if STOP.load(Ordering::SeqCst) {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    WAKE.store(false, Ordering::SeqCst);
    !STOP.load(Ordering::SeqCst)
}

fn install_signal_handlers() {
    let handler: extern "C" fn(libc::c_int) = on_stop_signal;
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1, libc::SIGUSR2] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; the sigaction struct is fully initialised.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

struct Options {
    serial: u32,
    vpcd_port: u16,
    version: [u8; 3],
    connect_timeout: Duration,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        serial: 21_000_001,
        vpcd_port: 35963,
        version: [5, 4, 3],
        connect_timeout: Duration::from_secs(30),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        if name == "-h" || name == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = match inline {
            Some(value) => value,
            None => args.next().ok_or_else(|| format!("{name} needs a value"))?,
        };
        match name.as_str() {
            "--serial" => {
                options.serial = value
                    .parse()
                    .map_err(|_| format!("--serial: not a 32-bit number: {value}"))?
            }
            "--vpcd-port" => {
                options.vpcd_port = value
                    .parse()
                    .ok()
                    .filter(|port| *port != 0)
                    .ok_or_else(|| format!("--vpcd-port: not a port: {value}"))?
            }
            "--version" => options.version = parse_version(&value)?,
            "--connect-timeout" => {
                let secs: u64 = value
                    .parse()
                    .map_err(|_| format!("--connect-timeout: not a number: {value}"))?;
                options.connect_timeout = Duration::from_secs(secs);
            }
            _ => return Err(format!("unknown option {name}")),
        }
    }
    Ok(options)
}

fn parse_version(value: &str) -> Result<[u8; 3], String> {
    let parts: Vec<u8> = value
        .split('.')
        .map(|part| part.parse::<u8>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("--version: expected X.Y.Z with numbers 0-255: {value}"))?;
    let version: [u8; 3] = parts
        .try_into()
        .map_err(|_| format!("--version: expected X.Y.Z: {value}"))?;
    if !(4..=5).contains(&version[0]) {
        // The yubikey crate only knows how to read the serial of 4.x and 5.x.
        warn!("version {value}: the yubikey crate only accepts major versions 4 and 5");
    }
    Ok(version)
}

/// Logs to stderr: this program's records at one level, everything else
/// (applet, trussed) at another.
struct StderrLogger {
    own: LevelFilter,
    deps: LevelFilter,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        let limit = if metadata.target().starts_with("tradeward_virtual_piv") {
            self.own
        } else {
            self.deps
        };
        metadata.level() <= limit
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            eprintln!(
                "tradeward-virtual-piv: {} [{}] {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

fn init_logging() {
    let level = |var: &str, default: LevelFilter| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let logger = StderrLogger {
        own: level("TRADEWARD_VPIV_LOG", LevelFilter::Info),
        deps: level("TRADEWARD_VPIV_LOG_DEPS", LevelFilter::Off),
    };
    log::set_max_level(logger.own.max(logger.deps));
    let _ = log::set_logger(Box::leak(Box::new(logger)));
}

enum Outcome {
    Stopped,
    VpcdUnreachable,
}

/// Connects to vpcd, retrying until the timeout or a stop signal.
fn connect(port: u16, timeout: Duration) -> Result<Connection, Outcome> {
    let deadline = Instant::now() + timeout;
    let mut logged = false;
    loop {
        if STOP.load(Ordering::SeqCst) {
            return Err(Outcome::Stopped);
        }
        match Connection::connect(port) {
            Ok(connection) => return Ok(connection),
            Err(err) => {
                if !logged {
                    info!("waiting for vpcd on 127.0.0.1:{port} ({err})");
                    logged = true;
                }
                if Instant::now() >= deadline {
                    error!("vpcd not reachable on 127.0.0.1:{port} for {timeout:?}; giving up");
                    return Err(Outcome::VpcdUnreachable);
                }
                thread::sleep(Duration::from_millis(250));
            }
        }
    }
}

/// Serves vpcd until a stop signal or until vpcd stays away too long. The
/// card (and what is stored on it) lives as long as this function.
fn serve<C: piv_authenticator::Client + Clone>(
    card: &mut VirtualCard<C>,
    options: &Options,
) -> Outcome {
    loop {
        if !wait_while_unplugged() {
            return Outcome::Stopped;
        }
        let mut connection = match connect(options.vpcd_port, options.connect_timeout) {
            Ok(connection) => connection,
            Err(outcome) => return outcome,
        };
        info!(
            "connected to vpcd on 127.0.0.1:{} (serial {}, version {}.{}.{})",
            options.vpcd_port,
            options.serial,
            options.version[0],
            options.version[1],
            options.version[2]
        );
        // A new connection is a new insertion of the card.
        card.reset();
        loop {
            let message = match connection.read(&WAKE) {
                Ok(message) => message,
                Err(ReadError::Stopped) if STOP.load(Ordering::SeqCst) => return Outcome::Stopped,
                Err(ReadError::Stopped) if UNPLUGGED.load(Ordering::SeqCst) => {
                    info!("unplugged (SIGUSR1); waiting for SIGUSR2");
                    break;
                }
                Err(ReadError::Stopped) => {
                    WAKE.store(false, Ordering::SeqCst);
                    continue;
                }
                Err(ReadError::Disconnected(err)) => {
                    warn!("lost vpcd: {err}; reconnecting");
                    break;
                }
                Err(ReadError::Protocol(what)) => {
                    warn!("vpcd protocol error: {what}; reconnecting");
                    break;
                }
            };
            let sent = match message {
                Message::PowerOff | Message::PowerOn | Message::Reset => {
                    card.reset();
                    Ok(())
                }
                Message::GetAtr => connection.send(vpcd::ATR),
                Message::Apdu(apdu) => {
                    let response = card.handle(&apdu);
                    connection.send(&response)
                }
            };
            if let Err(err) = sent {
                warn!("lost vpcd while sending: {err}; reconnecting");
                break;
            }
        }
    }
}

fn main() -> ExitCode {
    init_logging();
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("tradeward-virtual-piv: {message}\n\n{USAGE}");
            return ExitCode::from(1);
        }
    };
    install_signal_handlers();

    let identity = Identity {
        serial: options.serial,
        version: options.version,
    };
    let outcome = trussed::virt::with_platform(trussed::virt::StoreConfig::ram(), |platform| {
        platform.run_client_with_backends("piv", CardDispatch::new(), BACKENDS, |client| {
            let mut card = VirtualCard::new(SharedClient::new(client), identity);
            serve(&mut card, &options)
        })
    });
    match outcome {
        Outcome::Stopped => {
            info!("stopped");
            ExitCode::SUCCESS
        }
        Outcome::VpcdUnreachable => ExitCode::from(2),
    }
}
