//! Opening an engine on the device a user asks for: the GPU path on the chosen adapter, or the
//! CPU path. Under `auto`, a GPU that fails (when the engine is made, or later) is given up for
//! the CPU path, and the session is told why through a `Notice`.

use super::{Notice, Notices};
use crate::cpu::engine::CpuEngine;
use crate::cpu::optimizer::Optimizer;
use crate::error::GpuError;
use crate::fallback::Fallback;
use crate::gpu::engine::GpuEngine;
use crate::gpu::{DeviceChoice, Gpu};
use crate::model::{Parameters, Plan};
use crate::train::Engine;
use crate::{Error, Result};
use std::cell::RefCell;
use std::rc::Rc;

/// The engine for `device`, holding `params`, that trains with `optimizer`.
pub(super) async fn open_engine(
    device: DeviceChoice,
    plan: Plan,
    params: Parameters,
    optimizer: Optimizer,
    notices: &Rc<RefCell<Notices>>,
) -> Result<Box<dyn Engine>> {
    open(device, plan, params, Some(optimizer), notices).await
}

/// The engine for `device` that only runs `params` (on the GPU, one that builds no backward
/// pipeline and refuses to train).
pub(super) async fn open_inference_engine(
    device: DeviceChoice,
    plan: Plan,
    params: Parameters,
    notices: &Rc<RefCell<Notices>>,
) -> Result<Box<dyn Engine>> {
    open(device, plan, params, None, notices).await
}

/// `open_engine`, or with no `optimizer`, `open_inference_engine`.
async fn open(
    device: DeviceChoice,
    plan: Plan,
    params: Parameters,
    optimizer: Option<Optimizer>,
    notices: &Rc<RefCell<Notices>>,
) -> Result<Box<dyn Engine>> {
    let gpu_engine = |gpu: Gpu, plan: Plan, params: &Parameters| match optimizer {
        Some(optimizer) => GpuEngine::new(gpu, plan, params, optimizer),
        None => GpuEngine::for_inference(gpu, plan, params),
    };
    // The CPU path's (for an inference engine, never used: it only runs the model).
    let optimizer = optimizer.unwrap_or(Optimizer::Sgd { lr: 0.01, momentum: 0.0 });
    let tell = |notice: Notice| (notices.borrow_mut())(notice);
    if device == DeviceChoice::Auto
        && let Some(refusal) = plan.not_on_gpu()
    {
        // Not worth opening a GPU whose kernels cannot run the network.
        tell(Notice::GpuUnavailable(Error::Gpu(refusal)));
        return Ok(Box::new(CpuEngine::new(plan, params, optimizer)));
    }
    let gpu = match Gpu::open_async(device).await {
        Err(e) if device == DeviceChoice::Auto => {
            tell(Notice::GpuUnavailable(e));
            None
        }
        other => other?,
    };
    match gpu {
        Some(gpu) if device == DeviceChoice::Auto => match gpu_engine(gpu, plan.clone(), &params) {
            Ok(engine) => {
                let notices = Rc::clone(notices);
                let notice =
                    Box::new(move |why: &GpuError| (notices.borrow_mut())(Notice::GpuFailed(why.clone())));
                Ok(Box::new(Fallback::new(Box::new(engine), params, optimizer, notice)))
            }
            Err(e) => {
                tell(Notice::GpuUnavailable(e));
                Ok(Box::new(CpuEngine::new(plan, params, optimizer)))
            }
        },
        Some(gpu) => {
            let software = gpu.is_software().then(|| gpu.name());
            let engine = gpu_engine(gpu, plan, &params)?;
            if let Some(name) = software {
                tell(Notice::SoftwareAdapter { name });
            }
            Ok(Box::new(engine))
        }
        None => {
            if device == DeviceChoice::Auto {
                tell(Notice::NoHardwareGpu);
            }
            Ok(Box::new(CpuEngine::new(plan, params, optimizer)))
        }
    }
}

/// Sets how many worker threads the CPU path uses (for the whole process; once, before any
/// work).
pub fn set_cpu_threads(threads: usize) -> Result<()> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| Error::InvalidArgument(format!("starting worker threads: {e}")))
}
