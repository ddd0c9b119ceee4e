//! The reference datasets' CSV (models/data/): a header, then per row the features,
//! the target class and the split (`train` or `test`), as `train.py` writes them.

use crate::ModelError;

/// A dataset split as `train.py` made it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// Training rows (what quantisation calibrates on).
    pub train: Vec<Vec<f32>>,
    /// Held-out rows and their classes.
    pub test: Vec<(Vec<f32>, usize)>,
}

impl Dataset {
    /// Parse the CSV; every row must have the header's width.
    pub fn parse(csv: &str) -> Result<Self, ModelError> {
        let mut lines = csv.lines();
        let width = lines
            .next()
            .map(|h| h.split(',').count())
            .filter(|w| *w >= 3)
            .ok_or_else(|| ModelError::Input("a dataset needs a header of features, target, split".into()))?;
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
            match cells[width - 1] {
                "train" => out.train.push(x),
                "test" => out.test.push((
                    x,
                    cells[width - 2]
                        .parse()
                        .map_err(|_| bad("the target is not a class index"))?,
                )),
                _ => return Err(bad("the split is neither train nor test")),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_splits_and_refuses_ragged_rows() {
        let d = Dataset::parse("a,b,target,split\n1,2,0,train\n3,4.5,1,test\n").unwrap();
        assert_eq!(d.train, vec![vec![1.0, 2.0]]);
        assert_eq!(d.test, vec![(vec![3.0, 4.5], 1)]);
        for bad in [
            "",
            "a,b,target,split\n1,2,0\n",
            "a,b,target,split\n1,x,0,train\n",
            "a,b,target,split\n1,2,0,dev\n",
            "a,b,target,split\n1,2,-1,test\n",
            "a,b,target,split\n1,NaN,0,train\n",
        ] {
            assert!(Dataset::parse(bad).is_err(), "{bad:?}");
        }
    }
}
