//! The users file: reading it into the local directory, and editing it for
//! `sesame user`.

use std::path::Path;

use sesame_backends::local::{LocalDirectory, UsersFile};

/// Read and validate a users file; a missing file holds no account.
pub fn read(path: &Path) -> Result<UsersFile, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UsersFile::default()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let file: UsersFile = if text.trim().is_empty() {
        UsersFile::default()
    } else {
        yaml_serde::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
    };
    file.validate()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(file)
}

/// Write a users file atomically (comments in it are not kept).
pub fn write(path: &Path, file: &UsersFile) -> Result<(), String> {
    file.validate()?;
    let text = yaml_serde::to_string(file).map_err(|e| e.to_string())?;
    crate::fsutil::write_private_atomically(path, text.as_bytes())
}

/// Load `path` into `directory`, replacing what it held.
pub fn load_into(
    path: &Path,
    directory: &LocalDirectory,
    tenants: &crate::tenants::Tenants,
) -> Result<usize, String> {
    let file = read(path)?;
    for kind in sesame_backends::local::AccountKind::ALL {
        for account in file.accounts(kind) {
            if let Some(tenant) = account.tenant_uuid
                && tenants.get(tenant).is_none()
            {
                return Err(format!(
                    "{}: {}: account {:?}: tenant {tenant} is not declared in `tenants`",
                    path.display(),
                    kind.backend_name(),
                    account.login
                ));
            }
        }
    }
    directory.replace(&file)?;
    Ok(file.users.len() + file.admins.len() + file.services.len())
}
