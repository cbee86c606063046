//! The geometry of each op for a batch: what the CPU functions and the GPU kernels are both
//! sized by, and how a planned layer gives it. Neutral ground, so neither path imports the other.

use super::{Layer, PlannedLayer};

/// The geometry of a batched convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub in_channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_channels: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvShape {
    /// A square-kernel convolution's geometry, in the order one reads it aloud: `batch` images of
    /// `in_channels`@`in_h`x`in_w` into `out_channels` maps by `kernel`x`kernel`.
    #[allow(clippy::too_many_arguments)]
    pub fn square(
        batch: usize,
        in_channels: usize,
        in_h: usize,
        in_w: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> ConvShape {
        let (kernel_h, kernel_w) = (kernel, kernel);
        ConvShape { batch, in_channels, in_h, in_w, out_channels, kernel_h, kernel_w, stride, padding }
    }

    pub fn out_h(&self) -> usize {
        (self.in_h + 2 * self.padding - self.kernel_h) / self.stride + 1
    }
    pub fn out_w(&self) -> usize {
        (self.in_w + 2 * self.padding - self.kernel_w) / self.stride + 1
    }
    /// Floats in one input image.
    pub fn input_len(&self) -> usize {
        self.in_channels * self.in_h * self.in_w
    }
    /// Floats in one output image.
    pub fn output_len(&self) -> usize {
        self.out_channels * self.out_h() * self.out_w()
    }
    /// K: the length of one patch (a row of the weight matrix).
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel_h * self.kernel_w
    }
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch_len()
    }
    /// P: output positions per channel (the columns of the CPU path's patch matrix).
    pub(crate) fn positions(&self) -> usize {
        self.out_h() * self.out_w()
    }
}

/// The geometry of a batched max or average pool (square windows, no padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolShape {
    pub batch: usize,
    pub channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub window: usize,
    pub stride: usize,
}

impl PoolShape {
    pub fn out_h(&self) -> usize {
        (self.in_h - self.window) / self.stride + 1
    }
    pub fn out_w(&self) -> usize {
        (self.in_w - self.window) / self.stride + 1
    }
    /// Floats in one input image.
    pub fn input_len(&self) -> usize {
        self.channels * self.in_h * self.in_w
    }
    /// Floats in one output image.
    pub fn output_len(&self) -> usize {
        self.channels * self.out_h() * self.out_w()
    }
}

/// The geometry of a batched dense (fully connected) layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseShape {
    pub batch: usize,
    pub in_features: usize,
    pub out_features: usize,
}

/// The geometry of conv layer `l` for a batch of `batch` (both paths use it).
pub(crate) fn conv_shape(l: &PlannedLayer, batch: usize) -> ConvShape {
    let Layer::Conv2d { out_channels, kernel_h, kernel_w, stride, padding } = l.layer else {
        unreachable!("conv_shape on {:?}", l.layer)
    };
    ConvShape {
        batch,
        in_channels: l.input.channels,
        in_h: l.input.height,
        in_w: l.input.width,
        out_channels,
        kernel_h,
        kernel_w,
        stride,
        padding,
    }
}

pub(crate) fn pool_shape(l: &PlannedLayer, batch: usize) -> PoolShape {
    let (Layer::MaxPool { window, stride } | Layer::AvgPool { window, stride }) = l.layer else {
        unreachable!("pool_shape on {:?}", l.layer)
    };
    PoolShape { batch, channels: l.input.channels, in_h: l.input.height, in_w: l.input.width, window, stride }
}

pub(crate) fn dense_shape(l: &PlannedLayer, batch: usize) -> DenseShape {
    DenseShape { batch, in_features: l.input.len(), out_features: l.output.len() }
}
