//! Reading a password without putting it on the command line: from stdin
//! (`--password-stdin`), from `IDOCTOR_PASSWORD`, or from a no-echo prompt on a terminal.

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use std::io::{IsTerminal, Read, Write};

/// Why no password could be read.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Nothing was given and there is no terminal to ask on.
    #[error("no password: use --password-stdin, IDOCTOR_PASSWORD, or run in a terminal")]
    Missing,
    /// The prompt was cancelled with Ctrl-C or Esc.
    #[error("cancelled")]
    Cancelled,
    /// Reading failed.
    #[error("cannot read the password: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a password from the first available source.
pub fn read_password(from_stdin: bool, prompt: &str) -> Result<String, PasswordError> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        let line = text.lines().next().unwrap_or_default().to_string();
        return if line.is_empty() {
            Err(PasswordError::Missing)
        } else {
            Ok(line)
        };
    }
    if let Ok(p) = std::env::var("IDOCTOR_PASSWORD")
        && !p.is_empty()
    {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(PasswordError::Missing);
    }
    prompt_no_echo(prompt)
}

fn prompt_no_echo(prompt: &str) -> Result<String, PasswordError> {
    let mut err = std::io::stderr();
    write!(err, "{prompt}")?;
    err.flush()?;
    crossterm::terminal::enable_raw_mode()?;
    let result = (|| {
        let mut password = String::new();
        loop {
            if let Event::Key(key) = event::read()? {
                if key.kind != KeyEventKind::Press {
                    continue;
                }
                match key.code {
                    KeyCode::Enter => return Ok(password),
                    KeyCode::Esc => return Err(PasswordError::Cancelled),
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        return Err(PasswordError::Cancelled);
                    }
                    KeyCode::Backspace => {
                        password.pop();
                    }
                    KeyCode::Char(c) => password.push(c),
                    _ => {}
                }
            }
        }
    })();
    let _ = crossterm::terminal::disable_raw_mode();
    writeln!(err)?;
    result
}
