//! Reading a file's bytes as text: UTF-8 (with or without a byte order
//! mark), and UTF-16 or UTF-32 when a byte order mark says so (what
//! Windows PowerShell writes, and what kubectl reads).
//!
//! Decoding strips the byte order mark and [`Encoding::encode`] puts it
//! back, so `encode(decode(bytes)) == bytes` byte for byte: spans found in
//! the decoded text are what `pin` edits before encoding the file again.
//!
//! Without a byte order mark a file is UTF-8. A file found by walking a
//! directory that holds NUL bytes and has no UTF-16/32 byte order mark is
//! taken as binary and skipped: BOM-less UTF-16 is rare, and guessing it
//! would read binary files as text.

use std::path::Path;

use super::ScanError;

/// How a file's text is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    Utf8,
    /// UTF-8 starting with `EF BB BF`.
    Utf8Bom,
    /// UTF-16 little endian, starting with `FF FE`.
    Utf16Le,
    /// UTF-16 big endian, starting with `FE FF`.
    Utf16Be,
    /// UTF-32 little endian, starting with `FF FE 00 00`.
    Utf32Le,
    /// UTF-32 big endian, starting with `00 00 FE FF`.
    Utf32Be,
}

/// A file read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFile {
    /// The decoded text, without a byte order mark.
    pub text: String,
    pub encoding: Encoding,
}

impl Encoding {
    /// The encoding a byte order mark at the start of `bytes` names (UTF-8
    /// when there is none).
    pub fn detect(bytes: &[u8]) -> Encoding {
        match bytes {
            [0xFF, 0xFE, 0, 0, ..] => Encoding::Utf32Le,
            [0, 0, 0xFE, 0xFF, ..] => Encoding::Utf32Be,
            [0xFF, 0xFE, ..] => Encoding::Utf16Le,
            [0xFE, 0xFF, ..] => Encoding::Utf16Be,
            [0xEF, 0xBB, 0xBF, ..] => Encoding::Utf8Bom,
            _ => Encoding::Utf8,
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf8Bom => "UTF-8 with BOM",
            Encoding::Utf16Le => "UTF-16LE",
            Encoding::Utf16Be => "UTF-16BE",
            Encoding::Utf32Le => "UTF-32LE",
            Encoding::Utf32Be => "UTF-32BE",
        }
    }

    fn bom(self) -> &'static [u8] {
        match self {
            Encoding::Utf8 => b"",
            Encoding::Utf8Bom => b"\xEF\xBB\xBF",
            Encoding::Utf16Le => b"\xFF\xFE",
            Encoding::Utf16Be => b"\xFE\xFF",
            Encoding::Utf32Le => b"\xFF\xFE\x00\x00",
            Encoding::Utf32Be => b"\x00\x00\xFE\xFF",
        }
    }

    /// Decode `bytes` (the whole file) in the encoding its byte order mark
    /// names. Invalid input is an error naming the file, the encoding and
    /// the position (line and column of the text decoded so far, and the
    /// byte offset).
    pub fn decode(path: &Path, bytes: &[u8]) -> Result<(String, Encoding), ScanError> {
        let encoding = Encoding::detect(bytes);
        let body = &bytes[encoding.bom().len()..];
        let text = match encoding {
            Encoding::Utf8 | Encoding::Utf8Bom => match std::str::from_utf8(body) {
                Ok(s) => s.to_string(),
                Err(e) => {
                    // Columns count characters after the BOM, as in the text.
                    let good = std::str::from_utf8(&body[..e.valid_up_to()]).unwrap_or_default();
                    let (line, column) = position(good);
                    return Err(ScanError::NotUtf8 {
                        path: path.to_path_buf(),
                        line,
                        column,
                    });
                }
            },
            Encoding::Utf16Le | Encoding::Utf16Be => decode_utf16(path, encoding, body)?,
            Encoding::Utf32Le | Encoding::Utf32Be => decode_utf32(path, encoding, body)?,
        };
        Ok((text, encoding))
    }

    /// `text` in this encoding, byte order mark first.
    pub fn encode(&self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bom().len() + text.len() * 4);
        out.extend_from_slice(self.bom());
        match self {
            Encoding::Utf8 | Encoding::Utf8Bom => out.extend_from_slice(text.as_bytes()),
            Encoding::Utf16Le => text
                .encode_utf16()
                .for_each(|u| out.extend_from_slice(&u.to_le_bytes())),
            Encoding::Utf16Be => text
                .encode_utf16()
                .for_each(|u| out.extend_from_slice(&u.to_be_bytes())),
            Encoding::Utf32Le => text
                .chars()
                .for_each(|c| out.extend_from_slice(&u32::from(c).to_le_bytes())),
            Encoding::Utf32Be => text
                .chars()
                .for_each(|c| out.extend_from_slice(&u32::from(c).to_be_bytes())),
        }
        out
    }
}

/// 1-based line and column (in characters) just after `before`, lines
/// broken as YAML (and the scan) breaks them: at `\n`, `\r\n` and a lone
/// `\r`.
pub(crate) fn position(before: &str) -> (usize, usize) {
    let bytes = before.as_bytes();
    let lone_cr = memchr::memchr_iter(b'\r', bytes)
        .filter(|&i| bytes.get(i + 1) != Some(&b'\n'))
        .count();
    let line = memchr::memchr_iter(b'\n', bytes).count() + lone_cr + 1;
    let start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

fn invalid(
    path: &Path,
    encoding: Encoding,
    decoded: &str,
    offset: usize,
    message: &str,
) -> ScanError {
    let (line, column) = position(decoded);
    ScanError::Decode {
        path: path.to_path_buf(),
        line,
        column,
        encoding: encoding.name(),
        offset: offset + encoding.bom().len(),
        message: message.to_string(),
    }
}

fn decode_utf16(path: &Path, encoding: Encoding, body: &[u8]) -> Result<String, ScanError> {
    let le = encoding == Encoding::Utf16Le;
    let mut out = String::with_capacity(body.len() / 2);
    let units = body.chunks_exact(2).map(|c| {
        let pair = [c[0], c[1]];
        if le {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    });
    let mut offset = 0;
    for r in char::decode_utf16(units) {
        match r {
            Ok(c) => {
                out.push(c);
                offset += c.len_utf16() * 2;
            }
            Err(e) => {
                let msg = format!("unpaired surrogate 0x{:04X}", e.unpaired_surrogate());
                return Err(invalid(path, encoding, &out, offset, &msg));
            }
        }
    }
    if !body.len().is_multiple_of(2) {
        return Err(invalid(
            path,
            encoding,
            &out,
            offset,
            "the file ends in the middle of a 2-byte code unit",
        ));
    }
    Ok(out)
}

fn decode_utf32(path: &Path, encoding: Encoding, body: &[u8]) -> Result<String, ScanError> {
    let le = encoding == Encoding::Utf32Le;
    let mut out = String::with_capacity(body.len() / 4);
    for (i, c) in body.chunks_exact(4).enumerate() {
        let quad = [c[0], c[1], c[2], c[3]];
        let v = if le {
            u32::from_le_bytes(quad)
        } else {
            u32::from_be_bytes(quad)
        };
        match char::from_u32(v) {
            Some(ch) => out.push(ch),
            None => {
                let msg = format!("0x{v:08X} is not a Unicode scalar value");
                return Err(invalid(path, encoding, &out, i * 4, &msg));
            }
        }
    }
    if !body.len().is_multiple_of(4) {
        let offset = body.len() / 4 * 4;
        return Err(invalid(
            path,
            encoding,
            &out,
            offset,
            "the file ends in the middle of a 4-byte code unit",
        ));
    }
    Ok(out)
}

/// Read one file as text. `Ok(None)` when a file found by walking a
/// directory (`explicit` false) holds NUL bytes and no UTF-16/32 byte
/// order mark: binary, skipped.
pub fn read_file(path: &Path, explicit: bool) -> Result<Option<ReadFile>, ScanError> {
    let bytes = fs_err::read(path).map_err(|e| ScanError::Io {
        path: path.to_path_buf(),
        source: crate::file_error::without_path(e, path),
    })?;
    let encoding = Encoding::detect(&bytes);
    let wide = !matches!(encoding, Encoding::Utf8 | Encoding::Utf8Bom);
    if !explicit && !wide && bytes.contains(&0) {
        return Ok(None);
    }
    let bom = encoding.bom().len();
    if !wide && std::str::from_utf8(&bytes[bom..]).is_ok() {
        // Valid UTF-8 becomes the text in place: no second copy of the file.
        let mut bytes = bytes;
        bytes.drain(..bom);
        let text = String::from_utf8(bytes).map_err(|e| ScanError::NotUtf8 {
            path: path.to_path_buf(),
            line: 1,
            column: e.utf8_error().valid_up_to() + 1,
        })?;
        return Ok(Some(ReadFile { text, encoding }));
    }
    let (text, encoding) = Encoding::decode(path, &bytes)?;
    Ok(Some(ReadFile { text, encoding }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "kind: Pod # é 𝄞\r\nspec: {containers: [{image: 'nginx:1.25'}]}\n";

    #[test]
    fn every_encoding_round_trips_byte_for_byte() {
        for enc in [
            Encoding::Utf8,
            Encoding::Utf8Bom,
            Encoding::Utf16Le,
            Encoding::Utf16Be,
            Encoding::Utf32Le,
            Encoding::Utf32Be,
        ] {
            let bytes = enc.encode(SAMPLE);
            assert_eq!(Encoding::detect(&bytes), enc);
            let (text, got) = Encoding::decode(Path::new("f.yaml"), &bytes).unwrap();
            assert_eq!(got, enc);
            assert_eq!(text, SAMPLE);
            assert_eq!(enc.encode(&text), bytes, "{enc:?}");
        }
        // An empty file with only a BOM.
        for enc in [Encoding::Utf16Le, Encoding::Utf32Be] {
            let (text, got) = Encoding::decode(Path::new("f"), enc.bom()).unwrap();
            assert_eq!((text.as_str(), got), ("", enc));
        }
    }

    #[test]
    fn invalid_utf16_and_utf32_name_file_encoding_and_position() {
        let mut bytes = Encoding::Utf16Le.encode("a: 1\nb");
        bytes.extend_from_slice(&0xD800u16.to_le_bytes()); // lone high surrogate
        bytes.extend_from_slice(&u16::from(b'x').to_le_bytes());
        let e = Encoding::decode(Path::new("w.yaml"), &bytes)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "w.yaml:2:2: not valid UTF-16LE at byte 14: unpaired surrogate 0xD800"
        );

        let mut bytes = Encoding::Utf16Be.encode("ab");
        bytes.push(b'c');
        let e = Encoding::decode(Path::new("w.yaml"), &bytes)
            .unwrap_err()
            .to_string();
        assert!(e.contains("UTF-16BE at byte 6"), "{e}");

        let mut bytes = Encoding::Utf32Be.encode("a\n");
        bytes.extend_from_slice(&0x11_0000u32.to_be_bytes());
        let e = Encoding::decode(Path::new("w.yaml"), &bytes)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "w.yaml:2:1: not valid UTF-32BE at byte 12: 0x00110000 is not a Unicode scalar value"
        );
    }

    #[test]
    fn invalid_utf8_after_a_bom_has_its_text_column() {
        let e = Encoding::decode(Path::new("u.yaml"), b"\xEF\xBB\xBFab\xFF")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("u.yaml:1:3:"), "{e}");
    }
}
