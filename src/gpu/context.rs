//! The GPU context: finding adapters, choosing one, opening a device, and the few helpers every
//! other GPU module uses to create buffers, submit work and read results back. It counts buffer
//! creations, submissions and readbacks, so tests can prove the training loop does none per step.
//!
//! Everything that waits is async (`list_adapters_async`, `Gpu::open_async`, and the readbacks of
//! `readback.rs`): a browser page cannot block its thread, so on wasm32 these only await what the
//! browser resolves. Natively the blocking functions of old (`list_adapters`, `Gpu::open`,
//! `Gpu::read_buffers`, `Gpu::wait`, …) remain as thin wrappers, native only.

use super::kernels::Blocking;
use crate::error::GpuError;
use crate::{Error, Result};
use std::cell::Cell;
use std::sync::{Arc, Mutex};

/// Which device `--device` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// A hardware GPU (discrete, then integrated) if there is one, else the CPU path.
    Auto,
    /// The CPU path.
    Cpu,
    /// The best adapter of any kind, software ones (e.g. lavapipe) included.
    Gpu,
    /// The adapter with this index in `lenet devices`.
    Index(usize),
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "gpu" => Ok(DeviceChoice::Gpu),
            _ => s
                .parse()
                .map(DeviceChoice::Index)
                .map_err(|_| format!("expected auto, cpu, gpu or an adapter index, got {s:?}")),
        }
    }
}

/// What `lenet devices` shows about an adapter.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub index: usize,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub timestamp_queries: bool,
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

async fn adapters(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    instance.enumerate_adapters(wgpu::Backends::all()).await
}

/// Every adapter wgpu finds (honouring `WGPU_BACKEND`), in a stable order. In a browser, the one
/// adapter the page is given.
pub async fn list_adapters_async() -> Vec<AdapterSummary> {
    adapters(&instance())
        .await
        .iter()
        .enumerate()
        .map(|(index, a)| AdapterSummary {
            index,
            info: a.get_info(),
            limits: a.limits(),
            timestamp_queries: a.features().contains(wgpu::Features::TIMESTAMP_QUERY),
        })
        .collect()
}

/// `list_adapters_async`, waiting for it (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn list_adapters() -> Vec<AdapterSummary> {
    pollster::block_on(list_adapters_async())
}

/// Higher is better: hardware before software, and the native API before GL on the same device.
pub fn preference(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 1,
        wgpu::DeviceType::Cpu => 0,
    };
    let api = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 2,
        wgpu::Backend::Gl => 1,
        _ => 0,
    };
    (kind, api)
}

fn is_hardware(info: &wgpu::AdapterInfo) -> bool {
    matches!(info.device_type, wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu)
}

/// An open device with its queue, and counts of what has been done with it.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub counters: Counters,
    /// Errors wgpu reports outside an error scope (it would otherwise panic): kept to be reported.
    uncaptured: Arc<Mutex<Option<String>>>,
    /// Why the device was lost (driver reset, GPU removed, `destroy`), once it has been.
    lost: Arc<Mutex<Option<String>>>,
    /// How the conv and dense kernels split their work (chosen by adapter when opened).
    blocking: Cell<Blocking>,
}

/// Resource counts since the device was opened.
#[derive(Default, Debug)]
pub struct Counters {
    pub buffers_created: Cell<u64>,
    pub submissions: Cell<u64>,
    pub readbacks: Cell<u64>,
}

impl Counters {
    fn bump(c: &Cell<u64>) {
        c.set(c.get() + 1);
    }

    /// (buffers created, submissions, readbacks)
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (self.buffers_created.get(), self.submissions.get(), self.readbacks.get())
    }
}

impl Gpu {
    /// `open_async`, waiting for it (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(choice: DeviceChoice) -> Result<Option<Gpu>> {
        pollster::block_on(Gpu::open_async(choice))
    }

    /// Opens the device `choice` names. `Ok(None)` means: use the CPU path (asked for, or `Auto`
    /// found no hardware GPU); an error means the named device cannot be had.
    pub async fn open_async(choice: DeviceChoice) -> Result<Option<Gpu>> {
        Gpu::open_within_async(choice, &wgpu::Limits::default()).await
    }

    /// `open`, on a device no better than `cap` in any limit, as a weaker backend would give:
    /// for tests of what a kernel does beyond a device's limits (native only).
    #[doc(hidden)]
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_within(choice: DeviceChoice, cap: &wgpu::Limits) -> Result<Option<Gpu>> {
        pollster::block_on(Gpu::open_within_async(choice, cap))
    }

    async fn open_within_async(choice: DeviceChoice, cap: &wgpu::Limits) -> Result<Option<Gpu>> {
        if choice == DeviceChoice::Cpu {
            return Ok(None);
        }
        let instance = instance();
        let mut found = adapters(&instance).await;
        let adapter = match choice {
            DeviceChoice::Index(i) => {
                if i >= found.len() {
                    return Err(Error::Gpu(GpuError::NoSuchAdapter { index: i, found: found.len() }));
                }
                found.swap_remove(i)
            }
            _ => {
                found.sort_by_key(|a| std::cmp::Reverse(preference(&a.get_info())));
                match found.into_iter().next() {
                    Some(a) if choice == DeviceChoice::Gpu || is_hardware(&a.get_info()) => a,
                    _ if choice == DeviceChoice::Auto => return Ok(None),
                    _ => {
                        return Err(Error::Gpu(GpuError::NoAdapter));
                    }
                }
            }
        };
        Gpu::from_adapter(adapter, cap).await.map(Some)
    }

    async fn from_adapter(adapter: wgpu::Adapter, cap: &wgpu::Limits) -> Result<Gpu> {
        let info = adapter.get_info();
        // WebGPU's default limits (`cap`), so the kernels run anywhere wgpu does, or the
        // adapter's where one is lower (a GLES 3.1 device has 4 storage buffers a stage, not 8):
        // the device still opens, and a kernel beyond it fails to build with an error naming the
        // kernel and the limit (`kernels::build`). Timestamp queries where the adapter has them.
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("lenet"),
            required_limits: cap.clone().or_worse_values_from(&adapter.limits()),
            required_features: adapter.features() & wgpu::Features::TIMESTAMP_QUERY,
            ..Default::default()
        };
        let (device, queue) = adapter
            .request_device(&descriptor)
            .await
            .map_err(|e| Error::gpu(format!("cannot open {} ({:?}): {e}", info.name, info.backend)))?;
        let uncaptured = Arc::new(Mutex::new(None));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }));
        let lost = Arc::new(Mutex::new(None));
        let sink = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            let mut slot = sink.lock().unwrap_or_else(|p| p.into_inner());
            let reason = match reason {
                wgpu::DeviceLostReason::Destroyed => "destroyed",
                wgpu::DeviceLostReason::Unknown => "driver error",
            };
            let message = message.trim();
            slot.get_or_insert_with(|| {
                if message.is_empty() { reason.to_string() } else { format!("{reason}: {message}") }
            });
        });
        let blocking = Cell::new(Blocking::for_adapter(is_software(&info))?);
        Ok(Gpu { device, queue, info, counters: Counters::default(), uncaptured, lost, blocking })
    }

    /// Whether GPU timestamps can time compute passes.
    pub fn has_timestamps(&self) -> bool {
        self.device.features().contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)"
    pub fn name(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }

    /// Whether the adapter runs on the CPU (lavapipe, llvmpipe, SwiftShader, WARP): by its type,
    /// or by its name where the type is unknown (a browser's WebGPU does not tell it).
    pub fn is_software(&self) -> bool {
        is_software(&self.info)
    }

    /// How the conv and dense kernels split their work on this device.
    pub fn blocking(&self) -> Blocking {
        self.blocking.get()
    }

    /// Builds the kernels made from now on with `blocking` (for tests and benchmarks: each is
    /// correct on any device).
    pub fn set_blocking(&self, blocking: Blocking) {
        self.blocking.set(blocking)
    }

    /// Fails if the device has been lost, else with the first error wgpu reported outside an
    /// error scope, if any.
    pub fn check_errors(&self) -> Result<()> {
        if let Some(lost) = self.lost_error() {
            return Err(lost);
        }
        match self.uncaptured.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(Error::gpu(e)),
            None => Ok(()),
        }
    }

    /// The error to report once the device is lost, None while it is not.
    fn lost_error(&self) -> Option<Error> {
        let lost = self.lost.lock().unwrap_or_else(|p| p.into_inner());
        lost.as_ref().map(|why| Error::Gpu(GpuError::DeviceLost { device: self.name(), why: why.clone() }))
    }

    /// The error for a failed GPU operation `what`: the device's loss when it has been lost
    /// (the operation's own error then only says that it failed), else `what` and `cause`.
    pub fn failure(&self, what: &str, cause: impl std::fmt::Display) -> Error {
        // wgpu calls the device-lost callback from a poll once the queue has drained: let it run
        // first (a bounded wait: a failure must be reported, not hang). In a browser the callback
        // comes from the event loop; a page cannot wait for it.
        #[cfg(not(target_arch = "wasm32"))]
        let _ = self.device.poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout: Some(std::time::Duration::from_secs(10)),
        });
        self.lost_error().unwrap_or_else(|| Error::gpu(format!("{what}: {cause}")))
    }

    /// Destroys the device, as a driver reset or an unplugged GPU would: every later operation
    /// fails. For tests of what the engine does then.
    #[doc(hidden)]
    pub fn simulate_device_loss(&self) {
        self.device.destroy();
    }

    pub fn create_buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        Counters::bump(&self.counters.buffers_created);
        // wgpu rejects zero-sized bindings: round up so empty tensors still bind.
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4).next_multiple_of(4),
            usage,
            mapped_at_creation: false,
        })
    }

    /// A buffer holding `contents` (needs COPY_DST in `usage`). Written through the queue rather
    /// than mapped at creation: wgpu panics when it cannot map a buffer that failed to be created
    /// (too large, device lost), while a queue write's failure is reported like any error.
    pub fn create_buffer_init(
        &self,
        label: &str,
        contents: &[u8],
        usage: wgpu::BufferUsages,
    ) -> wgpu::Buffer {
        let buffer = self.create_buffer(label, contents.len() as u64, usage | wgpu::BufferUsages::COPY_DST);
        let whole = contents.len() - contents.len() % 4;
        if whole > 0 {
            self.queue.write_buffer(&buffer, 0, &contents[..whole]);
        }
        if whole < contents.len() {
            let mut tail = contents[whole..].to_vec();
            tail.resize(4, 0);
            self.queue.write_buffer(&buffer, whole as u64, &tail);
        }
        buffer
    }

    pub fn submit(&self, commands: wgpu::CommandBuffer) -> wgpu::SubmissionIndex {
        Counters::bump(&self.counters.submissions);
        self.queue.submit([commands])
    }

    /// Whether every submission has finished, by a poll that does not wait (native only: in a
    /// browser the page cannot poll, and this is false). A backend that runs the work inside
    /// `submit` (wgpu's GL backend on llvmpipe) has finished it when `submit` returns.
    pub fn queue_empty(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        let empty = self.device.poll(wgpu::PollType::Poll).is_ok_and(|s| s.is_queue_empty());
        #[cfg(target_arch = "wasm32")]
        let empty = false;
        empty
    }

    /// Counts a readback done elsewhere (e.g. an asynchronous one in the trainer).
    pub fn count_readback(&self) {
        Counters::bump(&self.counters.readbacks);
    }
}

/// Whether an adapter runs on the CPU: by its type, or by its name where the type is unknown.
fn is_software(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu || is_software_name(&info.name)
}

/// Whether an adapter's name is a software renderer's (lavapipe, llvmpipe, SwiftShader, WARP):
/// also for a name the browser gives, where wgpu has none.
pub fn is_software_name(name: &str) -> bool {
    let name = name.to_lowercase();
    ["llvmpipe", "lavapipe", "swiftshader", "software", "warp"].iter().any(|s| name.contains(s))
}
