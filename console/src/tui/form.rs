//! Small modal inputs: a form of text fields (login, add user, adjust a limit, filters)
//! with masked fields for passwords, and the y/n confirmation for destructive actions.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// One text field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Label shown before the value.
    pub label: &'static str,
    /// Current text.
    pub value: String,
    /// Shown as `•`.
    pub masked: bool,
}

/// What a form is for; decides what submitting does.
#[derive(Debug, Clone, PartialEq)]
pub enum FormKind {
    /// Log in (username, password).
    Login,
    /// Add a user (username, password, role, plan).
    AddUser,
    /// Set a user's password.
    Password(String),
    /// Change a user's plan.
    Plan(String),
    /// Adjust a quota limit (empty clears the override).
    Adjust(String, idoctor_protocol::QuotaType),
    /// Pick a user for the quotas view.
    PickUser,
    /// Usage filters (user, type, kind, since, until).
    UsageFilter,
    /// CSV export path.
    Export,
    /// Mask upload (tissue, path).
    Mask(i64),
}

/// A modal form.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    /// What it is for.
    pub kind: FormKind,
    /// Title.
    pub title: String,
    /// The fields.
    pub fields: Vec<Field>,
    /// The focused field.
    pub focus: usize,
    /// A validation message from the last submit.
    pub error: Option<String>,
}

/// What a key did to a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormEvent {
    /// Still editing.
    Editing,
    /// Enter on the last field.
    Submit,
    /// Esc.
    Cancel,
}

impl Form {
    /// A form with `(label, initial, masked)` fields.
    pub fn new(
        kind: FormKind,
        title: impl Into<String>,
        fields: &[(&'static str, &str, bool)],
    ) -> Self {
        Self {
            kind,
            title: title.into(),
            fields: fields
                .iter()
                .map(|(label, value, masked)| Field {
                    label,
                    value: value.to_string(),
                    masked: *masked,
                })
                .collect(),
            focus: 0,
            error: None,
        }
    }

    /// A field's value, trimmed.
    pub fn value(&self, i: usize) -> &str {
        self.fields.get(i).map_or("", |f| f.value.trim())
    }

    /// Applies a key: typing, backspace, tab/shift-tab/↑/↓ between fields, Enter (next
    /// field, or submit on the last), Esc.
    pub fn key(&mut self, key: KeyEvent) -> FormEvent {
        let last = self.fields.len().saturating_sub(1);
        match key.code {
            KeyCode::Esc => return FormEvent::Cancel,
            KeyCode::Enter if self.focus >= last => return FormEvent::Submit,
            KeyCode::Enter | KeyCode::Tab | KeyCode::Down => {
                self.focus = (self.focus + 1).min(last)
            }
            KeyCode::BackTab | KeyCode::Up => self.focus = self.focus.saturating_sub(1),
            KeyCode::Backspace => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.value.pop();
                }
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.value.clear();
                }
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.value.push(c);
                }
            }
            _ => {}
        }
        FormEvent::Editing
    }
}

/// A pending destructive action waiting for y/n.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    /// The question.
    pub question: String,
    /// What happens on yes.
    pub effect: super::action::Effect,
}

/// A single-line input at the bottom (`:` commands and `/` filters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInput {
    /// `:` or `/`.
    pub prefix: char,
    /// Typed text.
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn typing_moving_and_submitting() {
        let mut f = Form::new(
            FormKind::Login,
            "login",
            &[("user", "", false), ("password", "", true)],
        );
        for c in "ann".chars() {
            assert_eq!(f.key(k(KeyCode::Char(c))), FormEvent::Editing);
        }
        f.key(k(KeyCode::Backspace));
        assert_eq!(
            f.key(k(KeyCode::Enter)),
            FormEvent::Editing,
            "enter moves on"
        );
        f.key(k(KeyCode::Char('p')));
        assert_eq!((f.value(0), f.value(1)), ("an", "p"));
        assert_eq!(f.key(k(KeyCode::Enter)), FormEvent::Submit);
        assert_eq!(f.key(k(KeyCode::Esc)), FormEvent::Cancel);
    }
}
