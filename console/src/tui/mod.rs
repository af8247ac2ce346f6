//! The interactive console. Keys become [`Action`]s, `App::update` changes state and
//! returns [`Effect`]s, and views only draw. RPCs run on spawned tasks ([`runtime`]) and
//! report back as actions, so drawing never waits on the network.

pub mod action;
pub mod admin;
pub mod app;
pub mod bench;
pub mod chrome;
pub mod detail;
pub mod form;
pub mod images;
pub mod jobs;
pub mod keymap;
pub mod listing;
pub mod mine;
pub mod runtime;
pub mod theme;

#[cfg(test)]
mod tests;

pub use action::{Action, Effect};
pub use app::{App, Connection, View};

use crate::cli::Context;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use ratatui_image::picker::Picker;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How the console was started.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Never change anything.
    pub readonly: bool,
    /// `dark` or `light`, over the config file.
    pub theme: Option<String>,
    /// The config file (theme, colours, keys); `tui.toml` in the config folder by default.
    pub config: Option<PathBuf>,
}

/// Runs the console until the user quits. The terminal is restored on every exit path,
/// panics included (ratatui's init installs the hook).
pub async fn run(ctx: Context, opts: Options) -> std::io::Result<()> {
    let path = opts
        .config
        .clone()
        .unwrap_or_else(|| ctx.config_dir.join("tui.toml"));
    let (theme, keymap) =
        theme::load(&path, opts.theme.as_deref()).map_err(std::io::Error::other)?;
    let mut terminal = ratatui::init();
    let picker = picker();
    let app = App::new(
        ctx.endpoint.to_string(),
        opts.readonly,
        theme,
        keymap,
        picker,
    );
    let result = event_loop(&mut terminal, ctx, app).await;
    ratatui::restore();
    result
}

/// Asks the terminal for kitty/sixel and its font size, falling back to halfblocks.
/// Inside tmux the query is skipped (halfblocks) unless `IDOCTOR_TUI_IMAGES=query`: a
/// pane that never answers leaves the query's reader holding the first keys typed.
/// `IDOCTOR_TUI_IMAGES=halfblocks` skips it everywhere.
fn picker() -> Picker {
    let setting = std::env::var("IDOCTOR_TUI_IMAGES").unwrap_or_default();
    let in_tmux = std::env::var_os("TMUX").is_some_and(|v| !v.is_empty());
    match setting.as_str() {
        "halfblocks" => Picker::halfblocks(),
        "query" => Picker::from_query_stdio().unwrap_or_else(|_| Picker::halfblocks()),
        _ if in_tmux => Picker::halfblocks(),
        _ => Picker::from_query_stdio().unwrap_or_else(|_| Picker::halfblocks()),
    }
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    ctx: Context,
    mut app: App,
) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Action>();
    let runtime = runtime::Runtime::new(ctx, tx);
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        terminal.draw(|frame| app.draw(frame))?;
        let action = tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => Some(Action::Key(key)),
                Some(Ok(Event::Resize(..))) => Some(Action::Redraw),
                Some(Ok(_)) => None,
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            Some(action) = rx.recv() => Some(action),
            _ = tick.tick() => Some(Action::Tick(Instant::now())),
        };
        if let Some(action) = action {
            for effect in app.update(action) {
                runtime.perform(effect);
            }
            // Drain whatever else already arrived before drawing again.
            while let Ok(more) = rx.try_recv() {
                for effect in app.update(more) {
                    runtime.perform(effect);
                }
            }
        }
        if app.should_quit() {
            return Ok(());
        }
    }
}
