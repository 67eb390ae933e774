//! Streaming row writers: each row goes straight to the underlying writer, so memory does not
//! grow with the number of rows.

use std::io::Write;

use serde::Serialize;

use super::ReportError;

/// JSON Lines: one compact JSON object per line.
pub struct JsonLinesWriter<W: Write> {
    out: W,
    file: String,
    rows: u64,
}

impl<W: Write> JsonLinesWriter<W> {
    /// `file` names the output in errors (usually the file name).
    pub fn new(out: W, file: impl Into<String>) -> Self {
        JsonLinesWriter {
            out,
            file: file.into(),
            rows: 0,
        }
    }

    /// Writes `row` as one line.
    pub fn write(&mut self, row: &impl Serialize) -> Result<(), ReportError> {
        serde_json::to_writer(&mut self.out, row).map_err(|source| ReportError::Json {
            file: self.file.clone(),
            source,
        })?;
        self.out.write_all(b"\n").map_err(|e| ReportError::Json {
            file: self.file.clone(),
            source: serde_json::Error::io(e),
        })?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> Result<W, ReportError> {
        self.out.flush().map_err(|e| ReportError::Json {
            file: self.file.clone(),
            source: serde_json::Error::io(e),
        })?;
        Ok(self.out)
    }
}

/// CSV with a header row and RFC 4180 quoting (fields with commas, quotes or line breaks are
/// quoted, quotes doubled); records end with `\n`. Every record must have as many fields as the
/// header.
///
/// The files are opened by auditors in spreadsheets and hold names that any Cognigy user can
/// choose, so a field that a spreadsheet would evaluate as a formula (starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return) is written with a leading `'`, the usual guard against
/// CSV formula injection. The JSON Lines files keep every value verbatim.
pub struct CsvWriter<W: Write> {
    out: csv::Writer<W>,
    file: String,
    columns: usize,
    rows: u64,
    /// One serialised row, re-read as fields (reused between rows).
    scratch: Vec<u8>,
    record: csv::StringRecord,
}

fn as_bytes(field: std::borrow::Cow<'_, str>) -> std::borrow::Cow<'_, [u8]> {
    match field {
        std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
        std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_bytes()),
    }
}

/// `field`, made inert for spreadsheets when it would start a formula.
pub fn neutralize_formula(field: &str) -> std::borrow::Cow<'_, str> {
    match field.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{field}").into(),
        _ => field.into(),
    }
}

impl<W: Write> CsvWriter<W> {
    /// Writes `header` as the first row. `file` names the output in errors.
    pub fn new(out: W, file: impl Into<String>, header: &[&str]) -> Result<Self, ReportError> {
        // The header is written explicitly, so `serialize` must not add one of its own.
        let out = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(out);
        let mut writer = CsvWriter {
            out,
            file: file.into(),
            columns: header.len(),
            rows: 0,
            scratch: Vec::new(),
            record: csv::StringRecord::new(),
        };
        writer
            .out
            .write_record(header)
            .map_err(|source| writer.err(source))?;
        Ok(writer)
    }

    fn err(&self, source: csv::Error) -> ReportError {
        ReportError::Csv {
            file: self.file.clone(),
            source,
        }
    }

    /// Writes one record of plain fields.
    pub fn write_record(&mut self, fields: &[&str]) -> Result<(), ReportError> {
        if fields.len() != self.columns {
            return Err(ReportError::CsvColumns {
                file: self.file.clone(),
                expected: self.columns,
                found: fields.len(),
            });
        }
        self.out
            .write_record(fields.iter().map(|f| as_bytes(neutralize_formula(f))))
            .map_err(|e| self.err(e))?;
        self.rows += 1;
        Ok(())
    }

    /// Writes one record from a struct or tuple; fields in declaration order. A row with the
    /// wrong number of fields is an error after part of it was written: abandon the file (abort
    /// the run) then.
    pub fn serialize(&mut self, row: &impl Serialize) -> Result<(), ReportError> {
        // Serialise into a scratch record first, so that every field passes the formula guard.
        self.scratch.clear();
        {
            let mut one = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut self.scratch);
            one.serialize(row).map_err(|e| ReportError::Csv {
                file: self.file.clone(),
                source: e,
            })?;
            one.flush().map_err(|e| ReportError::Csv {
                file: self.file.clone(),
                source: e.into(),
            })?;
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(self.scratch.as_slice());
        self.record.clear();
        reader
            .read_record(&mut self.record)
            .map_err(|e| self.err(e))?;
        if self.record.len() != self.columns {
            return Err(ReportError::CsvColumns {
                file: self.file.clone(),
                expected: self.columns,
                found: self.record.len(),
            });
        }
        self.out
            .write_record(self.record.iter().map(|f| as_bytes(neutralize_formula(f))))
            .map_err(|e| ReportError::Csv {
                file: self.file.clone(),
                source: e,
            })?;
        self.rows += 1;
        Ok(())
    }

    /// Data rows written so far (the header not counted).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(self) -> Result<W, ReportError> {
        let file = self.file;
        self.out.into_inner().map_err(|e| ReportError::Csv {
            file,
            source: csv::Error::from(e.into_error()),
        })
    }
}

/// Writes `value` as pretty-printed JSON followed by a newline (e.g. `summary.json`), then
/// flushes `out`. `file` names the output in errors.
pub fn write_json_pretty<W: Write>(
    mut out: W,
    file: &str,
    value: &impl Serialize,
) -> Result<(), ReportError> {
    let err = |source| ReportError::Json {
        file: file.to_string(),
        source,
    };
    serde_json::to_writer_pretty(&mut out, value).map_err(err)?;
    out.write_all(b"\n")
        .and_then(|()| out.flush())
        .map_err(|e| err(serde_json::Error::io(e)))
}
