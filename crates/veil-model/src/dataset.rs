//! The reference datasets' CSV (models/data/): a header, then per row the features,
//! the target class and the split (`train` or `test`), as `train.py` writes them.

use crate::ModelError;

/// A dataset split as `train.py` made it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// Training rows (what quantisation calibrates on).
    pub train: Vec<Vec<f32>>,
    /// The training rows' classes, in the same order.
    pub train_labels: Vec<usize>,
    /// Held-out rows and their classes.
    pub test: Vec<(Vec<f32>, usize)>,
}

impl Dataset {
    /// Parse the CSV; every row must have the header's width.
    pub fn parse(csv: &str) -> Result<Self, ModelError> {
        let mut lines = csv.lines();
        let width =
            lines.next().map(|h| h.split(',').count()).filter(|w| *w >= 3).ok_or_else(|| {
                ModelError::Input("a dataset needs a header of features, target, split".into())
            })?;
        let mut out = Self::default();
        for (n, line) in lines.enumerate().filter(|(_, l)| !l.is_empty()) {
            let bad = |why: &str| ModelError::Input(format!("dataset row {}: {why}", n + 1));
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != width {
                return Err(bad("wrong number of columns"));
            }
            let x = cells[..width - 2]
                .iter()
                .map(|c| c.parse::<f32>().ok().filter(|v| v.is_finite()))
                .collect::<Option<Vec<f32>>>()
                .ok_or_else(|| bad("a feature is not a finite number"))?;
            let target = || cells[width - 2].parse().map_err(|_| bad("the target is not a class index"));
            match cells[width - 1] {
                "train" => {
                    out.train_labels.push(target()?);
                    out.train.push(x);
                }
                "test" => out.test.push((x, target()?)),
                _ => return Err(bad("the split is neither train nor test")),
            }
        }
        Ok(out)
    }
}

/// A dataset's held-out split as a token's private records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecords {
    /// The `id,feature…` table a token's data is (the header names the dataset's
    /// features), one row per held-out example.
    pub table: String,
    /// The rows' ids, `{prefix}0001`, `{prefix}0002`, … in file order.
    pub ids: Vec<String>,
    /// Each row's feature cells, as the table spells them.
    pub cells: Vec<Vec<String>>,
    /// Each row's class index.
    pub targets: Vec<usize>,
}

impl TokenRecords {
    /// The held-out split of a dataset CSV (features, `target`, `split`): the one
    /// converter the demo, the benchmarks and the tests seal as a token's data.
    pub fn from_dataset(csv: &str, prefix: &str) -> Result<Self, ModelError> {
        // Validate the whole file the way the model's own reader does.
        let parsed = Dataset::parse(csv)?;
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        let features = header.len() - 2;
        let mut out = Self {
            table: format!("id,{}\n", header[..features].join(",")),
            ids: Vec::new(),
            cells: Vec::new(),
            targets: Vec::new(),
        };
        for line in lines.filter(|l| l.ends_with(",test")) {
            let cells: Vec<&str> = line.split(',').collect();
            let id = format!("{prefix}{:04}", out.ids.len() + 1);
            out.table.push_str(&format!("{id},{}\n", cells[..features].join(",")));
            out.ids.push(id);
            out.cells.push(cells[..features].iter().map(|c| (*c).to_owned()).collect());
        }
        out.targets = parsed.test.iter().map(|(_, t)| *t).collect();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_split_becomes_a_token_table() {
        let csv = "a,b,target,split\n1,2,0,train\n3,4.5,1,test\n6,7,0,test\n";
        let r = TokenRecords::from_dataset(csv, "P").unwrap();
        assert_eq!(r.table, "id,a,b\nP0001,3,4.5\nP0002,6,7\n");
        assert_eq!(r.ids, ["P0001", "P0002"]);
        assert_eq!(r.cells[0], ["3", "4.5"]);
        assert_eq!(r.targets, [1, 0]);
        assert!(TokenRecords::from_dataset("a,b,target,split\n1,x,0,test\n", "P").is_err());
    }

    #[test]
    fn parses_both_splits_and_refuses_ragged_rows() {
        let d = Dataset::parse("a,b,target,split\n1,2,0,train\n3,4.5,1,test\n").unwrap();
        assert_eq!(d.train, vec![vec![1.0, 2.0]]);
        assert_eq!(d.train_labels, [0]);
        assert_eq!(d.test, vec![(vec![3.0, 4.5], 1)]);
        for bad in [
            "",
            "a,b,target,split\n1,2,0\n",
            "a,b,target,split\n1,x,0,train\n",
            "a,b,target,split\n1,2,0,dev\n",
            "a,b,target,split\n1,2,-1,test\n",
            "a,b,target,split\n1,NaN,0,train\n",
            "a,b,target,split\n1,2,x,train\n",
        ] {
            assert!(Dataset::parse(bad).is_err(), "{bad:?}");
        }
    }
}
