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

    fn add(&mut self, cell: &str) {
        let cell = cell.trim();
        if cell.is_empty() {
            self.blanks += 1;
            return;
        }
        match parse_number(cell) {
            Ok(value) if value.is_finite() => {
                self.numbers += 1;
                self.sum += value;
                self.min = self.min.min(value);
                self.max = self.max.max(value);
                let delta = value - self.mean;
                self.mean += delta / self.numbers as f64;
                self.m2 += delta * (value - self.mean);
            }
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
/// gives. Anything else (exponents, long mantissas) goes to `str::parse`. The fast path
/// matters in wasm, where the general algorithm's 128-bit products are emulated.
fn parse_number(text: &str) -> Result<f64, std::num::ParseFloatError> {
    let bytes = text.as_bytes();
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
                    return text.parse();
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return text.parse(),
        }
    }
    if !seen_digit || fraction_digits >= POWERS_OF_TEN.len() {
        return text.parse();
    }
    let value = mantissa as f64 / POWERS_OF_TEN[fraction_digits];
    Ok(if negative { -value } else { value })
}

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

/// Calls `cell(index, text)` for each cell of one CSV line (RFC 4180 quoting, no line
/// breaks inside quotes) and returns how many there were. Unquoted cells are borrowed.
fn for_each_cell(line: &str, mut cell: impl FnMut(usize, &str)) -> usize {
    let mut rest = line;
    let mut index = 0;
    let mut unquoted = String::new();
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            unquoted.clear();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                if c != '"' {
                    unquoted.push(c);
                } else if quoted[i + 1..].starts_with('"') {
                    unquoted.push('"');
                    chars.next();
                } else {
                    end = i + 1;
                    break;
                }
            }
            cell(index, &unquoted);
            rest = &quoted[end..];
            match rest.find(',') {
                Some(comma) => rest = &rest[comma + 1..],
                None => return index + 1,
            }
        } else {
            match rest.find(',') {
                Some(comma) => {
                    cell(index, &rest[..comma]);
                    rest = &rest[comma + 1..];
                }
                None => {
                    cell(index, rest);
                    return index + 1;
                }
            }
        }
        index += 1;
    }
}

/// Reads a CSV whose first line names the columns.
pub fn compute(mut input: impl BufRead) -> Result<Stats, StatsError> {
    // One line buffer for the whole file: no allocation per row.
    let mut line = String::new();
    let mut number: u64 = 0;
    let mut next_line = |line: &mut String| -> Result<bool, StatsError> {
        line.clear();
        number += 1;
        Ok(input.read_line(line).map_err(StatsError::Io)? > 0)
    };
    loop {
        if !next_line(&mut line)? {
            return Err(StatsError::Empty);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut columns = Vec::new();
    for_each_cell(line.trim_end_matches(['\r', '\n']), |_, name| {
        columns.push(Column::new(name.trim()))
    });
    let mut stats = Stats { rows: 0, columns };
    let mut index = 0u64;
    while next_line(&mut line)? {
        index += 1;
        let row = line.trim_end_matches(['\r', '\n']);
        if row.is_empty() {
            continue;
        }
        let columns = &mut stats.columns;
        let expected = columns.len();
        let cells = for_each_cell(row, |i, text| {
            if let Some(column) = columns.get_mut(i) {
                column.add(text);
            }
        });
        // A ragged row fails the whole computation, so what it added is never reported.
        if cells != expected {
            return Err(StatsError::RaggedRow {
                line: index + 1,
                cells,
                expected,
            });
        }
        stats.rows += 1;
    }
    Ok(stats)
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
        ] {
            let fast = parse_number(text).ok();
            let standard = text.parse::<f64>().ok();
            assert_eq!(fast.map(f64::to_bits), standard.map(f64::to_bits), "{text}");
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
        let mut cells = Vec::new();
        for_each_cell(r#"a,"b,c","d""e",f"#, |_, text| cells.push(text.to_owned()));
        assert_eq!(cells, vec!["a", "b,c", "d\"e", "f"]);
    }
}
