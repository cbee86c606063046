//! Layer specs and shape inference. A network is a list of layers applied in order to one input
//! shape; `Network::plan` checks that the shapes chain and says where each layer's parameters
//! live in the flat buffer.

/// The shape of one sample: channels x height x width (a dense layer's output is C x 1 x 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Shape {
    pub const fn new(channels: usize, height: usize, width: usize) -> Self {
        Shape { channels, height, width }
    }

    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        if self.height == 1 && self.width == 1 {
            write!(f, "{}", self.channels)
        } else {
            write!(f, "{}@{}x{}", self.channels, self.height, self.width)
        }
    }
}

/// One layer of a network. Padding is zero padding on every side; stride applies to both axes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer {
    Conv2d {
        out_channels: usize,
        kernel_h: usize,
        kernel_w: usize,
        stride: usize,
        padding: usize,
    },
    MaxPool {
        window: usize,
        stride: usize,
    },
    /// Average pooling: the mean of each window (LeNet-5 of 1998 subsamples this way).
    AvgPool {
        window: usize,
        stride: usize,
    },
    Relu,
    /// The hyperbolic tangent, LeNet-5's original squashing function.
    Tanh,
    /// A fully connected layer; a multi-channel input is flattened in C, H, W order (as PyTorch's
    /// `torch.flatten(x, 1)` does).
    Dense {
        out_features: usize,
    },
    /// Batch normalization over channels (PyTorch's `BatchNorm2d`; `BatchNorm1d` after a dense
    /// layer): in training each channel is normalized by the batch's mean and variance, in
    /// evaluation by running statistics kept beside the parameters.
    BatchNorm,
    /// Inverted dropout: in training each value is zeroed with probability `rate` and the rest
    /// scaled by 1 / (1 − rate); in evaluation nothing changes.
    Dropout {
        rate: DropoutRate,
    },
    /// The mean of each channel's plane (PyTorch's `AdaptiveAvgPool2d(1)`): C@HxW → C.
    GlobalAvgPool,
    /// GELU in PyTorch's exact form, x · Φ(x) (`nn.GELU()`).
    Gelu,
    /// x + body(x): the body's layers applied in order, added to the block's input, through a
    /// 1x1 convolution (the shortcut) when the body changes its shape.
    Residual {
        body: Vec<Layer>,
    },
}

/// A dropout rate in thousandths, so a layer stays comparable and prints as it was written
/// (`dropout0.25`): from 0.001 to 0.999.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DropoutRate(u16);

impl DropoutRate {
    pub const MAX_THOUSANDTHS: u16 = 999;

    /// The rate `thousandths` / 1000, if it is between 0.001 and 0.999.
    pub fn from_thousandths(thousandths: u16) -> Option<DropoutRate> {
        (1..=Self::MAX_THOUSANDTHS).contains(&thousandths).then_some(DropoutRate(thousandths))
    }

    pub fn thousandths(self) -> u16 {
        self.0
    }

    pub fn as_f32(self) -> f32 {
        self.0 as f32 / 1000.0
    }
}

/// `0.25`, `0.1`, `0.005`: the shortest decimal.
impl std::fmt::Display for DropoutRate {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let digits = format!("{:03}", self.0);
        write!(f, "0.{}", digits.trim_end_matches('0'))
    }
}

impl Layer {
    /// A square convolution.
    pub fn conv(out_channels: usize, kernel: usize, stride: usize, padding: usize) -> Layer {
        Layer::Conv2d { out_channels, kernel_h: kernel, kernel_w: kernel, stride, padding }
    }

    /// The output shape for `input`, or why this layer cannot take it.
    pub fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
        match *self {
            Layer::Conv2d { out_channels, kernel_h, kernel_w, stride, padding } => {
                if out_channels == 0 || kernel_h == 0 || kernel_w == 0 || stride == 0 {
                    return Err("channels, kernel size and stride must be at least 1".into());
                }
                let h = sliding_output(input.height, kernel_h, stride, padding)?;
                let w = sliding_output(input.width, kernel_w, stride, padding)?;
                Ok(Shape::new(out_channels, h, w))
            }
            Layer::MaxPool { window, stride } | Layer::AvgPool { window, stride } => {
                if window == 0 || stride == 0 {
                    return Err("window and stride must be at least 1".into());
                }
                let h = sliding_output(input.height, window, stride, 0)?;
                let w = sliding_output(input.width, window, stride, 0)?;
                Ok(Shape::new(input.channels, h, w))
            }
            Layer::Relu | Layer::Tanh | Layer::Gelu | Layer::BatchNorm | Layer::Dropout { .. } => Ok(input),
            Layer::Dense { out_features } => {
                if out_features == 0 {
                    return Err("a dense layer needs at least 1 output".into());
                }
                Ok(Shape::new(out_features, 1, 1))
            }
            Layer::GlobalAvgPool => Ok(Shape::new(input.channels, 1, 1)),
            Layer::Residual { ref body } => {
                if body.is_empty() {
                    return Err("a residual block needs at least one layer".into());
                }
                let mut shape = input;
                for (i, layer) in body.iter().enumerate() {
                    shape = layer.output_shape(shape).map_err(|why| {
                        format!("its layer {} ({}) cannot take input {shape}: {why}", i + 1, layer.describe())
                    })?;
                }
                shortcut_stride(input, shape)?;
                Ok(shape)
            }
        }
    }

    /// A short description for summaries, e.g. "conv 5x5, stride 1, pad 2".
    pub fn describe(&self) -> String {
        match *self {
            Layer::Conv2d { out_channels, kernel_h, kernel_w, stride, padding } => {
                format!("conv {out_channels}@{kernel_h}x{kernel_w}, stride {stride}, pad {padding}")
            }
            Layer::MaxPool { window, stride } => format!("max-pool {window}x{window}, stride {stride}"),
            Layer::AvgPool { window, stride } => format!("avg-pool {window}x{window}, stride {stride}"),
            Layer::Relu => "relu".to_string(),
            Layer::Tanh => "tanh".to_string(),
            Layer::Dense { out_features } => format!("dense {out_features}"),
            Layer::BatchNorm => "batch norm".to_string(),
            Layer::Dropout { rate } => format!("dropout {rate}"),
            Layer::GlobalAvgPool => "global avg-pool".to_string(),
            Layer::Gelu => "gelu".to_string(),
            Layer::Residual { ref body } => format!("residual block of {} layers", body.len()),
        }
    }

    /// Whether only the CPU path's layer-by-layer passes run this layer: the layers past
    /// LeNet's (batch norm, dropout, global pooling, GELU, residual blocks), which neither the
    /// chunked CPU step nor the GPU's kernels have yet.
    pub fn is_layer_by_layer_only(&self) -> bool {
        matches!(
            self,
            Layer::BatchNorm
                | Layer::Dropout { .. }
                | Layer::GlobalAvgPool
                | Layer::Gelu
                | Layer::Residual { .. }
        )
    }
}

/// The stride of the 1x1 convolution that takes a residual block's `input` to its body's
/// `output` (1 when only the channels differ), or why none can.
pub fn shortcut_stride(input: Shape, output: Shape) -> std::result::Result<usize, String> {
    let fits = |s: usize| {
        sliding_output(input.height, 1, s, 0) == Ok(output.height)
            && sliding_output(input.width, 1, s, 0) == Ok(output.width)
    };
    (1..=input.height.max(input.width)).find(|&s| fits(s)).ok_or_else(|| {
        format!(
            "its body turns {input} into {output}, which no 1x1 convolution on the shortcut can match (the body may shrink the planes only by a stride)"
        )
    })
}

/// The compact form used in checkpoints' metadata: `conv6k5p2`, `relu`, `maxpool2`, `avgpool2`,
/// `tanh`, `dense120`, `bn`, `dropout0.25`, `gap`, `gelu`, `res(conv16k3p1,bn,relu)` (stride and
/// padding written only when not the default; `k3x5` for a non-square kernel).
impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match *self {
            Layer::Conv2d { out_channels, kernel_h, kernel_w, stride, padding } => {
                write!(f, "conv{out_channels}k{kernel_h}")?;
                if kernel_w != kernel_h {
                    write!(f, "x{kernel_w}")?;
                }
                if stride != 1 {
                    write!(f, "s{stride}")?;
                }
                if padding != 0 {
                    write!(f, "p{padding}")?;
                }
                Ok(())
            }
            Layer::MaxPool { window, stride } if stride == window => write!(f, "maxpool{window}"),
            Layer::MaxPool { window, stride } => write!(f, "maxpool{window}s{stride}"),
            Layer::AvgPool { window, stride } if stride == window => write!(f, "avgpool{window}"),
            Layer::AvgPool { window, stride } => write!(f, "avgpool{window}s{stride}"),
            Layer::Relu => write!(f, "relu"),
            Layer::Tanh => write!(f, "tanh"),
            Layer::Dense { out_features } => write!(f, "dense{out_features}"),
            Layer::BatchNorm => write!(f, "bn"),
            Layer::Dropout { rate } => write!(f, "dropout{rate}"),
            Layer::GlobalAvgPool => write!(f, "gap"),
            Layer::Gelu => write!(f, "gelu"),
            Layer::Residual { ref body } => {
                let body: Vec<String> = body.iter().map(|l| l.to_string()).collect();
                write!(f, "res({})", body.join(","))
            }
        }
    }
}

/// How many positions a window of `window` fits in `size + 2 * padding` with `stride`.
fn sliding_output(
    size: usize,
    window: usize,
    stride: usize,
    padding: usize,
) -> std::result::Result<usize, String> {
    let padded = size + 2 * padding;
    if window > padded {
        return Err(format!("window {window} is larger than the padded input {padded}"));
    }
    Ok((padded - window) / stride + 1)
}

/// A network: an input shape and the layers applied to it in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub input: Shape,
    pub layers: Vec<Layer>,
}

impl Network {
    /// The layers in compact form, e.g. `conv6k5p2,relu,maxpool2,...,dense10`.
    pub fn layers_string(&self) -> String {
        self.layers.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(",")
    }
}

impl Network {
    /// LeNet-5 as in the lesson (and PyTorch's tutorial): 1@28x28 → conv 5x5 pad 2 → 6@28x28 →
    /// relu → max-pool 2 → 6@14x14 → conv 5x5 → 16@10x10 → relu → max-pool 2 → 16@5x5 →
    /// 400→120 → relu → 120→84 → relu → 84→10.
    pub fn lenet5() -> Network {
        Network {
            input: Shape::new(1, 28, 28),
            layers: vec![
                Layer::conv(6, 5, 1, 2),
                Layer::Relu,
                Layer::MaxPool { window: 2, stride: 2 },
                Layer::conv(16, 5, 1, 0),
                Layer::Relu,
                Layer::MaxPool { window: 2, stride: 2 },
                Layer::Dense { out_features: 120 },
                Layer::Relu,
                Layer::Dense { out_features: 84 },
                Layer::Relu,
                Layer::Dense { out_features: 10 },
            ],
        }
    }

    /// LeNet-5's shape on CIFAR-10's 3@32x32 colour images: 32x32 is the size LeNet-5's C1 was
    /// designed for, so conv1 needs no padding (28x28 out, as with a padded MNIST image).
    pub fn lenet5_cifar() -> Network {
        let mut network = Network::lenet5();
        network.input = Shape::new(3, 32, 32);
        network.layers[0] = Layer::conv(6, 5, 1, 0);
        network
    }

    /// LeNet-5 as LeCun et al. published it in 1998, simplified as PyTorch users usually build
    /// it: the same shapes as `lenet5`, with tanh for ReLU and average pooling for max pooling.
    /// The original's trainable subsampling coefficients, its partial connections from S2 to C3
    /// and its RBF output layer are left out (plain average pooling, a full conv2, dense10).
    pub fn lenet5_1998() -> Network {
        Network {
            input: Shape::new(1, 28, 28),
            layers: vec![
                Layer::conv(6, 5, 1, 2),
                Layer::Tanh,
                Layer::AvgPool { window: 2, stride: 2 },
                Layer::conv(16, 5, 1, 0),
                Layer::Tanh,
                Layer::AvgPool { window: 2, stride: 2 },
                Layer::Dense { out_features: 120 },
                Layer::Tanh,
                Layer::Dense { out_features: 84 },
                Layer::Tanh,
                Layer::Dense { out_features: 10 },
            ],
        }
    }
}
