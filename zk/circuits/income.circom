pragma circom 2.1.0;

// The income-threshold statement of crates/veil-zk/src/income.rs, written in circom
// for the side-by-side benchmark (scripts/bench-snarkjs.sh): the same public inputs
// [H, T, count], the same commitment chain of circomlib Poseidon, the same range
// checks (64-bit amounts, an 80-bit threshold and surplus) and the same prefix mask.

include "../node_modules/circomlib/circuits/poseidon.circom";
include "../node_modules/circomlib/circuits/bitify.circom";

template IncomeThreshold(SLOTS) {
    signal input H;
    signal input T;
    signal input count;
    signal input account;
    signal input epoch;
    signal input amounts[SLOTS];
    signal input salt;

    // Amounts in 64 bits; the mask marks the first `count` slots.
    component amountBits[SLOTS];
    signal mask[SLOTS];
    var maskSum = 0;
    var sum = 0;
    for (var i = 0; i < SLOTS; i++) {
        amountBits[i] = Num2Bits(64);
        amountBits[i].in <== amounts[i];
        mask[i] <-- i < count ? 1 : 0;
        mask[i] * (mask[i] - 1) === 0;
        if (i > 0) {
            mask[i] * (1 - mask[i - 1]) === 0;
        }
        amounts[i] * (1 - mask[i]) === 0;
        maskSum += mask[i];
        sum += amounts[i];
    }
    maskSum === count;

    // T < 2^80 and sum - T in [0, 2^80).
    component tBits = Num2Bits(80);
    tBits.in <== T;
    component surplus = Num2Bits(80);
    surplus.in <== sum - T;

    // The commitment.
    var CHUNK = 11;
    var CHUNKS = (SLOTS + CHUNK - 1) \ CHUNK;
    component head = Poseidon(3);
    head.inputs[0] <== account;
    head.inputs[1] <== epoch;
    head.inputs[2] <== count;
    component chain[CHUNKS];
    for (var c = 0; c < CHUNKS; c++) {
        chain[c] = Poseidon(CHUNK + 1);
        chain[c].inputs[0] <== c == 0 ? head.out : chain[c - 1].out;
        for (var k = 0; k < CHUNK; k++) {
            var i = c * CHUNK + k;
            if (i < SLOTS) {
                chain[c].inputs[k + 1] <== amounts[i];
            } else {
                chain[c].inputs[k + 1] <== 0;
            }
        }
    }
    component last = Poseidon(2);
    last.inputs[0] <== chain[CHUNKS - 1].out;
    last.inputs[1] <== salt;
    last.out === H;
}

component main {public [H, T, count]} = IncomeThreshold(256);
