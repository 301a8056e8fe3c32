//! Where something is: `path:line:column`, formatted in one place.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A place in a file; line and column are 1-based, the column counted in
/// characters. A location without a line names the whole file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Shared with the scan that found it (one path per file).
    pub file: Arc<Path>,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl Location {
    pub fn new(file: impl AsRef<Path>, line: usize, column: usize) -> Location {
        Location::shared(Arc::from(file.as_ref()), line, column)
    }

    /// [`Location::new`] in a file whose path is already shared.
    pub fn shared(file: Arc<Path>, line: usize, column: usize) -> Location {
        Location {
            file,
            line: Some(line),
            column: Some(column),
        }
    }

    /// The whole file.
    pub fn file(file: impl AsRef<Path>) -> Location {
        Location {
            file: Arc::from(file.as_ref()),
            line: None,
            column: None,
        }
    }

    /// A line of a file, no column.
    pub fn line(file: impl AsRef<Path>, line: usize) -> Location {
        Location {
            file: Arc::from(file.as_ref()),
            line: Some(line),
            column: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Location {
    /// `{"file": …, "line": …, "column": …}`; absent parts are `null`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Location", 3)?;
        st.serialize_field("file", &self.file.display().to_string())?;
        st.serialize_field("line", &self.line)?;
        st.serialize_field("column", &self.column)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_path_line_column() {
        assert_eq!(Location::new("a.yaml", 3, 9).to_string(), "a.yaml:3:9");
        assert_eq!(Location::line("a.yaml", 3).to_string(), "a.yaml:3");
        assert_eq!(Location::file("images.lock").to_string(), "images.lock");
    }
}
