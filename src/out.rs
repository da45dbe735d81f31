//! Everything the `tradeward` command prints goes through here (the
//! `outln!`/`out!`/`errln!`/`err!` macros, or [`Stdout`] for streamed
//! output), so a closed pipe is handled once for every command:
//!
//! - Standard output closed by its reader (`EPIPE`, e.g.
//!   `tradeward keys list --json | head -1`): the command stops at once,
//!   without a message, with exit status [`EXIT_BROKEN_PIPE`] (141, what a
//!   shell reports for a program stopped by SIGPIPE). So it never claims
//!   success for output nobody read, and `set -o pipefail` scripts see what
//!   they see from any other Unix tool (docs/operations.md).
//! - Any other error writing standard output (a full disk): a message on
//!   standard error and exit status 1.
//! - Standard error is best effort: a message that cannot be written there
//!   has nowhere else to go and is dropped.
//!
//! The standard library's `println!` would panic instead (exit 101, with
//! a backtrace hint); the crate denies it (clippy `print_stdout`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt;
use std::io::{self, Write};

/// The exit status after standard output was closed by its reader.
pub const EXIT_BROKEN_PIPE: i32 = 141;

/// Write to standard output (what `outln!` and `out!` expand to).
pub fn stdout_fmt(args: fmt::Arguments<'_>) {
    let r = {
        let mut o = io::stdout().lock();
        o.write_fmt(args).and_then(|()| o.flush())
    };
    if let Err(e) = r {
        stdout_failed(e);
    }
}

/// Write bytes to standard output (generated files: completions, the man
/// page), with the same closed-pipe handling.
pub fn stdout_bytes(bytes: &[u8]) -> Result<(), String> {
    let r = {
        let mut o = io::stdout().lock();
        o.write_all(bytes).and_then(|()| o.flush())
    };
    if let Err(e) = r {
        stdout_failed(e);
    }
    Ok(())
}

/// Write to standard error, best effort (what `errln!` and `err!` expand
/// to). Flushed, so a prompt shows before the answer is read.
pub fn stderr_fmt(args: fmt::Arguments<'_>) {
    let mut e = io::stderr().lock();
    let _ = e.write_fmt(args).and_then(|()| e.flush());
}

/// End the command after a failed write to standard output.
fn stdout_failed(e: io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_BROKEN_PIPE);
    }
    stderr_fmt(format_args!(
        "tradeward: cannot write to standard output: {e}\n"
    ));
    std::process::exit(1);
}

/// Standard output as a writer, for output streamed in pieces (a journal
/// export): a failed write ends the command as above, so callers never see
/// an error from it.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stdout().lock().write(buf).or_else(|e| stdout_failed(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().lock().flush().or_else(|e| stdout_failed(e))
    }
}

/// `Err` of a clap parse: help and version go to standard output through
/// the rules above, usage errors to standard error. Returns the exit
/// status.
pub fn clap_exit(e: &clap::Error) -> i32 {
    // `print` picks the stream and whether to colour.
    let printed = e.print().and_then(|()| io::stdout().lock().flush());
    if let Err(err) = printed
        && !e.use_stderr()
    {
        stdout_failed(err);
    }
    e.exit_code()
}
