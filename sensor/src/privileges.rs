//! Dropping privileges once the XDP program is attached and the sockets are
//! open. Nothing after that needs a capability: the sockets' rings are
//! mapped, the program's link and maps are open fds, and the metrics port is
//! bound. `setuid` from root clears every capability (no KEEPCAPS), and
//! `no_new_privs` keeps them from coming back through exec.

use std::ffi::CString;
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("user {0:?} does not exist")]
    NoSuchUser(String),
    #[error("switching to user {user:?}: {what}: {source}")]
    Switch {
        user: String,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("still holding capabilities {0:#x} after switching users")]
    CapabilitiesLeft(u64),
}

/// Switches the whole process (every thread) to `user` and its group.
pub fn drop_to(user: &str) -> Result<(), PrivilegeError> {
    let name = CString::new(user).map_err(|_| PrivilegeError::NoSuchUser(user.to_owned()))?;
    // SAFETY: getpwnam returns null or a pointer valid until the next call;
    // the fields are copied at once, before any other thread could call it.
    let (uid, gid) = unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            return Err(PrivilegeError::NoSuchUser(user.to_owned()));
        }
        ((*pw).pw_uid, (*pw).pw_gid)
    };
    let check = |what: &'static str, rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(PrivilegeError::Switch { user: user.to_owned(), what, source: io::Error::last_os_error() })
        }
    };
    // SAFETY: plain syscalls with valid arguments; glibc applies the id
    // changes to every thread of the process.
    unsafe {
        check("setgroups", libc::setgroups(1, &gid))?;
        check("setgid", libc::setgid(gid))?;
        check("setuid", libc::setuid(uid))?;
        check("no_new_privs", libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
    }
    match effective_capabilities() {
        Some(0) | None => Ok(()),
        Some(caps) => Err(PrivilegeError::CapabilitiesLeft(caps)),
    }
}

/// `CapEff` of this process, from /proc.
pub fn effective_capabilities() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}
