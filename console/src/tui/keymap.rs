//! Key bindings as data: every command the console understands, its default keys, and
//! overrides from the `[keys]` table of the console's config file. Views never match on
//! key codes; they ask the keymap which [`Cmd`] a key means in their context.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use std::fmt;

/// A command a key can trigger. Which ones apply depends on the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cmd {
    /// Leave the console.
    Quit,
    /// Go back one view (or close a popup).
    Back,
    /// Show the key bindings.
    Help,
    /// Open `:` command mode.
    Command,
    /// Open `/` filter mode (`!` first inverts it).
    Filter,
    /// Fetch the current view again now.
    Refresh,
    /// Selection up (L3 one slice up on the job detail).
    Up,
    /// Selection down (L3 one slice down on the job detail).
    Down,
    /// One page up (L3 one vertebra up on the job detail).
    PageUp,
    /// One page down (L3 one vertebra down on the job detail).
    PageDown,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// Open the selection (set L3 on the job detail).
    Select,
    /// Previous tab (quota type, result version).
    Left,
    /// Next tab.
    Right,
    /// Sort by the next column.
    Sort,
    /// Reverse the sort order.
    SortReverse,
    /// Jump to the next job awaiting review.
    JumpReview,
    /// Jump to the next held job.
    JumpHeld,
    /// Continue a reviewed job.
    Continue,
    /// Run a job again.
    Rerun,
    /// Cancel a job.
    CancelJob,
    /// Cycle the axial overlay (all, muscle, psoas).
    Overlay,
    /// Upload a mask PNG for the mid slice.
    UploadMask,
    /// Add a user.
    AddUser,
    /// Disable a user.
    Disable,
    /// Enable a user.
    Enable,
    /// Set a user's password.
    Password,
    /// Change a user's plan.
    Plan,
    /// Toggle a user's review/auto mode.
    Mode,
    /// Adjust the selected quota limit.
    Adjust,
    /// Reset the selected quota balance.
    Reset,
    /// Reset every quota balance of the user.
    ResetAll,
    /// Pick which user's quotas to show.
    PickUser,
    /// Edit the usage filters.
    EditFilters,
    /// Next (older) page.
    NextPage,
    /// Previous (newer) page.
    PrevPage,
    /// Export the current view to CSV.
    Export,
}

impl Cmd {
    /// Every command, in help order.
    pub const ALL: [Cmd; 38] = [
        Cmd::Quit,
        Cmd::Back,
        Cmd::Help,
        Cmd::Command,
        Cmd::Filter,
        Cmd::Refresh,
        Cmd::Up,
        Cmd::Down,
        Cmd::PageUp,
        Cmd::PageDown,
        Cmd::Top,
        Cmd::Bottom,
        Cmd::Select,
        Cmd::Left,
        Cmd::Right,
        Cmd::Sort,
        Cmd::SortReverse,
        Cmd::JumpReview,
        Cmd::JumpHeld,
        Cmd::Continue,
        Cmd::Rerun,
        Cmd::CancelJob,
        Cmd::Overlay,
        Cmd::UploadMask,
        Cmd::AddUser,
        Cmd::Disable,
        Cmd::Enable,
        Cmd::Password,
        Cmd::Plan,
        Cmd::Mode,
        Cmd::Adjust,
        Cmd::Reset,
        Cmd::ResetAll,
        Cmd::PickUser,
        Cmd::EditFilters,
        Cmd::NextPage,
        Cmd::PrevPage,
        Cmd::Export,
    ];

    /// The snake_case name used in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Cmd::Quit => "quit",
            Cmd::Back => "back",
            Cmd::Help => "help",
            Cmd::Command => "command",
            Cmd::Filter => "filter",
            Cmd::Refresh => "refresh",
            Cmd::Up => "up",
            Cmd::Down => "down",
            Cmd::PageUp => "page_up",
            Cmd::PageDown => "page_down",
            Cmd::Top => "top",
            Cmd::Bottom => "bottom",
            Cmd::Select => "select",
            Cmd::Left => "left",
            Cmd::Right => "right",
            Cmd::Sort => "sort",
            Cmd::SortReverse => "sort_reverse",
            Cmd::JumpReview => "jump_review",
            Cmd::JumpHeld => "jump_held",
            Cmd::Continue => "continue",
            Cmd::Rerun => "rerun",
            Cmd::CancelJob => "cancel_job",
            Cmd::Overlay => "overlay",
            Cmd::UploadMask => "upload_mask",
            Cmd::AddUser => "add_user",
            Cmd::Disable => "disable",
            Cmd::Enable => "enable",
            Cmd::Password => "password",
            Cmd::Plan => "plan",
            Cmd::Mode => "mode",
            Cmd::Adjust => "adjust",
            Cmd::Reset => "reset",
            Cmd::ResetAll => "reset_all",
            Cmd::PickUser => "pick_user",
            Cmd::EditFilters => "edit_filters",
            Cmd::NextPage => "next_page",
            Cmd::PrevPage => "prev_page",
            Cmd::Export => "export",
        }
    }

    /// What it does, for `?` help.
    pub fn describe(self) -> &'static str {
        match self {
            Cmd::Quit => "quit",
            Cmd::Back => "back / close",
            Cmd::Help => "help",
            Cmd::Command => "command (:jobs :series :quota :usage :users :stats)",
            Cmd::Filter => "filter (/!text inverts)",
            Cmd::Refresh => "refresh now",
            Cmd::Up => "up (job: L3 one slice up)",
            Cmd::Down => "down (job: L3 one slice down)",
            Cmd::PageUp => "page up (job: L3 one vertebra up)",
            Cmd::PageDown => "page down (job: L3 one vertebra down)",
            Cmd::Top => "first row",
            Cmd::Bottom => "last row",
            Cmd::Select => "open (job: set L3 here)",
            Cmd::Left => "previous version / quota type",
            Cmd::Right => "next version / quota type",
            Cmd::Sort => "sort by next column",
            Cmd::SortReverse => "reverse sort",
            Cmd::JumpReview => "next awaiting_review job",
            Cmd::JumpHeld => "next held job",
            Cmd::Continue => "continue a reviewed job",
            Cmd::Rerun => "re-run job",
            Cmd::CancelJob => "cancel job",
            Cmd::Overlay => "cycle overlay image",
            Cmd::UploadMask => "upload a mask PNG",
            Cmd::AddUser => "add user",
            Cmd::Disable => "disable user",
            Cmd::Enable => "enable user",
            Cmd::Password => "set password",
            Cmd::Plan => "change plan",
            Cmd::Mode => "toggle review/auto mode",
            Cmd::Adjust => "adjust limit",
            Cmd::Reset => "reset this balance",
            Cmd::ResetAll => "reset all balances",
            Cmd::PickUser => "pick user",
            Cmd::EditFilters => "edit filters",
            Cmd::NextPage => "older page",
            Cmd::PrevPage => "newer page",
            Cmd::Export => "export CSV",
        }
    }

    /// Whether it changes something on the daemon (refused with `--readonly`).
    pub fn mutates(self) -> bool {
        matches!(
            self,
            Cmd::Continue
                | Cmd::Rerun
                | Cmd::CancelJob
                | Cmd::UploadMask
                | Cmd::AddUser
                | Cmd::Disable
                | Cmd::Enable
                | Cmd::Password
                | Cmd::Plan
                | Cmd::Mode
                | Cmd::Adjust
                | Cmd::Reset
                | Cmd::ResetAll
        )
    }

    fn from_name(name: &str) -> Option<Cmd> {
        Cmd::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// One key with its modifiers (shift is folded into the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Control or alt.
    pub mods: KeyModifiers,
}

impl Key {
    /// A plain key.
    pub const fn plain(code: KeyCode) -> Self {
        Self {
            code,
            mods: KeyModifiers::NONE,
        }
    }

    /// A character key.
    pub const fn ch(c: char) -> Self {
        Self::plain(KeyCode::Char(c))
    }

    /// Ctrl plus a character.
    pub const fn ctrl(c: char) -> Self {
        Self {
            code: KeyCode::Char(c),
            mods: KeyModifiers::CONTROL,
        }
    }

    /// From a terminal event.
    pub fn from_event(e: KeyEvent) -> Self {
        let mods = e.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        Self { code: e.code, mods }
    }

    /// Parses `q`, `Q`, `ctrl-c`, `enter`, `esc`, `up`, `pgdn`, `f5`, `space`, `tab`.
    pub fn parse(s: &str) -> Result<Key, String> {
        let (mods, rest) = if let Some(r) = s.strip_prefix("ctrl-") {
            (KeyModifiers::CONTROL, r)
        } else if let Some(r) = s.strip_prefix("alt-") {
            (KeyModifiers::ALT, r)
        } else {
            (KeyModifiers::NONE, s)
        };
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" => KeyCode::PageUp,
            "pgdn" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            f if f.len() > 1 && f.starts_with('f') => {
                KeyCode::F(f[1..].parse().map_err(|_| format!("unknown key {s:?}"))?)
            }
            c if c.chars().count() == 1 => KeyCode::Char(c.chars().next().unwrap_or(' ')),
            _ => return Err(format!("unknown key {s:?}")),
        };
        Ok(Key { code, mods })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("backtab"),
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "f{n}"),
            _ => f.write_str("?"),
        }
    }
}

/// Which keys trigger which commands.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: BTreeMap<Cmd, Vec<Key>>,
}

impl Default for Keymap {
    fn default() -> Self {
        use KeyCode::*;
        let p = Key::plain;
        let c = Key::ch;
        let defaults: [(Cmd, Vec<Key>); 38] = [
            (Cmd::Quit, vec![c('q'), Key::ctrl('c')]),
            (Cmd::Back, vec![p(Esc)]),
            (Cmd::Help, vec![c('?')]),
            (Cmd::Command, vec![c(':')]),
            (Cmd::Filter, vec![c('/')]),
            (Cmd::Refresh, vec![Key::ctrl('r'), p(F(5))]),
            (Cmd::Up, vec![p(Up), c('k')]),
            (Cmd::Down, vec![p(Down), c('j')]),
            (Cmd::PageUp, vec![p(PageUp)]),
            (Cmd::PageDown, vec![p(PageDown)]),
            (Cmd::Top, vec![p(Home), c('g')]),
            (Cmd::Bottom, vec![p(End), c('G')]),
            (Cmd::Select, vec![p(Enter)]),
            (Cmd::Left, vec![p(Left), c('[')]),
            (Cmd::Right, vec![p(Right), c(']')]),
            (Cmd::Sort, vec![c('s')]),
            (Cmd::SortReverse, vec![c('S')]),
            (Cmd::JumpReview, vec![c('w')]),
            (Cmd::JumpHeld, vec![c('h')]),
            (Cmd::Continue, vec![c('c')]),
            (Cmd::Rerun, vec![c('R')]),
            (Cmd::CancelJob, vec![c('X')]),
            (Cmd::Overlay, vec![c('o')]),
            (Cmd::UploadMask, vec![c('M')]),
            (Cmd::AddUser, vec![c('a')]),
            (Cmd::Disable, vec![c('d')]),
            (Cmd::Enable, vec![c('e')]),
            (Cmd::Password, vec![c('P')]),
            (Cmd::Plan, vec![c('p')]),
            (Cmd::Mode, vec![c('m')]),
            (Cmd::Adjust, vec![c('a')]),
            (Cmd::Reset, vec![c('x')]),
            (Cmd::ResetAll, vec![c('X')]),
            (Cmd::PickUser, vec![c('u')]),
            (Cmd::EditFilters, vec![c('f')]),
            (Cmd::NextPage, vec![c('n')]),
            (Cmd::PrevPage, vec![c('b')]),
            (Cmd::Export, vec![c('E')]),
        ];
        Self {
            bindings: defaults.into_iter().collect(),
        }
    }
}

impl Keymap {
    /// Defaults with `overrides` (`command name → keys`) applied on top.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<Self, String> {
        let mut map = Self::default();
        for (name, keys) in overrides {
            let cmd = Cmd::from_name(name).ok_or_else(|| format!("unknown command {name:?}"))?;
            let keys = keys
                .iter()
                .map(|k| Key::parse(k))
                .collect::<Result<Vec<_>, _>>()?;
            map.bindings.insert(cmd, keys);
        }
        Ok(map)
    }

    /// The command `key` means among `allowed` (the view's commands, in priority order).
    pub fn lookup(&self, key: Key, allowed: &[Cmd]) -> Option<Cmd> {
        allowed.iter().copied().find(|cmd| {
            self.bindings
                .get(cmd)
                .is_some_and(|keys| keys.contains(&key))
        })
    }

    /// The keys of a command, as text (`↑/k`).
    pub fn keys_of(&self, cmd: Cmd) -> String {
        self.bindings
            .get(&cmd)
            .map(|keys| {
                keys.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default()
    }

    /// The first key of a command, for the footer.
    pub fn first_key(&self, cmd: Cmd) -> String {
        self.bindings
            .get(&cmd)
            .and_then(|k| k.first())
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_context() {
        let map = Keymap::default();
        let allowed = [Cmd::Quit, Cmd::Down, Cmd::AddUser];
        assert_eq!(map.lookup(Key::ch('q'), &allowed), Some(Cmd::Quit));
        assert_eq!(map.lookup(Key::ch('j'), &allowed), Some(Cmd::Down));
        // `a` means add-user here, adjust elsewhere.
        assert_eq!(map.lookup(Key::ch('a'), &allowed), Some(Cmd::AddUser));
        assert_eq!(map.lookup(Key::ch('a'), &[Cmd::Adjust]), Some(Cmd::Adjust));
        assert_eq!(map.lookup(Key::ch('z'), &allowed), None);
        let mut o = BTreeMap::new();
        o.insert(
            "quit".to_string(),
            vec!["ctrl-q".to_string(), "Q".to_string()],
        );
        let map = Keymap::with_overrides(&o).unwrap();
        assert_eq!(map.lookup(Key::ch('q'), &allowed), None);
        assert_eq!(map.lookup(Key::ctrl('q'), &allowed), Some(Cmd::Quit));
        assert_eq!(map.keys_of(Cmd::Quit), "ctrl-q/Q");
        o.insert("nope".into(), vec![]);
        assert!(Keymap::with_overrides(&o).is_err());
        assert_eq!(Key::parse("pgdn").unwrap(), Key::plain(KeyCode::PageDown));
        assert!(Key::parse("hyper-x").is_err());
    }
}
