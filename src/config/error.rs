//! Config problems as an installer sees them: file, line, key path, what is wrong.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a site config.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Key path, e.g. `chargers[2].max_current_a` (empty for the whole file).
    pub path: String,
    /// 1-based line in the file, when the key (or its table) is in the file.
    pub line: Option<usize>,
    /// The environment variable that set this key, when it came from the environment.
    pub env_var: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(v) = &self.env_var {
            write!(f, " (set by environment variable {v})")?;
        }
        Ok(())
    }
}

/// Why a site config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not valid TOML: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}", render_invalid(.path, .problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// Every problem found (one for read and syntax errors).
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ConfigError::Invalid { problems, .. } => problems.clone(),
            ConfigError::Syntax { line, message, .. } => vec![Problem {
                path: String::new(),
                line: Some(*line),
                env_var: None,
                message: format!("not valid TOML: {message}"),
            }],
            ConfigError::Read { source, .. } => vec![Problem {
                path: String::new(),
                line: None,
                env_var: None,
                message: source.to_string(),
            }],
        }
    }
}

fn render_invalid(path: &std::path::Path, problems: &[Problem]) -> String {
    let mut s = format!(
        "{} has {} problem{}:",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        s.push_str("\n  ");
        s.push_str(&p.to_string());
    }
    s
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// " (did you mean `x`?)" or "".
pub fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let known = ["max_current_a", "min_current_a", "priority"];
        assert_eq!(did_you_mean("max_curent_a", known), Some("max_current_a"));
        assert_eq!(did_you_mean("priorty", known), Some("priority"));
        assert_eq!(did_you_mean("colour", known), None);
    }
}
