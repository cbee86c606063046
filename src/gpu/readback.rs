//! Reading GPU buffers back, the one thing that waits for the GPU: async, so a page awaits it
//! (the browser resolves the mapping meanwhile), and natively preceded by a blocking poll, so its
//! future is ready when awaited. The blocking twins below are native only.

use super::context::Gpu;
use crate::Result;

impl Gpu {
    /// Copies `size` bytes at `offset` of `buffer` (which needs COPY_SRC) to the CPU, once the
    /// GPU has done everything submitted before. For tests, evaluation and end-of-run results,
    /// never inside the training loop.
    pub async fn read_buffer_async(&self, buffer: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<u8>> {
        let encoder = self.device.create_command_encoder(&Default::default());
        let mut parts = self.read_buffers_async(encoder, &[(buffer, offset, size)]).await?;
        Ok(parts.pop().expect("one part"))
    }

    /// Like `read_buffer_async` for several (buffer, offset, size) ranges at once, in one
    /// readback, after whatever `encoder` already holds: one submission and one mapping for them
    /// all.
    pub async fn read_buffers_async(
        &self,
        mut encoder: wgpu::CommandEncoder,
        ranges: &[(&wgpu::Buffer, u64, u64)],
    ) -> Result<Vec<Vec<u8>>> {
        let mut at = Vec::with_capacity(ranges.len());
        let mut size = 0;
        for &(_, _, len) in ranges {
            at.push(size);
            size += len.next_multiple_of(4);
        }
        let staging =
            self.create_buffer("readback", size, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
        for (&(buffer, offset, len), &to) in ranges.iter().zip(&at) {
            encoder.copy_buffer_to_buffer(buffer, offset, &staging, to, len);
        }
        let submission = self.submit(encoder.finish());
        self.count_readback();
        let mapped = map_read(&staging);
        self.await_mapping(submission, mapped, "reading back from the GPU").await?;
        let parts = {
            let view =
                staging.get_mapped_range(..).map_err(|e| self.failure("reading back from the GPU", e))?;
            ranges
                .iter()
                .zip(&at)
                .map(|(&(_, _, len), &to)| view[to as usize..(to + len) as usize].to_vec())
                .collect()
        };
        staging.unmap();
        Ok(parts)
    }

    /// Awaits a mapping `map_read` asked for, of a buffer copied to in `submission`. Natively the
    /// GPU is first waited for (a blocking poll, which runs the mapping's callback), so the
    /// future is ready; in a browser the page yields until the browser resolves the mapping.
    /// Then reports any error the GPU hit.
    pub async fn await_mapping(
        &self,
        submission: wgpu::SubmissionIndex,
        mapped: Mapping,
        what: &str,
    ) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::Wait { submission_index: Some(submission), timeout: None })
            .map_err(|e| self.failure(what, e))?;
        #[cfg(target_arch = "wasm32")]
        let _ = submission;
        mapped
            .receive()
            .await
            .ok_or_else(|| self.failure(what, "the mapping never completed"))?
            .map_err(|e| self.failure(what, e))?;
        self.check_errors()
    }

    /// Reads `len` f32 values starting at element `offset`.
    pub async fn read_f32_async(&self, buffer: &wgpu::Buffer, offset: usize, len: usize) -> Result<Vec<f32>> {
        let bytes = self.read_buffer_async(buffer, offset as u64 * 4, len as u64 * 4).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Reads `len` u32 values starting at element `offset`.
    pub async fn read_u32_async(&self, buffer: &wgpu::Buffer, offset: usize, len: usize) -> Result<Vec<u32>> {
        let bytes = self.read_buffer_async(buffer, offset as u64 * 4, len as u64 * 4).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}

/// A mapping asked for and not yet known to be done: what `map_read`'s callback sends.
pub type Mapping =
    futures_intrusive::channel::shared::OneshotReceiver<std::result::Result<(), wgpu::BufferAsyncError>>;

/// Asks to map all of `buffer` for reading (after the work already submitted that writes it);
/// the mapping's outcome arrives through the returned receiver (`Gpu::await_mapping`).
pub fn map_read(buffer: &wgpu::Buffer) -> Mapping {
    let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
    buffer.map_async(wgpu::MapMode::Read, .., move |result| {
        let _ = sender.send(result);
    });
    receiver
}

/// The blocking helpers of old, for native callers (the command line, tests, benchmarks): each
/// waits for its async twin.
#[cfg(not(target_arch = "wasm32"))]
impl Gpu {
    /// `read_buffer_async`, waiting for it.
    pub fn read_buffer(&self, buffer: &wgpu::Buffer, offset: u64, size: u64) -> Result<Vec<u8>> {
        pollster::block_on(self.read_buffer_async(buffer, offset, size))
    }

    /// `read_buffers_async`, waiting for it.
    pub fn read_buffers(
        &self,
        encoder: wgpu::CommandEncoder,
        ranges: &[(&wgpu::Buffer, u64, u64)],
    ) -> Result<Vec<Vec<u8>>> {
        pollster::block_on(self.read_buffers_async(encoder, ranges))
    }

    /// `read_f32_async`, waiting for it.
    pub fn read_f32(&self, buffer: &wgpu::Buffer, offset: usize, len: usize) -> Result<Vec<f32>> {
        pollster::block_on(self.read_f32_async(buffer, offset, len))
    }

    /// `read_u32_async`, waiting for it.
    pub fn read_u32(&self, buffer: &wgpu::Buffer, offset: usize, len: usize) -> Result<Vec<u32>> {
        pollster::block_on(self.read_u32_async(buffer, offset, len))
    }

    /// Blocks until the GPU has finished everything submitted, then reports any error it hit.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| self.failure("waiting for the GPU", e))?;
        self.check_errors()
    }
}
