//! stout's JSON syntax check (picojson 1.3.0), for Mesos's texts of JSON errors.

/// stout's `JSON::parse` (picojson 1.3.0): `None` if `body` is JSON, else its error text
/// (`syntax error at line 1 near: not json`).
pub(super) fn json_syntax_error(body: &[u8]) -> Option<String> {
    struct Input<'a> {
        bytes: &'a [u8],
        cur: usize,
        consumed: bool,
        line: usize,
    }
    impl Input<'_> {
        fn getc(&mut self) -> i32 {
            if self.consumed {
                if self.bytes[self.cur] == b'\n' {
                    self.line += 1;
                }
                self.cur += 1;
            }
            if self.cur == self.bytes.len() {
                self.consumed = false;
                return -1;
            }
            self.consumed = true;
            i32::from(self.bytes[self.cur])
        }
        fn ungetc(&mut self) {
            self.consumed = false;
        }
        fn cur(&mut self) -> usize {
            if self.consumed {
                self.consumed = false;
                self.cur += 1;
            }
            self.cur
        }
        fn skip_ws(&mut self) {
            loop {
                let ch = self.getc();
                if !matches!(ch, 0x20 | 0x09 | 0x0a | 0x0d) {
                    self.ungetc();
                    break;
                }
            }
        }
        fn expect(&mut self, expected: u8) -> bool {
            self.skip_ws();
            if self.getc() != i32::from(expected) {
                self.ungetc();
                return false;
            }
            true
        }
        fn matches(&mut self, pattern: &[u8]) -> bool {
            for &p in pattern {
                if self.getc() != i32::from(p) {
                    self.ungetc();
                    return false;
                }
            }
            true
        }
        fn quadhex(&mut self) -> i32 {
            let mut value = 0;
            for _ in 0..4 {
                let hex = self.getc();
                let digit = match u8::try_from(hex) {
                    Ok(c @ b'0'..=b'9') => i32::from(c - b'0'),
                    Ok(c @ b'A'..=b'F') => i32::from(c - b'A' + 10),
                    Ok(c @ b'a'..=b'f') => i32::from(c - b'a' + 10),
                    _ => {
                        if hex != -1 {
                            self.ungetc();
                        }
                        return -1;
                    }
                };
                value = value * 16 + digit;
            }
            value
        }
        fn codepoint(&mut self) -> bool {
            let first = self.quadhex();
            if first == -1 {
                return false;
            }
            if (0xd800..=0xdfff).contains(&first) {
                if first >= 0xdc00 {
                    return false;
                }
                if self.getc() != i32::from(b'\\') || self.getc() != i32::from(b'u') {
                    self.ungetc();
                    return false;
                }
                let second = self.quadhex();
                if !(0xdc00..=0xdfff).contains(&second) {
                    return false;
                }
            }
            true
        }
        fn string(&mut self) -> bool {
            loop {
                let ch = self.getc();
                if ch < 0x20 {
                    self.ungetc();
                    return false;
                } else if ch == i32::from(b'"') {
                    return true;
                } else if ch == i32::from(b'\\') {
                    let escaped = self.getc();
                    if escaped == -1 {
                        return false;
                    }
                    match u8::try_from(escaped) {
                        Ok(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                        Ok(b'u') => {
                            if !self.codepoint() {
                                return false;
                            }
                        }
                        _ => return false,
                    }
                }
            }
        }
        fn number(&mut self) -> String {
            let mut text = String::new();
            loop {
                let ch = self.getc();
                match u8::try_from(ch) {
                    Ok(c @ (b'0'..=b'9' | b'+' | b'-' | b'e' | b'E' | b'.')) => {
                        text.push(char::from(c))
                    }
                    _ => {
                        self.ungetc();
                        return text;
                    }
                }
            }
        }
        fn value(&mut self, depth: usize) -> bool {
            if depth > 512 {
                return false;
            }
            self.skip_ws();
            let ch = self.getc();
            match u8::try_from(ch) {
                Ok(b'n') => return self.matches(b"ull"),
                Ok(b'f') => return self.matches(b"alse"),
                Ok(b't') => return self.matches(b"rue"),
                Ok(b'"') => return self.string(),
                Ok(b'[') => {
                    if self.expect(b']') {
                        return true;
                    }
                    loop {
                        if !self.value(depth + 1) {
                            return false;
                        }
                        if !self.expect(b',') {
                            break;
                        }
                    }
                    return self.expect(b']');
                }
                Ok(b'{') => {
                    if self.expect(b'}') {
                        return true;
                    }
                    loop {
                        if !self.expect(b'"') || !self.string() || !self.expect(b':') {
                            return false;
                        }
                        if !self.value(depth + 1) {
                            return false;
                        }
                        if !self.expect(b',') {
                            break;
                        }
                    }
                    return self.expect(b'}');
                }
                Ok(b'0'..=b'9' | b'-') => {
                    self.ungetc();
                    let text = self.number();
                    // strtod must consume the whole text.
                    return !text.is_empty() && text.parse::<f64>().is_ok();
                }
                _ => {}
            }
            self.ungetc();
            false
        }
    }
    let mut input = Input {
        bytes: body,
        cur: 0,
        consumed: false,
        line: 1,
    };
    if !input.value(0) {
        let mut error = format!("syntax error at line {} near: ", input.line).into_bytes();
        loop {
            let ch = input.getc();
            if ch == -1 || ch == i32::from(b'\n') {
                break;
            }
            if ch >= 0x20 {
                error.push(ch as u8);
            }
        }
        return Some(String::from_utf8_lossy(&error).into_owned());
    }
    let end = input.cur();
    let last_visible = body
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'));
    match last_visible {
        Some(last) if end <= last => Some(format!(
            "Parsed JSON included non-whitespace trailing characters: {}",
            String::from_utf8_lossy(&body[end..=last])
        )),
        _ => None,
    }
}
