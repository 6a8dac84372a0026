//! A real full disk for the tests of one: a small tmpfs mounted for the
//! test, filled to its last byte on request, freed again, and unmounted
//! when dropped. A full disk is what `ENOSPC` from the kernel says, so
//! SQLite meets it exactly as on a server whose disk filled up.
//!
//! Mounting needs root (CI runs as root). Elsewhere the test says it was
//! skipped, unless `CI` is set: there it must run, so it fails instead.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A mounted tmpfs and the file that fills it.
pub struct SmallDisk {
    dir: tempfile::TempDir,
    filler: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `mib` MiB, or says why not and returns `None`
    /// (panics instead under CI).
    pub fn mount(mib: u64) -> Option<Self> {
        let dir = tempfile::tempdir().expect("a mount point");
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stderr(Stdio::piped())
            .output();
        let why = match mounted {
            Ok(out) if out.status.success() => {
                let filler = dir.path().join("filler");
                return Some(Self { dir, filler });
            }
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            Err(e) => format!("mount: {e}"),
        };
        assert!(
            std::env::var_os("CI").is_none(),
            "a full-disk test needs to mount a tmpfs (run as root): {why}"
        );
        eprintln!("skipped: a full-disk test needs to mount a tmpfs (run as root): {why}");
        None
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Takes every free byte with one file, until the kernel says `ENOSPC`.
    pub fn fill(&self) {
        let mut file = File::create(&self.filler).expect("the filler file");
        let block = vec![0u8; 64 * 1024];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling {}: {e}", self.filler.display()),
            }
        }
        // A write that found no whole block free may leave a few bytes: a
        // byte at a time takes them.
        while file.write(&[0]).is_ok_and(|n| n == 1) {}
    }

    /// Gives the space back.
    pub fn free(&self) {
        std::fs::remove_file(&self.filler).expect("the filler file goes");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a process still holding a file there must not keep the
        // mount (and its memory) after the test.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
