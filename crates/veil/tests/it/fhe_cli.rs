//! `veil fhe keygen | encrypt | eval | decrypt` through the binary: the decrypted
//! accumulators equal the int8 model's in the clear on the whole held-out split, and
//! what is damaged, misdirected or unprotected is refused in one line.

use serde_json::Value;
use veil_fhe::ParamSet;
use veil_stack::fhe::FheModel;

use crate::common::{fails, ok, veil};

/// The int8 model's accumulators in the clear, row by row.
fn clear_accumulators(model: &FheModel, rows: &[Vec<f32>]) -> Vec<Vec<i64>> {
    let quantized = model.quantize(rows).unwrap();
    quantized.iter().map(|x| model.net.forward(x).unwrap().into_iter().map(i64::from).collect()).collect()
}

fn decrypted(stdout: &str) -> Vec<Vec<i64>> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .enumerate()
        .map(|(i, v)| {
            assert_eq!(v["row"], i);
            v["accumulators"].as_array().unwrap().iter().map(|a| a.as_i64().unwrap()).collect()
        })
        .collect()
}

#[test]
fn encrypted_rows_come_back_as_the_int8_models_accumulators() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    let out = ok(&veil(&["fhe", "keygen", "--out", &p("keys")]));
    assert!(out.contains("bfv-n4096-q109-t24"), "{out}");
    let model = FheModel::bundled("breast-cancer-logreg", &ParamSet::standard().unwrap()).unwrap();

    // Encrypted under the secret key itself (what a client does with its own rows).
    ok(&veil(&["fhe", "encrypt", "--key", &p("keys/fhe.key"), "--test-split", "--out", &p("q.bin")]));
    // The server's step takes no key.
    ok(&veil(&["fhe", "eval", "--query", &p("q.bin"), "--out", &p("a.bin")]));
    let got =
        decrypted(&ok(&veil(&["fhe", "decrypt", "--key", &p("keys/fhe.key"), "--answer", &p("a.bin")])));
    let rows = model.test_rows();
    assert_eq!(got.len(), rows.len());
    assert_eq!(got, clear_accumulators(&model, &rows));

    // Rows from a CSV (header and the dataset's extra columns skipped), encrypted under
    // the public key.
    let csv = "x0,x1,rest\n".to_owned()
        + &rows[..2]
            .iter()
            .map(|r| r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",") + ",1,test")
            .collect::<Vec<_>>()
            .join("\n");
    std::fs::write(p("rows.csv"), csv).unwrap();
    ok(&veil(&[
        "fhe",
        "encrypt",
        "--key",
        &p("keys/fhe.pub"),
        "--csv",
        &p("rows.csv"),
        "--out",
        &p("q2.bin"),
    ]));
    ok(&veil(&["fhe", "eval", "--query", &p("q2.bin"), "--out", &p("a2.bin")]));
    let two =
        decrypted(&ok(&veil(&["fhe", "decrypt", "--key", &p("keys/fhe.key"), "--answer", &p("a2.bin")])));
    assert_eq!(two, got[..2]);
}

#[test]
fn damaged_misdirected_or_unprotected_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    ok(&veil(&["fhe", "keygen", "--out", &p("keys")]));
    let before = std::fs::read(p("keys/fhe.key")).unwrap();
    assert!(fails(&veil(&["fhe", "keygen", "--out", &p("keys")])).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(p("keys/fhe.key")).unwrap(), before);

    ok(&veil(&["fhe", "encrypt", "--key", &p("keys/fhe.pub"), "--test-split", "--out", &p("q.bin")]));
    // A query under another parameter set (its hash changed in the header).
    let mut query = std::fs::read(p("q.bin")).unwrap();
    query[10] ^= 0xff;
    std::fs::write(p("other.bin"), &query).unwrap();
    let err = fails(&veil(&["fhe", "eval", "--query", &p("other.bin"), "--out", &p("a.bin")]));
    assert!(err.contains("parameter set"), "{err}");
    // Truncated.
    let query = std::fs::read(p("q.bin")).unwrap();
    std::fs::write(p("short.bin"), &query[..query.len() / 2]).unwrap();
    assert!(
        fails(&veil(&["fhe", "eval", "--query", &p("short.bin"), "--out", &p("a.bin")]))
            .contains("truncated")
    );
    assert!(!dir.path().join("a.bin").exists(), "no answer is written for a refused query");
    // A model FHE cannot evaluate.
    let err =
        fails(&veil(&["fhe", "eval", "--model", "digits-mlp", "--query", &p("q.bin"), "--out", &p("a.bin")]));
    assert!(err.contains("linear models"), "{err}");
    // A public key where the secret key belongs, and a secret key others can read.
    ok(&veil(&["fhe", "eval", "--query", &p("q.bin"), "--out", &p("a.bin")]));
    let err = fails(&veil(&["fhe", "decrypt", "--key", &p("keys/fhe.pub"), "--answer", &p("a.bin")]));
    assert!(err.contains("found an FHE public key"), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p("keys/fhe.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = fails(&veil(&["fhe", "decrypt", "--key", &p("keys/fhe.key"), "--answer", &p("a.bin")]));
        assert!(err.contains("mode 644"), "{err}");
        let err = fails(&veil(&[
            "fhe",
            "encrypt",
            "--key",
            &p("keys/fhe.key"),
            "--test-split",
            "--out",
            &p("q4.bin"),
        ]));
        assert!(err.contains("mode 644"), "{err}");
    }
    // Rows of the wrong width.
    std::fs::write(p("narrow.csv"), "1,2,3\n").unwrap();
    let err = fails(&veil(&[
        "fhe",
        "encrypt",
        "--key",
        &p("keys/fhe.pub"),
        "--csv",
        &p("narrow.csv"),
        "--out",
        &p("q3.bin"),
    ]));
    assert!(err.contains("expected 30 numbers"), "{err}");
}
