//! A test-only PKCS#11 module that injects faults into signing.
//!
//! `C_GetFunctionList` loads the real module (`FAULT_PKCS11_REAL`, default
//! SoftHSM's usual path), copies its function list and replaces
//! `C_SignInit` and `C_Sign` with wrappers. Every wrapped call reads the
//! control file named by `FAULT_PKCS11_CONTROL` (missing, empty or unset:
//! no fault, every call goes straight to the real module). The file holds
//! one line, `FAULT [count=N]`:
//!
//! | fault | where | what happens |
//! | --- | --- | --- |
//! | `device_error` | `C_Sign` | the real module signs, the signature is wiped, `CKR_DEVICE_ERROR` is returned |
//! | `general_error` | `C_Sign` | same, with `CKR_GENERAL_ERROR` |
//! | `session_closed` | `C_SignInit` | the session is really closed (real `C_CloseSession`), then the call is forwarded, so the real module's error comes back |
//! | `logged_out` | `C_SignInit` | the token is really logged out (real `C_Logout`), then the call is forwarded |
//! | `abort` | `C_Sign` | the process aborts mid-sign, as a crashing vendor module would |
//! | `hang` | `C_Sign` | the call sleeps for an hour (a wedged device) |
//! | `garbage` | `C_Sign` | the real module signs, then the signature's bytes are replaced with random ones (same length) |
//! | `truncated` | `C_Sign` | the real module signs, then the reported length is halved |
//!
//! With `count=N` only the next N wrapped calls that reach the fault's hook
//! fault; the count is decremented in the file under `flock`, so worker
//! processes share it. Without a count the fault stays until the file is
//! cleared.
//!
//! Failing `C_Sign` calls still run the real signature into the caller's
//! buffer first and wipe it: PKCS#11 says a failed `C_Sign` ends the
//! operation, and the real module's session must agree.

#![allow(non_snake_case)]

use std::ffi::CString;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

use cryptoki_sys::{
    CK_C_GetFunctionList, CKR_ARGUMENTS_BAD, CKR_DEVICE_ERROR, CKR_GENERAL_ERROR, CKR_OK, CK_BYTE,
    CK_FUNCTION_LIST, CK_FUNCTION_LIST_PTR_PTR, CK_MECHANISM, CK_OBJECT_HANDLE, CK_RV,
    CK_SESSION_HANDLE, CK_ULONG,
};

const DEFAULT_REAL: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The real module's function list and ours (the same, two entries wrapped).
struct Lists {
    real: CK_FUNCTION_LIST,
    ours: *mut CK_FUNCTION_LIST,
}

// SAFETY: both lists are written once, before they are shared, and only
// read afterwards.
unsafe impl Send for Lists {}
unsafe impl Sync for Lists {}

static LISTS: OnceLock<Result<Lists, CK_RV>> = OnceLock::new();

fn lists() -> Result<&'static Lists, CK_RV> {
    LISTS.get_or_init(load).as_ref().map_err(|e| *e)
}

fn load() -> Result<Lists, CK_RV> {
    let path = std::env::var("FAULT_PKCS11_REAL").unwrap_or_else(|_| DEFAULT_REAL.to_string());
    let cpath = CString::new(path.clone()).map_err(|_| CKR_GENERAL_ERROR)?;
    // SAFETY: dlopen/dlsym with valid C strings; the handle is never closed,
    // so the function pointers stay valid for the life of the process.
    unsafe {
        let handle = libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if handle.is_null() {
            eprintln!("fault-pkcs11: cannot load the real module {path}");
            return Err(CKR_GENERAL_ERROR);
        }
        let sym = libc::dlsym(handle, c"C_GetFunctionList".as_ptr());
        if sym.is_null() {
            return Err(CKR_GENERAL_ERROR);
        }
        let get: CK_C_GetFunctionList = std::mem::transmute::<*mut libc::c_void, _>(sym);
        let get = get.ok_or(CKR_GENERAL_ERROR)?;
        let mut real: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
        let rv = get(&mut real);
        if rv != CKR_OK || real.is_null() {
            return Err(if rv == CKR_OK { CKR_GENERAL_ERROR } else { rv });
        }
        let real = *real;
        let mut ours = real;
        ours.C_SignInit = Some(sign_init);
        ours.C_Sign = Some(sign);
        Ok(Lists {
            real,
            ours: Box::into_raw(Box::new(ours)),
        })
    }
}

/// The module's entry point.
///
/// # Safety
/// `list` must be a valid pointer to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionList(list: CK_FUNCTION_LIST_PTR_PTR) -> CK_RV {
    if list.is_null() {
        return CKR_ARGUMENTS_BAD;
    }
    match lists() {
        Ok(l) => {
            *list = l.ours;
            CKR_OK
        }
        Err(rv) => rv,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    DeviceError,
    GeneralError,
    SessionClosed,
    LoggedOut,
    Abort,
    Hang,
    Garbage,
    Truncated,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hook {
    SignInit,
    Sign,
}

impl Fault {
    fn parse(name: &str) -> Option<Fault> {
        Some(match name {
            "device_error" => Fault::DeviceError,
            "general_error" => Fault::GeneralError,
            "session_closed" => Fault::SessionClosed,
            "logged_out" => Fault::LoggedOut,
            "abort" => Fault::Abort,
            "hang" => Fault::Hang,
            "garbage" => Fault::Garbage,
            "truncated" => Fault::Truncated,
            _ => return None,
        })
    }

    fn hook(self) -> Hook {
        match self {
            Fault::SessionClosed | Fault::LoggedOut => Hook::SignInit,
            _ => Hook::Sign,
        }
    }
}

/// The fault to inject at `hook` now, if any (consuming one of its count).
fn take_fault(hook: Hook) -> Option<Fault> {
    let path = std::env::var_os("FAULT_PKCS11_CONTROL")?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .ok()?;
    // SAFETY: flock on a descriptor we own; released when `file` closes.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return None;
    }
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    let mut words = text.split_whitespace();
    let fault = Fault::parse(words.next()?)?;
    if fault.hook() != hook {
        return None;
    }
    let count = words
        .find_map(|w| w.strip_prefix("count="))
        .and_then(|n| n.parse::<u64>().ok());
    match count {
        None => Some(fault),
        Some(0) => None,
        Some(n) => {
            let rest = if n == 1 {
                String::new()
            } else {
                format!("{} count={}\n", text.split_whitespace().next()?, n - 1)
            };
            file.set_len(0).ok()?;
            file.rewind().ok()?;
            file.write_all(rest.as_bytes()).ok()?;
            Some(fault)
        }
    }
}

unsafe extern "C" fn sign_init(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    let real = match lists() {
        Ok(l) => &l.real,
        Err(rv) => return rv,
    };
    match take_fault(Hook::SignInit) {
        Some(Fault::SessionClosed) => {
            if let Some(close) = real.C_CloseSession {
                close(session);
            }
        }
        Some(Fault::LoggedOut) => {
            if let Some(logout) = real.C_Logout {
                logout(session);
            }
        }
        _ => {}
    }
    match real.C_SignInit {
        Some(f) => f(session, mechanism, key),
        None => CKR_GENERAL_ERROR,
    }
}

unsafe extern "C" fn sign(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    data_len: CK_ULONG,
    signature: *mut CK_BYTE,
    signature_len: *mut CK_ULONG,
) -> CK_RV {
    let real = match lists() {
        Ok(l) => &l.real,
        Err(rv) => return rv,
    };
    let Some(real_sign) = real.C_Sign else {
        return CKR_GENERAL_ERROR;
    };
    // A length query (no output buffer) is not a signature: no fault.
    if signature.is_null() || signature_len.is_null() {
        return real_sign(session, data, data_len, signature, signature_len);
    }
    let fault = take_fault(Hook::Sign);
    match fault {
        Some(Fault::Abort) => std::process::abort(),
        Some(Fault::Hang) => std::thread::sleep(std::time::Duration::from_secs(3600)),
        _ => {}
    }
    let rv = real_sign(session, data, data_len, signature, signature_len);
    if rv != CKR_OK {
        return rv;
    }
    let out = std::slice::from_raw_parts_mut(signature, *signature_len as usize);
    match fault {
        Some(Fault::DeviceError) => {
            out.fill(0);
            CKR_DEVICE_ERROR
        }
        Some(Fault::GeneralError) => {
            out.fill(0);
            CKR_GENERAL_ERROR
        }
        Some(Fault::Garbage) => {
            libc::getrandom(out.as_mut_ptr().cast(), out.len(), 0);
            CKR_OK
        }
        Some(Fault::Truncated) => {
            *signature_len /= 2;
            CKR_OK
        }
        _ => CKR_OK,
    }
}
