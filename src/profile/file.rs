//! `DATA/profiles.toml`: load (missing → defaults) and atomic save.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Profiles;

/// Largest profiles.toml read (a bigger file is refused, not loaded into memory).
const MAX_FILE_BYTES: u64 = 16 << 20;

pub const FILE_NAME: &str = "profiles.toml";

impl Profiles {
    /// Where the profiles of `data_dir` live.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(FILE_NAME)
    }

    /// Reads `data_dir/profiles.toml`; a missing file gives `Profiles::default()`.
    /// A bad file is one error naming the file and the problem.
    pub fn load(data_dir: &Path) -> Result<Profiles> {
        let path = Profiles::path(data_dir);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Profiles::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        if meta.len() > MAX_FILE_BYTES {
            anyhow::bail!("{} is {} bytes; the limit is {MAX_FILE_BYTES}", path.display(), meta.len());
        }
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let profiles: Profiles = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!("{} is not a valid profiles file: {}", path.display(), e.to_string().trim())
        })?;
        profiles.validate().map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
        Ok(profiles)
    }

    /// Validates, then writes `data_dir/profiles.toml` atomically (temp file, fsync, rename, fsync dir).
    pub fn save(&self, data_dir: &Path) -> Result<()> {
        self.validate()?;
        fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        let path = Profiles::path(data_dir);
        let tmp = data_dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
        let text = toml::to_string_pretty(self).context("cannot serialize profiles")?;
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(b"# wvnr profiles and channels (edit with `wvnr profile`, or by hand while wvnr is stopped)\n")?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            // The rename is durable only once the directory is.
            File::open(data_dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            anyhow::anyhow!("cannot write {}: {e}", path.display())
        })
    }
}
