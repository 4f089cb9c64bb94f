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

    fn add(&mut self, cell: &[u8]) {
        let cell = cell.trim_ascii();
        let non_ascii = |byte: Option<&u8>| byte.is_some_and(|b| !b.is_ascii());
        if non_ascii(cell.first()) || non_ascii(cell.last()) {
            // Unicode whitespace (a no-break space, say) is trimmed as `str::trim` does;
            // inside a cell, a non-ASCII byte makes it text, which the parser finds.
            return self.add_text(&String::from_utf8_lossy(cell));
        }
        if cell.is_empty() {
            self.blanks += 1;
            return;
        }
        match parse_number(cell) {
            Ok(value) if value.is_finite() => {
                self.numbers += 1;
                self.sum += value;
                // Comparisons, not f64::min/max: the value is finite, and in wasm those
                // are calls into libm.
                if value < self.min {
                    self.min = value;
                }
                if value > self.max {
                    self.max = value;
                }
                let delta = value - self.mean;
                self.mean += delta / self.numbers as f64;
                self.m2 += delta * (value - self.mean);
            }
            _ => self.texts += 1,
        }
    }

    fn add_text(&mut self, text: &str) {
        match text.trim() {
            "" => self.blanks += 1,
            trimmed if trimmed.is_ascii() => self.add(trimmed.as_bytes()),
            _ => self.texts += 1,
        }
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

/// Parses a number. Plain decimals of at most 15 significant digits (what CSV cells
/// almost always hold) take Clinger's fast path: the digits and the power of ten are both
/// exact doubles, so one IEEE division is correctly rounded, the same value `str::parse`
/// gives. Exponents, long mantissas, "inf" and "nan" go to `str::parse`; a cell with any
/// other byte is text without asking it (text cells are common, and that parser is slow).
/// The fast path matters in wasm, where the general algorithm's 128-bit products are
/// emulated.
fn parse_number(bytes: &[u8]) -> Result<f64, NotANumber> {
    let standard = || {
        std::str::from_utf8(bytes)
            .map_err(|_| NotANumber)?
            .parse()
            .map_err(|_| NotANumber)
    };
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    let mut mantissa: u64 = 0;
    let mut significant = 0usize;
    let mut fraction_digits = 0usize;
    let mut seen_point = false;
    let mut seen_digit = false;
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                seen_digit = true;
                if mantissa == 0 && b == b'0' && !seen_point {
                    continue;
                }
                mantissa = mantissa * 10 + u64::from(b - b'0');
                significant += 1;
                if seen_point {
                    fraction_digits += 1;
                }
                if significant > 15 {
                    return standard();
                }
            }
            b'.' if !seen_point => seen_point = true,
            // An exponent, "inf" or "nan" may still be a number: the standard parser decides.
            b'e' | b'E' | b'i' | b'I' | b'n' | b'N' => return standard(),
            // Any other byte here makes it text, for the standard parser too.
            _ => return Err(NotANumber),
        }
    }
    if !seen_digit || fraction_digits >= POWERS_OF_TEN.len() {
        return standard();
    }
    let value = mantissa as f64 / POWERS_OF_TEN[fraction_digits];
    Ok(if negative { -value } else { value })
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
/// is found by scanning for the four bytes that matter (`,`, newline, carriage return,
/// quote) and handed on as a slice of the input, copied only when it spans two reads or
/// is quoted. Each byte is looked at once and the scan keeps no state in memory, which
/// keeps the work the same natively and in wasm, where bulk scans have no SIMD.
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
const SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    table[b',' as usize] = true;
    table[b'\n' as usize] = true;
    table[b'\r' as usize] = true;
    table[b'"' as usize] = true;
    table
};

/// Where the first special byte is, eight bytes at a time: a word holds one of the four
/// when `word ^ (0x01… · byte)` has a zero byte, which `(x − 0x01…) & !x & 0x80…` flags.
/// Flags above a real zero may be false, the lowest never is, so the lowest flag of the
/// four tests is the first special byte. Plain integer operations: the scan costs the same
/// few instructions natively and in wasm.
fn find_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut words {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let flags = zero_bytes(word ^ (ONES * u64::from(b',')))
            | zero_bytes(word ^ (ONES * u64::from(b'\n')))
            | zero_bytes(word ^ (ONES * u64::from(b'\r')))
            | zero_bytes(word ^ (ONES * u64::from(b'"')));
        if flags != 0 {
            return Some(offset + flags.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    let tail = words.remainder();
    tail.iter().position(|&b| SPECIAL[b as usize]).map(|at| offset + at)
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
            let Some(at) = find_special(rest) else {
                self.cell.extend_from_slice(rest);
                break;
            };
            let (text, special) = (&rest[..at], rest[at]);
            rest = &rest[at + 1..];
            match special {
                b',' => self.end_cell(text),
                b'\n' => self.end_row(text)?,
                // A carriage return is dropped; the cell goes on.
                b'\r' => self.cell.extend_from_slice(text),
                // A quote opens a quoted cell only as its first byte.
                _ if self.cell.is_empty() && text.is_empty() => self.in_quotes = true,
                _ => {
                    self.cell.extend_from_slice(text);
                    self.cell.push(b'"');
                }
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
    fn end_cell(&mut self, tail: &[u8]) {
        let mut pending = std::mem::take(&mut self.cell);
        let text: &[u8] = if pending.is_empty() {
            tail
        } else {
            pending.extend_from_slice(tail);
            &pending
        };
        if !self.header_done {
            self.stats
                .columns
                .push(Column::new(String::from_utf8_lossy(text).trim()));
        } else if let Some(column) = self.stats.columns.get_mut(self.cells_in_row) {
            column.add(text);
        }
        self.cells_in_row += 1;
        pending.clear();
        self.cell = pending;
    }

    fn end_row(&mut self, tail: &[u8]) -> Result<(), StatsError> {
        self.line += 1;
        let blank = |bytes: &[u8]| bytes.iter().all(u8::is_ascii_whitespace);
        if self.cells_in_row == 0 && blank(&self.cell) && blank(tail) {
            // A blank line.
            self.cell.clear();
            return Ok(());
        }
        self.end_cell(tail);
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
            self.end_row(&[])?;
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
            let standard = text.parse::<f64>().ok();
            assert_eq!(fast.map(f64::to_bits), standard.map(f64::to_bits), "{text}");
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
