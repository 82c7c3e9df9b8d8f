//! The HTTPS certificate: the configured one, or a self-signed one generated
//! on first start and kept in the data directory.

use std::path::{Path, PathBuf};

use crate::fsutil::write_private_atomically;

/// Paths of the certificate and key to serve, generating a self-signed pair
/// under `data_dir/tls/` if none is configured and none was generated yet.
pub fn certificate_paths(
    configured: Option<(PathBuf, PathBuf)>,
    data_dir: &Path,
) -> Result<(PathBuf, PathBuf), String> {
    if let Some((cert, key)) = configured {
        for p in [&cert, &key] {
            if !p.is_file() {
                return Err(format!("TLS file {} is missing", p.display()));
            }
        }
        return Ok((cert, key));
    }
    let dir = data_dir.join("tls");
    let (cert, key) = (dir.join("self-signed.crt"), dir.join("self-signed.key"));
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() && !names.iter().any(|n| n == host) {
            names.push(host.to_owned());
        }
    }
    let generated = rcgen::generate_simple_self_signed(names.clone())
        .map_err(|e| format!("cannot generate a self-signed certificate: {e}"))?;
    write_private_atomically(&key, generated.signing_key.serialize_pem().as_bytes())?;
    write_private_atomically(&cert, generated.cert.pem().as_bytes())?;
    tracing::warn!(
        certificate = %cert.display(),
        names = ?names,
        "no TLS certificate configured: generated a self-signed one (clients need -k or this file as CA)"
    );
    Ok((cert, key))
}
