//! The default state directory: where `ilink login` saves credentials and
//! where bots and examples look for them when no directory is given.
//!
//! The rule follows each platform's convention for per-user application
//! state:
//!
//! | platform | directory |
//! |---|---|
//! | Linux and other Unixes | `$XDG_STATE_HOME/ilink`, else `~/.local/state/ilink` |
//! | macOS | `~/Library/Application Support/ilink` |
//! | Windows | `%APPDATA%\ilink` |
//!
//! The rule is a pure function of the platform and an environment lookup, so
//! every branch is tested on every platform.

use std::path::PathBuf;

/// The platform families with different conventions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// Linux, the BSDs and other Unixes (XDG base directories).
    Unix,
    /// macOS.
    MacOs,
    /// Windows.
    Windows,
}

impl Platform {
    /// The platform this binary was built for.
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Self::MacOs
        } else if cfg!(windows) {
            Self::Windows
        } else {
            Self::Unix
        }
    }
}

/// The default state directory on the running system, if one can be found.
pub fn default_state_dir() -> Option<PathBuf> {
    state_dir_for(Platform::current(), |key| {
        std::env::var_os(key).map(Into::into)
    })
}

/// The default state directory of `platform`, reading variables through `env`.
///
/// Empty and relative values are ignored, as the XDG specification asks:
/// a relative state directory would depend on where the command was run.
pub fn state_dir_for(platform: Platform, env: impl Fn(&str) -> Option<PathBuf>) -> Option<PathBuf> {
    let var = |key: &str| env(key).filter(|p| p.is_absolute());
    let home = || var("HOME");
    match platform {
        Platform::Unix => var("XDG_STATE_HOME")
            .or_else(|| home().map(|h| h.join(".local").join("state")))
            .map(|base| base.join("ilink")),
        Platform::MacOs => {
            home().map(|h| h.join("Library").join("Application Support").join("ilink"))
        }
        Platform::Windows => var("APPDATA")
            .or_else(|| var("USERPROFILE").map(|p| p.join("AppData").join("Roaming")))
            .map(|base| base.join("ilink")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<PathBuf> {
        let map: HashMap<String, PathBuf> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), PathBuf::from(v)))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn unix_prefers_xdg_state_home() {
        let dir = state_dir_for(
            Platform::Unix,
            env(&[("XDG_STATE_HOME", "/xdg/state"), ("HOME", "/home/u")]),
        );
        assert_eq!(dir, Some(PathBuf::from("/xdg/state/ilink")));
    }

    #[test]
    fn unix_falls_back_to_local_state_under_home() {
        let dir = state_dir_for(Platform::Unix, env(&[("HOME", "/home/u")]));
        assert_eq!(dir, Some(PathBuf::from("/home/u/.local/state/ilink")));
    }

    #[test]
    fn relative_or_empty_values_are_ignored() {
        let dir = state_dir_for(
            Platform::Unix,
            env(&[("XDG_STATE_HOME", "relative/dir"), ("HOME", "/home/u")]),
        );
        assert_eq!(dir, Some(PathBuf::from("/home/u/.local/state/ilink")));
        let dir = state_dir_for(Platform::Unix, env(&[("XDG_STATE_HOME", ""), ("HOME", "")]));
        assert_eq!(dir, None);
    }

    #[test]
    fn macos_uses_application_support() {
        let dir = state_dir_for(
            Platform::MacOs,
            env(&[("HOME", "/Users/u"), ("XDG_STATE_HOME", "/ignored")]),
        );
        assert_eq!(
            dir,
            Some(PathBuf::from("/Users/u/Library/Application Support/ilink"))
        );
    }

    #[cfg(windows)]
    #[test]
    fn windows_uses_appdata() {
        let dir = state_dir_for(
            Platform::Windows,
            env(&[("APPDATA", r"C:\Users\u\AppData\Roaming")]),
        );
        assert_eq!(
            dir,
            Some(PathBuf::from(r"C:\Users\u\AppData\Roaming\ilink"))
        );
    }

    #[cfg(unix)]
    #[test]
    fn windows_rule_reads_appdata_then_userprofile() {
        // Unix paths stand in for Windows ones: only the rule is under test.
        let dir = state_dir_for(Platform::Windows, env(&[("APPDATA", "/appdata")]));
        assert_eq!(dir, Some(PathBuf::from("/appdata/ilink")));
        let dir = state_dir_for(Platform::Windows, env(&[("USERPROFILE", "/profile")]));
        assert_eq!(dir, Some(PathBuf::from("/profile/AppData/Roaming/ilink")));
    }

    #[test]
    fn nothing_known_means_no_default() {
        assert_eq!(state_dir_for(Platform::Unix, env(&[])), None);
        assert_eq!(state_dir_for(Platform::MacOs, env(&[])), None);
        assert_eq!(state_dir_for(Platform::Windows, env(&[])), None);
    }
}
