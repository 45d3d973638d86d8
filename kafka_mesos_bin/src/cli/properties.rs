//! Java `.properties` files: `kafka-mesos.properties` (the CLI's `api=`) and the `file:`
//! forms of `--options` and `--log4j-options`.
//!
//! ```
//! use kafka_mesos_bin::cli::properties::parse_properties;
//! let p = parse_properties("# comment\napi = http://master:7000\nlog.dirs=/a\\\n  ,/b\n");
//! assert_eq!(p, vec![("api".to_string(), "http://master:7000".to_string()),
//!                    ("log.dirs".to_string(), "/a,/b".to_string())]);
//! ```

/// The entries of a properties file, in file order (a later duplicate key replaces the value
/// of an earlier one in place, as `java.util.Properties` keeps only the last).
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in logical_lines(text) {
        let (key, value) = split_entry(&line);
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => entries.push((key, value)),
        }
    }
    entries
}

/// Joins continued lines (an odd number of trailing backslashes) and drops blank and comment
/// lines; leading whitespace of continuation lines is dropped.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim_start_matches([' ', '\t', '\u{c}']);
        let continuing = current.is_some();
        if !continuing && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        let trailing = line.chars().rev().take_while(|c| *c == '\\').count();
        let mut acc = current.take().unwrap_or_default();
        if trailing % 2 == 1 {
            acc.push_str(&line[..line.len() - 1]);
            current = Some(acc);
        } else {
            acc.push_str(line);
            out.push(acc);
        }
    }
    if let Some(rest) = current {
        out.push(rest);
    }
    out
}

fn split_entry(line: &str) -> (String, String) {
    let mut chars = line.char_indices().peekable();
    let mut key_end = line.len();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '=' | ':' | ' ' | '\t' | '\u{c}' => {
                key_end = i;
                break;
            }
            _ => {}
        }
    }
    let key = &line[..key_end];
    let mut rest = line[key_end..].trim_start_matches([' ', '\t', '\u{c}']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\u{c}']);
    }
    (unescape(key), unescape(rest))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.clone().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == 4 => {
                        out.push(ch);
                        for _ in 0..4 {
                            chars.next();
                        }
                    }
                    _ => out.push('u'),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_escapes_and_continuations() {
        let text = "a:1\nb 2\n! bang comment\nc=x\\=y\\u0041\nd=one\\\n    two\ne\nc=again\n";
        assert_eq!(
            parse_properties(text),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("c".into(), "again".into()),
                ("d".into(), "onetwo".into()),
                ("e".into(), "".into()),
            ]
        );
    }

    #[test]
    fn an_escaped_separator_stays_in_the_key() {
        assert_eq!(
            parse_properties("a\\=b=c"),
            vec![("a=b".to_string(), "c".to_string())]
        );
    }
}
