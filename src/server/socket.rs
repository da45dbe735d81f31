//! Creating the listening socket safely: a private directory, no hijacking
//! of a live agent's path, clean-up of a dead one, and the right mode and
//! group on the socket itself.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use tokio::net::UnixListener;

/// Look up a group's gid by name.
pub fn group_gid(name: &str) -> Result<u32, String> {
    if name.contains('\0') {
        return Err(format!("bad group name {name:?}"));
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        _ => Err(format!("no group named {name:?}")),
    }
}

/// Bind the agent socket at `path`.
pub fn bind(path: &Path, group: Option<&str>) -> Result<UnixListener, String> {
    let gid = group.map(group_gid).transpose()?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .ok_or_else(|| format!("socket path {} has no directory", path.display()))?;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(if gid.is_some() { 0o750 } else { 0o700 })
            .create(dir)
            .map_err(|e| format!("cannot create socket directory {}: {e}", dir.display()))?;
        if let Some(g) = gid {
            chown_group(dir, g)?;
        }
    }
    let meta =
        std::fs::metadata(dir).map_err(|e| format!("socket directory {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if gid.is_some() && meta.mode() & 0o010 == 0 {
        tracing::warn!(dir = %dir.display(), mode = format!("{:o}", meta.mode() & 0o777),
            "the socket has a group, but its directory does not let the group in (chmod g+x, and chgrp)");
    }
    if meta.mode() & 0o007 != 0 {
        return Err(format!(
            "socket directory {} is accessible by others (mode {:o}); use a private directory (chmod o-rwx)",
            dir.display(),
            meta.mode() & 0o777
        ));
    }
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_socket() {
            return Err(format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            ));
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(format!(
                    "another agent is listening on {}; stop it first",
                    path.display()
                ));
            }
            Err(_) => {
                tracing::info!(path = %path.display(), "removing stale socket");
                std::fs::remove_file(path)
                    .map_err(|e| format!("cannot remove stale socket: {e}"))?;
            }
        }
    }
    let listener =
        UnixListener::bind(path).map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
    let mode = if gid.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set socket mode: {e}"))?;
    if let Some(g) = gid {
        chown_group(path, g)?;
    }
    Ok(listener)
}

fn chown_group(path: &Path, gid: u32) -> Result<(), String> {
    std::os::unix::fs::chown(path, None, Some(gid))
        .map_err(|e| format!("cannot give {} to gid {gid}: {e}", path.display()))
}
