//! SCAFFOLD: the nfdump filter language. Only the public shape is fixed here;
//! this placeholder understands `any` and nothing else.

use crate::flow::Flow;

/// A compiled filter. Cheap to clone, shareable across threads.
#[derive(Clone, Debug)]
pub struct Filter {
    source: String,
}

/// A filter that does not parse: where (1-based column) and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "filter error at column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for FilterError {}

impl Filter {
    pub fn compile(source: &str) -> Result<Filter, FilterError> {
        if source.trim() == "any" || source.trim().is_empty() {
            Ok(Filter { source: source.to_string() })
        } else {
            Err(FilterError { column: 1, message: "filters are not built yet".into() })
        }
    }

    /// Matches everything.
    pub fn any() -> Filter {
        Filter { source: "any".into() }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    #[inline]
    pub fn matches(&self, _flow: &Flow) -> bool {
        true
    }
}
