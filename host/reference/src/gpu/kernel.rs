//! The council's CfC forward pass as a CUDA kernel, compiled with NVRTC when the host
//! starts and launched through the driver API (both loaded at run time by cudarc, so a
//! machine without CUDA builds and runs the host). One thread per (request, agent); the
//! arithmetic and its order are those of `super::cfc::forward`, with fused
//! multiply-add off so the CPU path is a faithful reference.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cudarc::driver::{CudaContext, CudaFunction, CudaStream, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};

use super::GpuError;
use super::cfc::{Batch, HIDDEN, INPUTS, MAX_STEPS, WEIGHTS_PER_AGENT};

const SOURCE: &str = r#"
extern "C" __global__ void council_forward(
    const float* weights, int agents, int per_agent,
    const float* steps, const float* gaps, const int* lengths, int batch,
    float* logits)
{
    const int Z = HIDDEN + INPUTS;
    const int HEAD = HIDDEN * Z + HIDDEN;
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= batch * agents) return;
    int r = idx / agents;
    int a = idx % agents;
    const float* w = weights + a * per_agent;
    const float* in = steps + r * MAX_STEPS * INPUTS;
    float x[HIDDEN];
    float xn[HIDDEN];
    float z[HIDDEN + INPUTS];
    for (int j = 0; j < HIDDEN; j++) x[j] = 0.0f;
    int n = lengths[r];
    if (n < 1) n = 1;
    if (n > MAX_STEPS) n = MAX_STEPS;
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < HIDDEN; i++) z[i] = x[i];
        for (int i = 0; i < INPUTS; i++) z[HIDDEN + i] = in[k * INPUTS + i];
        float t = gaps[r * MAX_STEPS + k];
        for (int j = 0; j < HIDDEN; j++) {
            float acc[3];
            for (int head = 0; head < 3; head++) {
                const float* hw = w + head * HEAD;
                float s = hw[HIDDEN * Z + j];
                for (int i = 0; i < Z; i++) s += hw[j * Z + i] * z[i];
                acc[head] = s;
            }
            float g = tanhf(acc[1]);
            float h = tanhf(acc[2]);
            float v = -acc[0] * t;
            float gate = 1.0f / (1.0f + expf(-v));
            xn[j] = gate * g + (1.0f - gate) * h;
        }
        for (int j = 0; j < HIDDEN; j++) x[j] = xn[j];
    }
    const float* req = in + (n - 1) * INPUTS;
    const float* ro = w + 3 * HEAD;
    float logit = ro[HIDDEN + INPUTS];
    for (int j = 0; j < HIDDEN; j++) logit += ro[j] * x[j];
    for (int i = 0; i < INPUTS; i++) logit += ro[HIDDEN + i] * req[i];
    logits[idx] = logit;
}
"#;

/// A compiled kernel on one device.
pub struct CudaCouncil {
    stream: Arc<CudaStream>,
    function: CudaFunction,
    device: String,
}

/// `what` failed in the CUDA driver or NVRTC, with its error kept as the cause.
fn driver<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl FnOnce(E) -> GpuError {
    move |e| GpuError::Cuda {
        what,
        source: Box::new(e),
    }
}

/// True when the CUDA driver and NVRTC libraries can be loaded; `CudaContext::new`
/// panics without them, so this is asked first.
pub fn cuda_present() -> bool {
    // SAFETY: these only try to dlopen the libraries.
    unsafe { cudarc::driver::sys::is_culib_present() && cudarc::nvrtc::sys::is_culib_present() }
}

impl CudaCouncil {
    pub fn new(ordinal: usize) -> Result<Self, GpuError> {
        if !cuda_present() {
            return Err(GpuError::Unusable("no CUDA driver or NVRTC library".into()));
        }
        let ctx = CudaContext::new(ordinal).map_err(driver("open the device"))?;
        let device = ctx.name().map_err(driver("read the device name"))?;
        let source = format!(
            "#define HIDDEN {HIDDEN}\n#define INPUTS {INPUTS}\n#define MAX_STEPS {MAX_STEPS}\n{SOURCE}"
        );
        let options = CompileOptions {
            fmad: Some(false),
            prec_div: Some(true),
            prec_sqrt: Some(true),
            ftz: Some(false),
            ..Default::default()
        };
        let ptx = compile_ptx_with_opts(source, options).map_err(driver("compile the kernel"))?;
        let module = ctx.load_module(ptx).map_err(driver("load the kernel"))?;
        let function = module
            .load_function("council_forward")
            .map_err(driver("find council_forward"))?;
        Ok(Self {
            stream: ctx.default_stream(),
            function,
            device,
        })
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    /// Logits `[batch][agent]`, and the kernel's wall time (copies included).
    pub fn logits(
        &self,
        weights: &[f32],
        agents: usize,
        batch: &Batch,
    ) -> Result<(Vec<f32>, Duration), GpuError> {
        let started = Instant::now();
        let n = batch.len() * agents;
        // The kernel indexes these buffers blindly; a mismatch must not reach the device.
        if weights.len() != agents * WEIGHTS_PER_AGENT
            || batch.steps.len() != batch.len() * MAX_STEPS * INPUTS
            || batch.gaps.len() != batch.len() * MAX_STEPS
        {
            return Err(GpuError::Unusable(format!(
                "inconsistent council inputs: {} weights for {agents} agent(s), {} steps and {} gaps for {} sequence(s)",
                weights.len(),
                batch.steps.len(),
                batch.gaps.len(),
                batch.len()
            )));
        }
        if n == 0 {
            return Ok((Vec::new(), started.elapsed()));
        }
        let s = &self.stream;
        let copy = "copy the batch to the device";
        let w = s.clone_htod(weights).map_err(driver(copy))?;
        let steps = s.clone_htod(&batch.steps).map_err(driver(copy))?;
        let gaps = s.clone_htod(&batch.gaps).map_err(driver(copy))?;
        let lengths = s.clone_htod(&batch.lengths).map_err(driver(copy))?;
        let mut out = s
            .alloc_zeros::<f32>(n)
            .map_err(driver("allocate the logits"))?;
        let (agents_i, per_agent, batch_i) =
            (agents as i32, WEIGHTS_PER_AGENT as i32, batch.len() as i32);
        let mut launch = s.launch_builder(&self.function);
        launch
            .arg(&w)
            .arg(&agents_i)
            .arg(&per_agent)
            .arg(&steps)
            .arg(&gaps)
            .arg(&lengths)
            .arg(&batch_i)
            .arg(&mut out);
        // SAFETY: the argument list matches `council_forward`'s signature and every buffer
        // holds the number of elements the kernel indexes (checked above).
        unsafe { launch.launch(LaunchConfig::for_num_elems(n as u32)) }
            .map_err(driver("launch the kernel"))?;
        let logits = s.clone_dtoh(&out).map_err(driver("copy the logits back"))?;
        Ok((logits, started.elapsed()))
    }
}
