//! The closed-form continuous-time (CfC) cell of Hasani et al. (2022), on the CPU:
//!
//! `x(t) = σ(−f·t) ⊙ g + (1 − σ(−f·t)) ⊙ h`, where f, g, h are dense heads over `[x; I]`
//! (g and h through tanh), unrolled over a request's input sequence with each step's real
//! time gap as t. The vote logit is a linear head over the final state plus a linear term
//! over the request's own features. The CUDA kernel in [`super::kernel`] is the same
//! arithmetic in the same order; keep the two in step. The council (the system under
//! test) builds its batches and weights in this layout; nothing here knows of it.

/// Features per sequence step (see `features`).
pub const INPUTS: usize = 8;
/// Hidden state width.
pub const HIDDEN: usize = 8;
/// Longest input sequence: up to 16 context entries, then the request itself.
pub const MAX_STEPS: usize = 17;
pub const Z: usize = HIDDEN + INPUTS;
/// One head: weights `[HIDDEN][Z]` row-major, then `HIDDEN` biases.
pub const HEAD: usize = HIDDEN * Z + HIDDEN;
/// Floats per agent: heads f, g, h, readout over the state, readout over the request, bias.
pub const WEIGHTS_PER_AGENT: usize = 3 * HEAD + HIDDEN + INPUTS + 1;
pub const F: usize = 0;
pub const G: usize = HEAD;
pub const H: usize = 2 * HEAD;
pub const READ_STATE: usize = 3 * HEAD;
pub const READ_INPUT: usize = READ_STATE + HIDDEN;
pub const BIAS: usize = READ_INPUT + INPUTS;

/// A batch of input sequences, laid out as the CUDA kernel reads them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// `[len][MAX_STEPS][INPUTS]`: each sequence padded to `MAX_STEPS` steps.
    pub steps: Vec<f32>,
    /// `[len][MAX_STEPS]`: the time gap before each step.
    pub gaps: Vec<f32>,
    /// Steps used by each sequence (1..=MAX_STEPS); the last one is the request.
    pub lengths: Vec<i32>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// Appends one sequence of `(gap, features)` steps, oldest first, the request last;
    /// older steps beyond `MAX_STEPS` are dropped.
    pub fn push(&mut self, sequence: &[(f32, [f32; INPUTS])]) {
        let kept = &sequence[sequence.len().saturating_sub(MAX_STEPS)..];
        for k in 0..MAX_STEPS {
            let (gap, features) = kept.get(k).copied().unwrap_or((0.0, [0.0; INPUTS]));
            self.steps.extend_from_slice(&features);
            self.gaps.push(gap);
        }
        self.lengths.push(kept.len() as i32);
    }
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

fn dense(w: &[f32], head: usize, row: usize, z: &[f32; Z]) -> f32 {
    let weights = &w[head + row * Z..head + (row + 1) * Z];
    let mut acc = w[head + HIDDEN * Z + row];
    for (wi, zi) in weights.iter().zip(z) {
        acc += wi * zi;
    }
    acc
}

/// The vote logit of one agent (`weights`, `WEIGHTS_PER_AGENT` floats) for sequence `i`.
pub fn forward(weights: &[f32], batch: &Batch, i: usize) -> f32 {
    let steps = &batch.steps[i * MAX_STEPS * INPUTS..(i + 1) * MAX_STEPS * INPUTS];
    let gaps = &batch.gaps[i * MAX_STEPS..(i + 1) * MAX_STEPS];
    let len = (batch.lengths[i].clamp(1, MAX_STEPS as i32)) as usize;
    let mut x = [0f32; HIDDEN];
    let mut z = [0f32; Z];
    for k in 0..len {
        z[..HIDDEN].copy_from_slice(&x);
        z[HIDDEN..].copy_from_slice(&steps[k * INPUTS..(k + 1) * INPUTS]);
        let t = gaps[k];
        for (j, xj) in x.iter_mut().enumerate() {
            let f = dense(weights, F, j, &z);
            let g = dense(weights, G, j, &z).tanh();
            let h = dense(weights, H, j, &z).tanh();
            let gate = sigmoid(-f * t);
            *xj = gate * g + (1.0 - gate) * h;
        }
    }
    let request = &steps[(len - 1) * INPUTS..len * INPUTS];
    let mut logit = weights[BIAS];
    for (w, v) in weights[READ_STATE..READ_INPUT].iter().zip(&x) {
        logit += w * v;
    }
    for (w, v) in weights[READ_INPUT..BIAS].iter().zip(request) {
        logit += w * v;
    }
    logit
}

/// Logits `[batch][agent]` for every sequence and every agent, on the CPU.
pub fn forward_all(weights: &[f32], agents: usize, batch: &Batch) -> Vec<f32> {
    let mut out = Vec::with_capacity(batch.len() * agents);
    for i in 0..batch.len() {
        for a in 0..agents {
            let w = &weights[a * WEIGHTS_PER_AGENT..(a + 1) * WEIGHTS_PER_AGENT];
            out.push(forward(w, batch, i));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_weights_give_the_bias() {
        let mut w = vec![0.0; WEIGHTS_PER_AGENT];
        w[BIAS] = 0.25;
        let mut batch = Batch::default();
        batch.push(&[(1.0, [1.0; INPUTS])]);
        assert_eq!(forward(&w, &batch, 0), 0.25);
    }

    #[test]
    fn long_sequences_keep_the_newest_steps() {
        let mut batch = Batch::default();
        let seq: Vec<_> = (0..30).map(|k| (1.0, [k as f32; INPUTS])).collect();
        batch.push(&seq);
        assert_eq!(batch.lengths, vec![MAX_STEPS as i32]);
        assert_eq!(batch.steps[(MAX_STEPS - 1) * INPUTS], 29.0);
    }
}
