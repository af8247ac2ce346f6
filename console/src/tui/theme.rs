//! Colours, as a dark and a light preset with per-colour overrides from the config file,
//! and the config file itself (`tui.toml` in the console's config folder):
//!
//! ```toml
//! theme = "light"            # or "dark"
//! [colors]
//! accent = "#5f87ff"         # any ratatui colour name or #rrggbb
//! [keys]
//! quit = ["q", "ctrl-c"]     # see `?` for the command names
//! ```

use super::keymap::Keymap;
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The console's colours.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// Plain text.
    pub text: Color,
    /// Secondary text.
    pub dim: Color,
    /// Titles, the header, keys in the footer.
    pub accent: Color,
    /// The selected row's background.
    pub selected_bg: Color,
    /// Good news (done, online).
    pub ok: Color,
    /// Needs attention (awaiting review, held, ≥ 80 %).
    pub warn: Color,
    /// Bad news (failed, offline, 100 %).
    pub error: Color,
    /// Borders.
    pub border: Color,
}

impl Theme {
    /// For dark terminals.
    pub fn dark() -> Self {
        Self {
            text: Color::Gray,
            dim: Color::DarkGray,
            accent: Color::Cyan,
            selected_bg: Color::Rgb(40, 60, 90),
            ok: Color::Green,
            warn: Color::Yellow,
            error: Color::LightRed,
            border: Color::DarkGray,
        }
    }

    /// For light terminals.
    pub fn light() -> Self {
        Self {
            text: Color::Black,
            dim: Color::Gray,
            accent: Color::Blue,
            selected_bg: Color::Rgb(200, 220, 250),
            ok: Color::Rgb(0, 120, 0),
            warn: Color::Rgb(160, 100, 0),
            error: Color::Red,
            border: Color::Gray,
        }
    }

    /// A preset by name.
    pub fn named(name: &str) -> Result<Self, String> {
        match name {
            "dark" => Ok(Self::dark()),
            "light" => Ok(Self::light()),
            other => Err(format!("unknown theme {other:?} (expected dark or light)")),
        }
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let color: Color = value
            .parse()
            .map_err(|_| format!("colour {name}: cannot parse {value:?}"))?;
        let slot = match name {
            "text" => &mut self.text,
            "dim" => &mut self.dim,
            "accent" => &mut self.accent,
            "selected_bg" => &mut self.selected_bg,
            "ok" => &mut self.ok,
            "warn" => &mut self.warn,
            "error" => &mut self.error,
            "border" => &mut self.border,
            other => return Err(format!("unknown colour {other:?}")),
        };
        *slot = color;
        Ok(())
    }

    /// Plain text style.
    pub fn text(&self) -> Style {
        Style::new().fg(self.text)
    }

    /// Dim text style.
    pub fn dim(&self) -> Style {
        Style::new().fg(self.dim)
    }

    /// Accent style.
    pub fn accent(&self) -> Style {
        Style::new().fg(self.accent).add_modifier(Modifier::BOLD)
    }

    /// Selected row.
    pub fn selected(&self) -> Style {
        Style::new()
            .bg(self.selected_bg)
            .add_modifier(Modifier::BOLD)
    }

    /// Border style.
    pub fn border(&self) -> Style {
        Style::new().fg(self.border)
    }
}

/// The parsed `tui.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    theme: Option<String>,
    #[serde(default)]
    colors: BTreeMap<String, String>,
    #[serde(default)]
    keys: BTreeMap<String, Vec<String>>,
}

/// Theme and keymap, from defaults, the config file, then the `--theme` flag.
pub fn load(path: &Path, theme_flag: Option<&str>) -> Result<(Theme, Keymap), String> {
    let file: ConfigFile = match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigFile::default(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let preset = theme_flag.or(file.theme.as_deref()).unwrap_or("dark");
    let mut theme = Theme::named(preset)?;
    for (name, value) in &file.colors {
        theme.set(name, value)?;
    }
    let keymap =
        Keymap::with_overrides(&file.keys).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((theme, keymap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::{Cmd, Key};

    #[test]
    fn config_file_sets_theme_colours_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tui.toml");
        let (theme, _) = load(&path, None).unwrap();
        assert_eq!(theme, Theme::dark(), "no file: defaults");
        std::fs::write(
            &path,
            "theme = \"light\"\n[colors]\naccent = \"#010203\"\n[keys]\nquit = [\"Q\"]\n",
        )
        .unwrap();
        let (theme, keys) = load(&path, None).unwrap();
        assert_eq!(theme.accent, Color::Rgb(1, 2, 3));
        assert_eq!(theme.ok, Theme::light().ok);
        assert_eq!(keys.lookup(Key::ch('Q'), &[Cmd::Quit]), Some(Cmd::Quit));
        let (theme, _) = load(&path, Some("dark")).unwrap();
        assert_eq!(theme.ok, Theme::dark().ok, "the flag wins over the file");
        std::fs::write(&path, "[colors]\nnope = \"red\"\n").unwrap();
        assert!(load(&path, None).is_err());
        std::fs::write(&path, "bogus = 1\n").unwrap();
        assert!(load(&path, None).is_err());
    }
}
