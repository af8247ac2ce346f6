//! The interactive console. Keys become [`Action`]s, `App::update` changes state, and
//! views only draw. RPCs run on spawned tasks and report back as actions, so drawing
//! never waits on the network.

mod app;

pub use app::{Action, App, Connection};

use crate::cli::Context;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;

/// Runs the console until the user quits. The terminal is restored on every exit path,
/// panics included (ratatui's init installs the hook).
pub async fn run(ctx: Context, readonly: bool) -> std::io::Result<()> {
    let mut terminal = ratatui::init();
    let result = event_loop(&mut terminal, ctx, readonly).await;
    ratatui::restore();
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    ctx: Context,
    readonly: bool,
) -> std::io::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Action>();
    let mut app = App::new(ctx.endpoint.to_string(), readonly);
    spawn_connect(ctx.clone(), tx.clone());
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        terminal.draw(|frame| app.draw(frame))?;
        let action = tokio::select! {
            Some(Ok(event)) = events.next() => match event {
                Event::Key(key) if key.kind == KeyEventKind::Press => app.key_action(key),
                Event::Resize(..) => Some(Action::Redraw),
                _ => None,
            },
            Some(action) = rx.recv() => Some(action),
            _ = tick.tick() => None,
        };
        if let Some(action) = action
            && let Some(Action::Reconnect) = app.update(action)
        {
            spawn_connect(ctx.clone(), tx.clone());
        }
        if app.should_quit() {
            return Ok(());
        }
    }
}

fn spawn_connect(ctx: Context, tx: mpsc::UnboundedSender<Action>) {
    tokio::spawn(async move {
        let result = match ctx.client().await {
            Ok(client) => client.whoami().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let _ = tx.send(Action::Connected(result));
    });
}
