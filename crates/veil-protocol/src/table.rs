//! A token's data: a CSV table of records, `id` first, then one column per feature.

use std::collections::HashMap;

/// Why the opened data or a row selection is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TableError {
    /// The data is not a table of this shape.
    #[error("token data is not an id,feature… table: {0}")]
    Shape(String),
    /// The selection names rows the data does not have, or too many.
    #[error("{0}")]
    Selection(String),
}

/// Parsed records.
#[derive(Debug)]
pub struct Table {
    columns: Vec<String>,
    ids: Vec<String>,
    index: HashMap<String, usize>,
    features: usize,
    values: Vec<f32>,
}

impl Table {
    /// Parse CSV text with an `id` column first; every other cell must be a finite number.
    pub fn parse(text: &str) -> Result<Self, TableError> {
        let mut lines = text.lines().filter(|l| !l.is_empty());
        let header = lines.next().ok_or_else(|| TableError::Shape("empty".into()))?;
        let cols: Vec<&str> = header.split(',').collect();
        if cols.first().map(|c| c.trim()) != Some("id") || cols.len() < 2 {
            return Err(TableError::Shape("the first column must be `id`, then features".into()));
        }
        let features = cols.len() - 1;
        let columns: Vec<String> = cols[1..].iter().map(|c| c.trim().to_owned()).collect();
        let mut t = Self { columns, ids: Vec::new(), index: HashMap::new(), features, values: Vec::new() };
        for (n, line) in lines.enumerate() {
            let mut cells = line.split(',');
            let id = cells.next().unwrap_or_default().trim().to_owned();
            let before = t.values.len();
            for cell in cells {
                let v: f32 = cell.trim().parse().ok().filter(|v: &f32| v.is_finite()).ok_or_else(|| {
                    TableError::Shape(format!("row {}: a cell is not a finite number", n + 1))
                })?;
                t.values.push(v);
            }
            if t.values.len() - before != features {
                return Err(TableError::Shape(format!("row {} has the wrong number of cells", n + 1)));
            }
            if id.is_empty() || t.index.insert(id.clone(), t.ids.len()).is_some() {
                return Err(TableError::Shape(format!("row {}: empty or repeated id", n + 1)));
            }
            t.ids.push(id);
        }
        Ok(t)
    }

    /// Features per row.
    pub fn features(&self) -> usize {
        self.features
    }

    /// The header's names of the feature columns (every column after `id`).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Row `i`'s cells, in column order.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        self.values.get(i * self.features..(i + 1) * self.features)
    }

    /// Rows in the table.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The rows `selection` names (`{"ids": [..]}`), flattened, in the order asked.
    pub fn select(
        &self,
        selection: &serde_json::Value,
        max: usize,
    ) -> Result<(Vec<String>, Vec<f32>), TableError> {
        let bad = |m: &str| TableError::Selection(m.to_owned());
        let obj = selection
            .as_object()
            .filter(|o| o.len() == 1)
            .ok_or_else(|| bad("input must be {\"ids\": [\"…\", …]}"))?;
        let ids = obj
            .get("ids")
            .and_then(|v| v.as_array())
            .ok_or_else(|| bad("input must be {\"ids\": [\"…\", …]}"))?;
        if ids.is_empty() || ids.len() > max {
            return Err(TableError::Selection(format!("ask for 1 to {max} ids, not {}", ids.len())));
        }
        let mut names = Vec::with_capacity(ids.len());
        let mut out = Vec::with_capacity(ids.len() * self.features);
        for id in ids {
            let id = id.as_str().ok_or_else(|| bad("ids are strings"))?;
            let &row = self.index.get(id).ok_or_else(|| {
                TableError::Selection(format!(
                    "the token's data has no record {:?}",
                    id.chars().take(64).collect::<String>()
                ))
            })?;
            out.extend_from_slice(&self.values[row * self.features..(row + 1) * self.features]);
            names.push(id.to_owned());
        }
        Ok((names, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_rows_by_id_in_the_order_asked() {
        let t = Table::parse("id,a,b\nx,1,2\ny,3,4.5\n").unwrap();
        assert_eq!((t.len(), t.features()), (2, 2));
        let (ids, v) = t.select(&json!({"ids": ["y", "x"]}), 10).unwrap();
        assert_eq!(ids, ["y", "x"]);
        assert_eq!(v, [3.0, 4.5, 1.0, 2.0]);
    }

    #[test]
    fn refuses_bad_tables_and_selections() {
        for bad in ["", "a,b\n1,2", "id\nx", "id,a\nx,1,2", "id,a\nx,NaN", "id,a\nx,1\nx,2", "id,a\n,1"] {
            assert!(matches!(Table::parse(bad), Err(TableError::Shape(_))), "{bad:?}");
        }
        let t = Table::parse("id,a\nx,1\n").unwrap();
        for sel in [
            json!({"ids": ["z"]}),
            json!({"ids": []}),
            json!({"ids": [1]}),
            json!([]),
            json!({"ids": ["x"], "more": 1}),
        ] {
            assert!(matches!(t.select(&sel, 10), Err(TableError::Selection(_))), "{sel}");
        }
        assert!(t.select(&json!({"ids": ["x", "x"]}), 1).is_err(), "more than max");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_text(s in "\\PC{0,200}") {
            let _ = Table::parse(&s);
        }
    }
}
