//! Layer specs and shape inference. A network is a list of layers applied in order to one input
//! shape; `Network::plan` checks that the shapes chain and says where each layer's parameters
//! live in the flat buffer.

use crate::{Error, Result};

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
            Layer::Relu | Layer::Tanh => Ok(input),
            Layer::Dense { out_features } => {
                if out_features == 0 {
                    return Err("a dense layer needs at least 1 output".into());
                }
                Ok(Shape::new(out_features, 1, 1))
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
        }
    }
}

/// The compact form used in checkpoints' metadata: `conv6k5p2`, `relu`, `maxpool2`, `avgpool2`,
/// `tanh`, `dense120` (stride and padding written only when not the default; `k3x5` for a
/// non-square kernel).
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

/// One layer with everything derived from its place in the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedLayer {
    pub layer: Layer,
    /// PyTorch-style name for layers with parameters ("conv1", "fc2"), else the kind ("relu").
    pub name: String,
    pub input: Shape,
    pub output: Shape,
    /// Offset of the weight in the flat parameter buffer and its length; the bias follows it.
    pub weight: Option<(usize, usize)>,
    pub bias: Option<(usize, usize)>,
}

impl PlannedLayer {
    pub fn parameter_count(&self) -> usize {
        self.weight.map_or(0, |w| w.1) + self.bias.map_or(0, |b| b.1)
    }
}

/// A network whose shapes have been checked, with every layer's shapes and parameter offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub network: Network,
    pub layers: Vec<PlannedLayer>,
    pub parameter_count: usize,
}

impl Plan {
    pub fn input(&self) -> Shape {
        self.network.input
    }

    pub fn output(&self) -> Shape {
        self.layers.last().map_or(self.network.input, |l| l.output)
    }

    /// The number of classes, for a classifier whose last layer gives C x 1 x 1.
    pub fn classes(&self) -> usize {
        self.output().len()
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

    /// Checks that every layer accepts its input and lays out the parameters in the order of
    /// PyTorch's state_dict: for each layer, weight then bias.
    pub fn plan(&self) -> Result<Plan> {
        if self.input.is_empty() {
            return Err(Error::Network(format!("the input shape {} is empty", self.input)));
        }
        if self.layers.is_empty() {
            return Err(Error::Network("a network needs at least one layer".into()));
        }
        let (mut convs, mut denses, mut offset) = (0, 0, 0);
        let mut shape = self.input;
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let output = layer.output_shape(shape).map_err(|why| {
                Error::Network(format!(
                    "layer {} ({}) cannot take input {shape}: {why}",
                    i + 1,
                    layer.describe()
                ))
            })?;
            let (name, weight_len, bias_len) = match *layer {
                Layer::Conv2d { out_channels, kernel_h, kernel_w, .. } => {
                    convs += 1;
                    (
                        format!("conv{convs}"),
                        out_channels * shape.channels * kernel_h * kernel_w,
                        out_channels,
                    )
                }
                Layer::Dense { out_features } => {
                    denses += 1;
                    (format!("fc{denses}"), out_features * shape.len(), out_features)
                }
                Layer::MaxPool { .. } => ("maxpool".to_string(), 0, 0),
                Layer::AvgPool { .. } => ("avgpool".to_string(), 0, 0),
                Layer::Relu => ("relu".to_string(), 0, 0),
                Layer::Tanh => ("tanh".to_string(), 0, 0),
            };
            let (weight, bias) = if weight_len > 0 {
                let w = (offset, weight_len);
                let b = (offset + weight_len, bias_len);
                offset += weight_len + bias_len;
                (Some(w), Some(b))
            } else {
                (None, None)
            };
            layers.push(PlannedLayer { layer: layer.clone(), name, input: shape, output, weight, bias });
            shape = output;
        }
        Ok(Plan { network: self.clone(), layers, parameter_count: offset })
    }
}
