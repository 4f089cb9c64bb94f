//! Column statistics over CSV text, streaming: memory grows with the number of columns,
//! never with the number of rows. The same code runs natively (benchmarks) and in wasm.

use std::io::BufRead;

/// Running statistics of one column (Welford's algorithm for the variance).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Column {
    pub name: String,
    pub numbers: u64,
    pub blanks: u64,
    pub texts: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    mean: f64,
    m2: f64,
}

impl Column {
    fn new(name: &str) -> Column {
        Column {
            name: name.to_owned(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..Column::default()
        }
    }

    /// Adds a cell. `word`, when the input has them, is the eight bytes from the cell's
    /// start (those past its end included) as one little-endian word, else [`NO_WORD`]:
    /// the short numbers most cells hold are parsed from it without a loop.
    fn add(&mut self, cell: &[u8], word: u64) {
        let printable = |byte: &u8| (b'!'..=b'~').contains(byte);
        match (cell.first(), cell.last()) {
            // The common cell: nothing to trim, ASCII at both ends.
            (Some(first), Some(last)) if printable(first) && printable(last) => {
                let short_number = (word != NO_WORD && cell.len() <= 8)
                    .then(|| parse_word(word, cell.len()))
                    .flatten();
                match short_number {
                    Some(value) => self.add_number(value),
                    // No number starts with another byte: text, without asking the parser.
                    None if !MAY_START_A_NUMBER[usize::from(*first)] => self.texts += 1,
                    None => self.add_trimmed(cell),
                }
            }
            (None, _) | (_, None) => self.blanks += 1,
            _ => self.add_untrimmed(cell),
        }
    }

    fn add_trimmed(&mut self, cell: &[u8]) {
        match parse_number(cell) {
            Ok(value) => self.add_number(value),
            Err(NotANumber) => self.texts += 1,
        }
    }

    /// A cell with whitespace, a control byte or a non-ASCII byte at an end.
    #[cold]
    #[inline(never)]
    fn add_untrimmed(&mut self, cell: &[u8]) {
        let cell = cell.trim_ascii();
        match (cell.first(), cell.last()) {
            (Some(first), Some(last)) if first.is_ascii() && last.is_ascii() => self.add_trimmed(cell),
            (None, _) | (_, None) => self.blanks += 1,
            // Unicode whitespace (a no-break space, say) is trimmed as `str::trim` does;
            // inside a cell, a non-ASCII byte makes it text, which the parser finds.
            _ => self.add_unicode(cell),
        }
    }

    /// The rare cells kept out of line: in wasm, a function that may call the UTF-8
    /// decoder needs a frame on the module's own stack and more registers, and `add`
    /// runs for every cell.
    #[cold]
    #[inline(never)]
    fn add_unicode(&mut self, cell: &[u8]) {
        match String::from_utf8_lossy(cell).trim() {
            "" => self.blanks += 1,
            trimmed if trimmed.is_ascii() => self.add(trimmed.as_bytes(), NO_WORD),
            _ => self.texts += 1,
        }
    }

    fn add_number(&mut self, value: f64) {
        self.numbers += 1;
        self.sum += value;
        // Comparisons, not f64::min/max: the value is finite, and in wasm those are
        // calls into libm.
        if value < self.min {
            self.min = value;
        }
        if value > self.max {
            self.max = value;
        }
        let delta = value - self.mean;
        // A count below 2^63: the signed conversion is one instruction, the unsigned a branch.
        self.mean += delta / self.numbers as i64 as f64;
        self.m2 += delta * (value - self.mean);
    }

    pub fn mean(&self) -> Option<f64> {
        (self.numbers > 0).then_some(self.mean)
    }

    /// Population standard deviation.
    pub fn stddev(&self) -> Option<f64> {
        (self.numbers > 0).then(|| (self.m2 / self.numbers as f64).sqrt())
    }
}

const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A cell's word when the input ends before eight bytes. No cell read from its word has
/// it: such a cell starts with a printable byte. (Not an `Option`: in wasm, that makes the
/// call that passes it one argument too many for the registers.)
const NO_WORD: u64 = 0;

/// Parses a plain decimal of `len` bytes (1 to 8, an optional sign and point included) from
/// the low bytes of `word`, without a loop: eight digits are combined in three
/// multiplications. `None` for anything else (`parse_number` then decides). Loops are
/// what costs most in wasm, where each iteration also checks the wall-time budget.
fn parse_word(word: u64, len: usize) -> Option<f64> {
    let low_bytes = |n: usize| if n >= 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 };
    let mut word = word & low_bytes(len);
    let mut digits = len;
    // The sign without a branch: LLVM makes a `-`/`+` test a jump table in wasm.
    let first = word as u8;
    let negative = first == b'-';
    let signed = negative | (first == b'+');
    word >>= 8 * u32::from(signed);
    digits -= usize::from(signed);
    // The first point, if any, is taken out and the digits after it moved down a byte
    // (a second point fails the digit test below). Bytes past the cell are zero here, so
    // the lowest flag is a point of the cell or none.
    let points = zero_bytes(word ^ (ONES * u64::from(b'.'))) & low_bytes(digits);
    let mut fraction_digits = 0;
    if points != 0 {
        let at = points.trailing_zeros() as usize / 8;
        let before = low_bytes(at);
        word = (word & before) | ((word >> 8) & !before);
        digits -= 1;
        fraction_digits = digits - at;
    }
    if digits == 0 {
        return None;
    }
    let cell = low_bytes(digits);
    // A byte is a digit when its high nibble is 3 and adding 6 keeps it so (no byte
    // carries into the next once the first test holds).
    let high_nibbles = 0xF0F0_F0F0_F0F0_F0F0 & cell;
    let threes = (ONES * 0x30) & cell;
    if word & high_nibbles != threes || word.wrapping_add(ONES * 6) & high_nibbles != threes {
        return None;
    }
    // Digit values, the first digit moved to the top so that the empty bytes below
    // it are leading zeros; then pairs, quads and the eight combined.
    let values = (word - threes) << (8 * (8 - digits));
    let pairs = (values & 0x0F00_0F00_0F00_0F00) >> 8;
    let pairs = pairs + (values & 0x000F_000F_000F_000F) * 10;
    let quads = (pairs & 0x00FF_0000_00FF_0000) >> 16;
    let quads = quads + (pairs & 0x0000_00FF_0000_00FF) * 100;
    let eight = (quads & 0x0000_FFFF_0000_0000) >> 32;
    let mantissa = eight + (quads & 0x0000_0000_0000_FFFF) * 10_000;
    // At most eight digits: the conversion and the power of ten are exact (Clinger).
    let value = mantissa as i64 as f64 / POWERS_OF_TEN[fraction_digits];
    Some(if negative { -value } else { value })
}

/// Flags (0x80) the zero bytes of `x`. Flags above a real zero may be false, the lowest
/// never is: `(x − 0x01…) & !x & 0x80…`.
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & (ONES * 0x80)
}

/// A byte in every byte of a word: `ONES * b` repeats `b` eight times.
const ONES: u64 = 0x0101_0101_0101_0101;

/// A table of the bytes in `set`.
const fn byte_table(mut set: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    while let [byte, rest @ ..] = set {
        table[*byte as usize] = true;
        set = rest;
    }
    table
}

/// The bytes a number's text can start with (`str::parse`'s grammar): digits, a sign, a
/// point, and the first letters of "inf", "infinity" and "nan".
const MAY_START_A_NUMBER: [bool; 256] = byte_table(b"0123456789+-.iInN");

/// The first letters of an exponent, "inf" and "nan": a table, not a `match` (which is a
/// jump table in wasm).
const NUMBER_LETTERS: [bool; 256] = byte_table(b"eEiInN");

/// Parses a finite number. Plain decimals of at most 15 digits (what CSV cells almost
/// always hold) take Clinger's fast path: the digits and the power of ten are both exact
/// doubles, so one IEEE division is correctly rounded, the same value `str::parse` gives.
/// Exponents, longer mantissas, "inf" and "nan" go to `str::parse`; a cell with any other
/// byte is text without asking it (text cells are common, and that parser is slow). The
/// fast path matters in wasm, where the general algorithm's 128-bit products are emulated,
/// and it is one loop: in wasm every loop also checks the wall-time budget.
fn parse_number(bytes: &[u8]) -> Result<f64, NotANumber> {
    // Comparisons, not a `match` on the first byte, which LLVM makes a jump table in wasm.
    let first = bytes.first().copied();
    let negative = first == Some(b'-');
    let unsigned = &bytes[usize::from(negative || first == Some(b'+'))..];
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut digits_before_point = None;
    for &byte in unsigned {
        let digit = byte.wrapping_sub(b'0');
        if digit < 10 {
            // Wraps only past 19 digits, which are sent to the standard parser below.
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
            digits += 1;
        } else if byte == b'.' && digits_before_point.is_none() {
            digits_before_point = Some(digits);
        } else if NUMBER_LETTERS[usize::from(byte)] {
            // An exponent, "inf" or "nan" may still be a number: the standard parser decides.
            return parse_standard(bytes);
        } else {
            // Any other byte makes it text, for the standard parser too.
            return Err(NotANumber);
        }
    }
    if digits == 0 {
        // A sign or a point alone.
        return Err(NotANumber);
    }
    if digits > 15 {
        return parse_standard(bytes);
    }
    let fraction_digits = digits - digits_before_point.unwrap_or(digits);
    // Below 10^15: the signed conversion is exact and one instruction in wasm.
    let value = mantissa as i64 as f64 / POWERS_OF_TEN[fraction_digits];
    Ok(if negative { -value } else { value })
}

fn parse_standard(bytes: &[u8]) -> Result<f64, NotANumber> {
    let value = parse_standard_or_nan(bytes);
    if value.is_finite() { Ok(value) } else { Err(NotANumber) }
}

/// The standard parser, out of line and answering in a register: a `Result` would be
/// returned through memory in wasm, and then every cell would pay for a stack frame.
#[cold]
#[inline(never)]
fn parse_standard_or_nan(bytes: &[u8]) -> f64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(f64::NAN)
}

/// A cell that is not a number.
#[derive(Debug, PartialEq)]
struct NotANumber;

/// What a CSV holds, column by column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub rows: u64,
    pub columns: Vec<Column>,
}

#[derive(Debug)]
pub enum StatsError {
    Io(std::io::Error),
    Empty,
    RaggedRow { line: u64, cells: usize, expected: usize },
}

impl std::fmt::Display for StatsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatsError::Io(e) => write!(f, "reading the dataset failed: {e}"),
            StatsError::Empty => write!(f, "the dataset is empty: a CSV needs a header row"),
            StatsError::RaggedRow { line, cells, expected } => {
                write!(f, "line {line} has {cells} cells, the header has {expected}")
            }
        }
    }
}

/// Reads a CSV whose first line names the columns, in one pass over the bytes: a cell
/// is found by scanning, a word of eight bytes at a time, for the four bytes that matter
/// (`,`, newline, carriage return, quote) and handed on as a slice of the input, copied
/// only when it spans two reads or is quoted; a short number is parsed from the same word.
/// Plain integer operations on words, few loops and the rare cases out of line: the code
/// wasm compilers make of that is close to native code (see docs/PERFORMANCE.md).
pub fn compute(mut input: impl BufRead) -> Result<Stats, StatsError> {
    let mut parser = Parser::default();
    loop {
        let chunk = input.fill_buf().map_err(StatsError::Io)?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len();
        parser.feed(chunk)?;
        input.consume(n);
    }
    parser.finish()
}

/// The bytes that end or change a cell outside quotes.
const SPECIAL: [bool; 256] = byte_table(b",\n\r\"");

/// Where the first special byte is, eight bytes at a time (see [`special_flags`]).
fn find_special(bytes: &[u8]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut words {
        let flags = special_flags(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        if flags != 0 {
            return Some(offset + flags.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    let tail = words.remainder();
    tail.iter().position(|&b| SPECIAL[b as usize]).map(|at| offset + at)
}

/// Flags the special bytes of a word: it holds one of the four where `word ^ (0x01… · byte)`
/// has a zero byte. The lowest flag of the four tests is the first special byte (see
/// [`zero_bytes`]). Plain integer operations: the scan costs the same few instructions
/// natively and in wasm.
fn special_flags(word: u64) -> u64 {
    zero_bytes(word ^ (ONES * u64::from(b',')))
        | zero_bytes(word ^ (ONES * u64::from(b'\n')))
        | zero_bytes(word ^ (ONES * u64::from(b'\r')))
        | zero_bytes(word ^ (ONES * u64::from(b'"')))
}

#[derive(Default)]
struct Parser {
    stats: Stats,
    header_done: bool,
    /// The start of a cell the previous read ended in (or a quoted cell's text).
    cell: Vec<u8>,
    cells_in_row: usize,
    in_quotes: bool,
    quote_pending: bool,
    line: u64,
}

impl Parser {
    fn feed(&mut self, bytes: &[u8]) -> Result<(), StatsError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.in_quotes {
                rest = self.feed_quoted(rest);
                continue;
            }
            // Most cells end within the word their number is read from: one load serves
            // both, and the scan's loop (in wasm, a loop also checks the time budget) is
            // entered only for longer cells.
            let word = rest.first_chunk().map_or(NO_WORD, |bytes| u64::from_le_bytes(*bytes));
            let flags = special_flags(word);
            let at = if flags != 0 {
                flags.trailing_zeros() as usize / 8
            } else if let Some(at) = find_special(rest) {
                at
            } else {
                self.cell.extend_from_slice(rest);
                break;
            };
            let (text, special) = (&rest[..at], rest[at]);
            rest = &rest[at + 1..];
            // The comma first and alone: a four-way `match` is a jump table in wasm.
            if special == b',' {
                self.end_cell(text, word);
            } else {
                self.end_other(text, special, word)?;
            }
        }
        Ok(())
    }

    /// A cell ended by a newline, or a carriage return or quote inside one.
    fn end_other(&mut self, text: &[u8], special: u8, word: u64) -> Result<(), StatsError> {
        match special {
            b'\n' => self.end_row(text, word)?,
            // A carriage return is dropped; the cell goes on.
            b'\r' => self.cell.extend_from_slice(text),
            // A quote opens a quoted cell only as its first byte.
            _ if self.cell.is_empty() && text.is_empty() => self.in_quotes = true,
            _ => {
                self.cell.extend_from_slice(text);
                self.cell.push(b'"');
            }
        }
        Ok(())
    }

    /// Inside quotes: `""` is a quote, a lone `"` ends the quoting. Returns what follows
    /// the closing quote.
    fn feed_quoted<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        for (i, &b) in bytes.iter().enumerate() {
            if self.quote_pending {
                self.quote_pending = false;
                if b == b'"' {
                    self.cell.push(b'"');
                    continue;
                }
                self.in_quotes = false;
                return &bytes[i..];
            }
            if b == b'"' {
                self.quote_pending = true;
            } else {
                self.cell.push(b);
            }
        }
        &[]
    }

    /// Ends the cell made of what is pending and `tail`.
    fn end_cell(&mut self, tail: &[u8], tail_word: u64) {
        if self.header_done && self.cell.is_empty() {
            if let Some(column) = self.stats.columns.get_mut(self.cells_in_row) {
                column.add(tail, tail_word);
            }
            self.cells_in_row += 1;
        } else {
            self.end_pending_or_header_cell(tail);
        }
    }

    /// A cell begun in an earlier read or quoted, or a column name: kept out of the
    /// common cell's path, which in wasm then needs no frame on the module's stack.
    #[cold]
    #[inline(never)]
    fn end_pending_or_header_cell(&mut self, tail: &[u8]) {
        self.cell.extend_from_slice(tail);
        let text = self.cell.as_slice();
        if !self.header_done {
            self.stats
                .columns
                .push(Column::new(String::from_utf8_lossy(text).trim()));
        } else if let Some(column) = self.stats.columns.get_mut(self.cells_in_row) {
            column.add(text, NO_WORD);
        }
        self.cells_in_row += 1;
        self.cell.clear();
    }

    fn end_row(&mut self, tail: &[u8], tail_word: u64) -> Result<(), StatsError> {
        self.line += 1;
        let blank = |bytes: &[u8]| bytes.iter().all(u8::is_ascii_whitespace);
        if self.cells_in_row == 0 && blank(&self.cell) && blank(tail) {
            // A blank line.
            self.cell.clear();
            return Ok(());
        }
        self.end_cell(tail, tail_word);
        let cells = std::mem::take(&mut self.cells_in_row);
        if !self.header_done {
            self.header_done = true;
            return Ok(());
        }
        // A ragged row fails the whole computation, so what it added is never reported.
        if cells != self.stats.columns.len() {
            return Err(StatsError::RaggedRow {
                line: self.line,
                cells,
                expected: self.stats.columns.len(),
            });
        }
        self.stats.rows += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<Stats, StatsError> {
        if !self.cell.is_empty() || self.cells_in_row > 0 {
            self.end_row(&[], NO_WORD)?;
        }
        if !self.header_done {
            return Err(StatsError::Empty);
        }
        Ok(self.stats)
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_number(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{}", (v * 1e6).round() / 1e6),
        _ => "null".into(),
    }
}

impl Stats {
    /// The result document: deterministic (fixed column order, rounded to 6 decimals).
    pub fn to_json(&self) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let numeric = c.numbers > 0;
                format!(
                    "{{\"name\":{},\"numbers\":{},\"texts\":{},\"blanks\":{},\"sum\":{},\"min\":{},\"max\":{},\"mean\":{},\"stddev\":{}}}",
                    json_string(&c.name),
                    c.numbers,
                    c.texts,
                    c.blanks,
                    json_number(numeric.then_some(c.sum)),
                    json_number(numeric.then_some(c.min)),
                    json_number(numeric.then_some(c.max)),
                    json_number(c.mean()),
                    json_number(c.stddev()),
                )
            })
            .collect();
        format!("{{\"rows\":{},\"columns\":[{}]}}\n", self.rows, columns.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_texts_and_blanks_are_counted_per_column() {
        let csv = "name,age,score\nalice,30,1.5\nbob,,2.5\n\"carol, jr\",50,x\n";
        let stats = compute(csv.as_bytes()).unwrap();
        assert_eq!(stats.rows, 3);
        let age = &stats.columns[1];
        assert_eq!((age.numbers, age.blanks, age.texts), (2, 1, 0));
        assert_eq!(age.mean(), Some(40.0));
        assert_eq!(age.stddev(), Some(10.0));
        assert_eq!(stats.columns[0].texts, 3);
        assert_eq!(stats.columns[2].sum, 4.0);
    }

    #[test]
    fn the_fast_number_path_agrees_with_the_standard_parser() {
        for text in [
            "000000000000000000001.5",
            "0.0000000000000001",
            "1234567890123456",
            "123456789012345.5",
            "00.",
            ".",
            "1.e5",
            "+.5",
            "0",
            "-0",
            "1",
            "12.5",
            "-3.25",
            "0.1",
            "0.000123",
            "123456789012345",
            "1234567890.12345",
            "99999999999999.9",
            "+7",
            "1e3",
            "1234567890123456789",
            ".5",
            "5.",
            "abc",
            "1.2.3",
            "-",
            "",
            "0000012.50",
            "city12",
            "1,5",
            "1e-3",
            "-inf",
            "NaN",
            "infinity",
            "+-1",
            "1_000",
            "12a",
        ] {
            let fast = parse_number(text.as_bytes()).ok();
            // Infinities and NaN are text to the statistics.
            let standard = text.parse::<f64>().ok().filter(|v| v.is_finite());
            assert_eq!(fast.map(f64::to_bits), standard.map(f64::to_bits), "{text}");
        }
    }

    #[test]
    fn every_byte_a_number_can_start_with_is_in_the_table() {
        // What may follow a number's first byte in str::parse's grammar.
        let rests = ["", "1", ".5", "5", "nf", "nfinity", "an", "AN", "NF"];
        for byte in 0..=u8::MAX {
            let starts_one = rests.iter().any(|rest| {
                let text = [&[byte][..], rest.as_bytes()].concat();
                std::str::from_utf8(&text).is_ok_and(|text| text.parse::<f64>().is_ok())
            });
            assert_eq!(starts_one, MAY_START_A_NUMBER[usize::from(byte)], "{:?}", byte as char);
        }
    }

    #[test]
    fn the_word_parser_agrees_with_the_standard_parser_whatever_follows_the_cell() {
        let mut texts: Vec<String> = [
            "0", "-0", "+0", "7", "12.5", "-3.25", ".5", "5.", "-.5", "+5.", "12345678", "1234567.", "-1234567",
            "0.000001", "99999999", "00000001", ".", "-", "+", "-.", "1.2.3", "..", "1e5", "1-2", "--1", "+-1", "12a",
            "a12", "1,5", "1 2", "1/2", "1:2", "\u{7f}1", "9.9.", "inf", "nan",
        ]
        .map(str::to_owned)
        .to_vec();
        // Every byte in every position of a short cell: digits' neighbours in particular.
        for byte in 0u8..=0x7f {
            for at in 0..3 {
                let mut text = b"123".to_vec();
                text[at] = byte;
                texts.push(String::from_utf8(text).unwrap());
            }
        }
        for text in &texts {
            for after in [[0u8; 8], [b'9'; 8], [b'.'; 8], [0xff; 8], *b",7\n1.5,x"] {
                let mut bytes = text.as_bytes().to_vec();
                bytes.extend_from_slice(&after);
                let word = u64::from_le_bytes(bytes[..8].try_into().unwrap());
                let fast = parse_word(word, text.len());
                let standard = text.parse::<f64>().ok().filter(|v| v.is_finite());
                // Whatever the word parser takes, it reads as the standard parser does;
                // plain decimals it must take.
                if let Some(value) = fast {
                    assert_eq!(Some(value.to_bits()), standard.map(f64::to_bits), "{text:?}");
                }
                let plain = text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+');
                if plain && standard.is_some() && !text[1..].contains(['-', '+']) {
                    assert!(fast.is_some(), "{text:?} should be read from the word");
                }
            }
        }
    }

    #[test]
    fn statistics_agree_with_a_reference_built_on_str_parse_however_the_input_is_read() {
        // Cells separated by `|`: numbers short and long, signed, pointed, with exponents;
        // text; blanks; whitespace ASCII and not; a carriage return inside a cell.
        let pool: Vec<&str> = "0|-0|12.5|-3.25|+7|.5|5.|1e3|2.5E-3|inf|-nan|city12|a b| 42 |\u{a0}3\u{a0}||  |12345678|123456789|1234567.8|-1234567|123.4567|-12345.6|00012|1.2.3|-|+.|9999999999999999|0.000001|x1|\t8\t|é|1é|7\r".split('|').collect();
        // A fixed xorshift sequence: the same CSV every run.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let rows: Vec<Vec<&str>> = (0..600)
            .map(|_| (0..4).map(|_| pool[(next() % pool.len() as u64) as usize]).collect())
            .collect();
        let mut csv = String::from("a,b,c,d\n");
        for row in &rows {
            csv.push_str(&row.join(","));
            csv.push('\n');
        }
        let whole = compute(csv.as_bytes()).unwrap();
        assert_eq!(whole.rows, rows.len() as u64);
        for (index, column) in whole.columns.iter().enumerate() {
            let mut expected = Column::new(column.name.as_str());
            for row in &rows {
                // A carriage return inside a cell is dropped, as the parser drops it.
                let cell = row[index].replace('\r', "");
                match cell.trim() {
                    "" => expected.blanks += 1,
                    text => match text.parse::<f64>() {
                        Ok(value) if value.is_finite() => expected.add_number(value),
                        _ => expected.texts += 1,
                    },
                }
            }
            assert_eq!(column, &expected, "column {}", column.name);
        }
        for capacity in [1, 3, 7, 8, 9, 16, 61, 4096] {
            let split = compute(std::io::BufReader::with_capacity(capacity, csv.as_bytes())).unwrap();
            assert_eq!(split, whole, "reads of {capacity} bytes");
        }
    }

    #[test]
    fn cells_split_across_reads_give_the_same_statistics() {
        let csv = "name,\"a \"\"b\"\"\",x\r\n\"c,d\",1.5, 2 \r\n\n e ,\u{a0}3\u{a0},\n";
        let whole = compute(csv.as_bytes()).unwrap();
        assert_eq!(whole.rows, 2);
        assert_eq!(whole.columns[1].name, "a \"b\"");
        // Unicode whitespace is trimmed as str::trim trims it.
        assert_eq!((whole.columns[1].numbers, whole.columns[1].sum), (2, 4.5));
        assert_eq!(whole.columns[2].numbers + whole.columns[2].blanks, 2);
        for capacity in 1..=7 {
            let split = compute(std::io::BufReader::with_capacity(capacity, csv.as_bytes())).unwrap();
            assert_eq!(split, whole, "reads of {capacity} bytes");
        }
    }

    #[test]
    fn the_word_scan_finds_the_first_special_byte_wherever_it_is() {
        let plain = b"abcdefghijklmnopqrstuvwxyz0123456789";
        assert_eq!(find_special(plain), None);
        for at in 0..plain.len() {
            for special in [b',', b'\n', b'\r', b'"'] {
                let mut bytes = plain.to_vec();
                bytes[at] = special;
                // A byte of 0x01 above the hit is what fools the zero-byte test.
                if at + 1 < bytes.len() {
                    bytes[at + 1] = special ^ 1;
                }
                assert_eq!(find_special(&bytes), Some(at), "{special} at {at}");
            }
        }
    }

    #[test]
    fn ragged_rows_and_empty_input_are_errors() {
        assert!(matches!(
            compute("a,b\n1\n".as_bytes()),
            Err(StatsError::RaggedRow { line: 2, .. })
        ));
        assert!(matches!(compute("".as_bytes()), Err(StatsError::Empty)));
    }

    #[test]
    fn quoted_cells_keep_commas_and_quotes() {
        let stats = compute("a,b,c,d\nx,\"b,c\",\"d\"\"e\",f\n".as_bytes()).unwrap();
        assert_eq!(stats.rows, 1);
        assert_eq!(stats.columns.iter().map(|c| c.texts).sum::<u64>(), 4);
        let header = compute("\"a,1\",b\n1,2\n".as_bytes()).unwrap();
        assert_eq!(header.columns[0].name, "a,1");
        assert_eq!(header.columns[0].numbers, 1);
    }
}
