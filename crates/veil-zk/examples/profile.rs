use std::time::Instant;
use ark_bn254::{Bn254, Fr};
use ark_groth16::Groth16;
use ark_snark::SNARK;
use ark_groth16::r1cs_to_qap::{LibsnarkReduction, R1CSToQAP};
use ark_poly::GeneralEvaluationDomain;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisMode};
use ark_std::rand::SeedableRng;
use veil_zk::income::IncomeThreshold;

fn main() {
    let slots = 256;
    let mut rng = ark_std::rand::rngs::StdRng::seed_from_u64(1);
    let t = Instant::now();
    let keys = veil_zk::groth::dev_setup(IncomeThreshold::blank(slots), &mut rng).unwrap();
    eprintln!("setup {:?}", t.elapsed());
    let st = IncomeThreshold { account: Fr::from(1u64), epoch: 2, amounts: (0..slots as u64).map(|i| 1000 + i).collect(), salt: Fr::from(3u64), threshold: 1000, slots };
    for _ in 0..2 {
        let t0 = Instant::now();
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_optimization_goal(OptimizationGoal::Constraints);
        cs.set_mode(SynthesisMode::Prove { construct_matrices: true, generate_lc_assignments: false });
        st.clone().generate_constraints(cs.clone()).unwrap();
        let t1 = Instant::now();
        cs.finalize();
        let t2 = Instant::now();
        let h = LibsnarkReduction::witness_map::<Fr, GeneralEvaluationDomain<Fr>>(cs.clone()).unwrap();
        let t3 = Instant::now();
        let t4 = Instant::now();
        let _ = Groth16::<Bn254>::prove(&keys.pk, st.clone(), &mut rng).unwrap();
        let t5 = Instant::now();
        eprintln!("synth {:?} finalize {:?} witness_map {:?} (h {}) | full prove {:?}", t1 - t0, t2 - t1, t3 - t2, h.len(), t5 - t4);
    }
}
