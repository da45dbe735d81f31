//! Process hardening: no core dumps (they would hold PINs and session
//! state), no ptrace attach from other processes of the same user, and a
//! refusal to read config files that someone else could have written.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// RLIMIT_CORE = 0 and PR_SET_DUMPABLE = 0. Failures are logged, not fatal:
/// both calls only reduce what the process may do.
pub fn process_hardening() {
    // SAFETY: plain syscalls with valid arguments.
    unsafe {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::setrlimit(libc::RLIMIT_CORE, &zero) != 0 {
            tracing::warn!("could not set RLIMIT_CORE to 0");
        }
        if libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 {
            tracing::warn!("could not clear PR_SET_DUMPABLE");
        }
    }
}

/// Raise the open-file soft limit to the hard limit: every bot connection
/// is a descriptor, and the default soft limit (often 1024) is low for an
/// agent that must keep serving under a burst of connections.
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with valid pointers.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// Ask the kernel to terminate this process when its parent dies, so
/// workers never outlive the agent. SIGTERM rather than SIGKILL so that
/// [`defer_termination`] can hold it off while the token writes its files.
pub fn die_with_parent() {
    // SAFETY: plain syscalls with valid arguments.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
        if libc::getppid() == 1 {
            // The parent is already gone.
            libc::_exit(1);
        }
    }
}

/// Run `f` with SIGTERM, SIGINT and SIGHUP held pending; a signal that
/// arrives meanwhile takes effect (default action: exit) when `f` returns.
///
/// Why: SoftHSM 2.6 rewrites its token file on every C_Login (it stores the
/// PIN-count flags there), truncating it first and writing it back through
/// a buffer. A worker killed in that window leaves an empty token file: the
/// token then vanishes for every process until it is restored from backup.
/// Workers therefore log in (and re-log in) only inside this guard, and are
/// never sent SIGKILL except after a long grace.
pub fn defer_termination<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: sigset manipulation on local, initialised sets; the mask is
    // restored before returning.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGTERM);
        libc::sigaddset(&mut block, libc::SIGINT);
        libc::sigaddset(&mut block, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        let r = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        r
    }
}

/// Refuse a file that a group or other users may write, or that is owned by
/// someone other than us or root. `what` names the file in errors.
pub fn check_private_file(path: &Path, what: &str, deny_group_read: bool) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    let mode = meta.mode();
    if mode & 0o022 != 0 {
        return Err(format!(
            "{what} {} is writable by group or others (mode {:o}); run chmod go-w on it",
            path.display(),
            mode & 0o777
        ));
    }
    if deny_group_read && mode & 0o077 != 0 {
        return Err(format!(
            "{what} {} is readable by group or others (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        ));
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "{what} {} is owned by uid {}, not by this user ({me}) or root",
            path.display(),
            meta.uid()
        ));
    }
    Ok(())
}

/// Set an environment variable, for a PKCS#11 module that reads its
/// configuration (e.g. `SOFTHSM2_CONF`) from the environment when it is
/// loaded.
///
/// Why here: changing the environment is unsound while another thread may
/// read it, so the crate's one place for `unsafe` system calls holds it, and
/// callers promise what the name says: no other thread exists yet (the CLI
/// before it opens a token; the agent before it starts its runtime).
pub fn set_env_before_threads(
    key: impl AsRef<std::ffi::OsStr>,
    value: impl AsRef<std::ffi::OsStr>,
) {
    // SAFETY: the caller runs before any other thread is started.
    unsafe { std::env::set_var(key, value) };
}

/// Remove an environment variable (a PIN handed over in the environment is
/// not left there for children to inherit). Same promise as
/// [`set_env_before_threads`].
pub fn remove_env_before_threads(key: impl AsRef<std::ffi::OsStr>) {
    // SAFETY: the caller runs before any other thread is started.
    unsafe { std::env::remove_var(key) };
}
