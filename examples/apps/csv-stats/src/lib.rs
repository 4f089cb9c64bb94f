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
        match cell.parse::<f64>() {
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
pub fn compute(input: impl BufRead) -> Result<Stats, StatsError> {
    let mut lines = input.lines();
    let header = loop {
        match lines.next() {
            None => return Err(StatsError::Empty),
            Some(line) => {
                let line = line.map_err(StatsError::Io)?;
                if !line.trim().is_empty() {
                    break line;
                }
            }
        }
    };
    let mut columns = Vec::new();
    for_each_cell(header.trim_end_matches('\r'), |_, name| columns.push(Column::new(name.trim())));
    let mut stats = Stats { rows: 0, columns };
    for (index, line) in lines.enumerate() {
        let line = line.map_err(StatsError::Io)?;
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let columns = &mut stats.columns;
        let expected = columns.len();
        let cells = for_each_cell(line, |i, text| {
            if let Some(column) = columns.get_mut(i) {
                column.add(text);
            }
        });
        // A ragged row fails the whole computation, so what it added is never reported.
        if cells != expected {
            return Err(StatsError::RaggedRow {
                line: index as u64 + 2,
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
    fn ragged_rows_and_empty_input_are_errors() {
        assert!(matches!(compute("a,b\n1\n".as_bytes()), Err(StatsError::RaggedRow { line: 2, .. })));
        assert!(matches!(compute("".as_bytes()), Err(StatsError::Empty)));
    }

    #[test]
    fn quoted_cells_keep_commas_and_quotes() {
        let mut cells = Vec::new();
        for_each_cell(r#"a,"b,c","d""e",f"#, |_, text| cells.push(text.to_owned()));
        assert_eq!(cells, vec!["a", "b,c", "d\"e", "f"]);
    }
}
