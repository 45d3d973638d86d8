//! Error messages with their causes.

use std::error::Error;
use std::fmt;

/// Displays an error and its causes, `outer: inner: ...`. hyper's errors name only their kind
/// (`client error (Connect)`) and keep the reason (`Connection refused`) as a source, so their
/// own text hides why a request failed. A cause whose text already ends the message is not
/// repeated.
///
/// ```
/// use kafka_mesos_mesos::ErrorChain;
/// let e = std::io::Error::other("disk full");
/// assert_eq!(ErrorChain(&e).to_string(), "disk full");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.ends_with(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Nested {
        text: &'static str,
        #[source]
        source: Option<Box<Nested>>,
    }

    fn nested(texts: &[&'static str]) -> Nested {
        let (first, rest) = texts.split_first().unwrap();
        Nested {
            text: first,
            source: (!rest.is_empty()).then(|| Box::new(nested(rest))),
        }
    }

    #[test]
    fn causes_are_kept_once() {
        let e = nested(&[
            "client error (Connect)",
            "tcp connect error",
            "Connection refused (os error 111)",
        ]);
        assert_eq!(
            ErrorChain(&e).to_string(),
            "client error (Connect): tcp connect error: Connection refused (os error 111)"
        );
        let e = nested(&["broke: early eof", "early eof"]);
        assert_eq!(ErrorChain(&e).to_string(), "broke: early eof");
        // Only a cause ending the text counts as already said.
        let e = nested(&["eof while reading", "eof"]);
        assert_eq!(ErrorChain(&e).to_string(), "eof while reading: eof");
    }
}
