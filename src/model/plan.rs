//! `Network::plan`: every layer's input and output shapes, its PyTorch name, and where its
//! parameters (and a batch norm's running statistics) sit in the flat buffer. A residual block
//! is planned as a layer holding its body's planned layers and its shortcut's.

use super::spec::{Layer, Network, Shape, shortcut_stride};
use crate::error::GpuError;
use crate::{Error, Result};
use std::ops::Range;

/// One layer with everything derived from its place in the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedLayer {
    pub layer: Layer,
    /// PyTorch-style name for layers with parameters ("conv1", "fc2", "bn1", "shortcut1") and
    /// residual blocks ("res1"), else the kind ("relu").
    pub name: String,
    pub input: Shape,
    pub output: Shape,
    /// Offset of the weight in the flat parameter buffer and its length; the bias follows it.
    pub weight: Option<(usize, usize)>,
    pub bias: Option<(usize, usize)>,
    /// A batch norm's running mean, running variance (one per channel each) and batch count
    /// (one value), after its bias: kept in the buffer but never trained.
    pub statistics: Option<(usize, usize)>,
    /// A residual block's layers, planned.
    pub body: Vec<PlannedLayer>,
    /// A residual block's 1x1 convolution from its input to its body's output shape, where the
    /// body changes the shape.
    pub shortcut: Option<Box<PlannedLayer>>,
}

impl PlannedLayer {
    /// Its trainable parameters, with those of the layers inside it.
    pub fn parameter_count(&self) -> usize {
        self.weight.map_or(0, |w| w.1)
            + self.bias.map_or(0, |b| b.1)
            + self.body.iter().map(PlannedLayer::parameter_count).sum::<usize>()
            + self.shortcut.as_ref().map_or(0, |s| s.parameter_count())
    }

    /// This layer, then the layers inside it depth first (a block's body, then its shortcut).
    fn walk<'a>(&'a self, out: &mut Vec<&'a PlannedLayer>) {
        out.push(self);
        for l in &self.body {
            l.walk(out);
        }
        if let Some(s) = &self.shortcut {
            s.walk(out);
        }
    }
}

/// A network whose shapes have been checked, with every layer's shapes and parameter offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub network: Network,
    pub layers: Vec<PlannedLayer>,
    /// The flat buffer's length: every parameter, and the batch norms' running statistics.
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

    /// Every layer, the ones inside residual blocks included, in the order their parameters
    /// sit in the buffer.
    pub fn all_layers(&self) -> Vec<&PlannedLayer> {
        let mut out = Vec::new();
        for l in &self.layers {
            l.walk(&mut out);
        }
        out
    }

    /// The first layer (a block counts as its own) that only the CPU path's layer-by-layer
    /// passes run; None for a network of LeNet's layers.
    pub fn first_layer_by_layer_only(&self) -> Option<&PlannedLayer> {
        self.layers.iter().find(|l| l.layer.is_layer_by_layer_only())
    }

    /// Why the GPU's kernels cannot run this plan yet, if they cannot: its first layer past
    /// LeNet's.
    pub fn not_on_gpu(&self) -> Option<GpuError> {
        let l = self.first_layer_by_layer_only()?;
        let layer = match l.layer {
            Layer::Residual { .. } => "residual block".to_string(),
            Layer::Dropout { .. } => "dropout".to_string(),
            ref other => other.describe(),
        };
        Some(GpuError::LayerNotOnGpu { layer })
    }

    /// The ranges of the buffer an optimizer updates: all of it but the running statistics.
    pub fn trained_ranges(&self) -> Vec<Range<usize>> {
        let mut ranges = Vec::new();
        let mut start = 0;
        for (at, len) in self.all_layers().iter().filter_map(|l| l.statistics) {
            if at > start {
                ranges.push(start..at);
            }
            start = at + len;
        }
        if start < self.parameter_count {
            ranges.push(start..self.parameter_count);
        }
        ranges
    }

    /// How many values of the buffer are trained (the running statistics left out).
    pub fn trained_count(&self) -> usize {
        self.trained_ranges().iter().map(|r| r.len()).sum()
    }
}

/// The per-kind counters behind the layers' names, and the next free offset in the buffer.
#[derive(Default)]
struct Planner {
    convs: usize,
    denses: usize,
    norms: usize,
    shortcuts: usize,
    blocks: usize,
    offset: usize,
}

impl Planner {
    /// Takes `len` values of the buffer.
    fn take(&mut self, len: usize) -> (usize, usize) {
        let at = (self.offset, len);
        self.offset += len;
        at
    }

    /// Plans `layers` from `input`; `number` names a layer in an error ("layer 3", "layer 3.2").
    fn layers(
        &mut self,
        layers: &[Layer],
        input: Shape,
        number: &dyn Fn(usize) -> String,
    ) -> Result<Vec<PlannedLayer>> {
        let mut shape = input;
        let mut planned = Vec::with_capacity(layers.len());
        for (i, layer) in layers.iter().enumerate() {
            let output = layer.output_shape(shape).map_err(|why| {
                Error::Network(format!(
                    "{} ({}) cannot take input {shape}: {why}",
                    number(i),
                    layer.describe()
                ))
            })?;
            let l = self.layer(layer, shape, output, &|j| format!("{}.{}", number(i), j + 1))?;
            planned.push(l);
            shape = output;
        }
        Ok(planned)
    }

    /// One layer whose shapes are known, its parameters laid out in the order of PyTorch's
    /// state_dict: weight, bias (and a batch norm's running mean, variance and count).
    fn layer(
        &mut self,
        layer: &Layer,
        input: Shape,
        output: Shape,
        number: &dyn Fn(usize) -> String,
    ) -> Result<PlannedLayer> {
        let mut planned = PlannedLayer {
            layer: layer.clone(),
            name: String::new(),
            input,
            output,
            weight: None,
            bias: None,
            statistics: None,
            body: Vec::new(),
            shortcut: None,
        };
        match *layer {
            Layer::Conv2d { out_channels, kernel_h, kernel_w, .. } => {
                self.convs += 1;
                planned.name = format!("conv{}", self.convs);
                planned.weight = Some(self.take(out_channels * input.channels * kernel_h * kernel_w));
                planned.bias = Some(self.take(out_channels));
            }
            Layer::Dense { out_features } => {
                self.denses += 1;
                planned.name = format!("fc{}", self.denses);
                planned.weight = Some(self.take(out_features * input.len()));
                planned.bias = Some(self.take(out_features));
            }
            Layer::BatchNorm => {
                self.norms += 1;
                planned.name = format!("bn{}", self.norms);
                planned.weight = Some(self.take(input.channels));
                planned.bias = Some(self.take(input.channels));
                planned.statistics = Some(self.take(2 * input.channels + 1));
            }
            Layer::Residual { ref body } => {
                self.blocks += 1;
                planned.name = format!("res{}", self.blocks);
                planned.body = self.layers(body, input, number)?;
                if input != output {
                    let stride = shortcut_stride(input, output).map_err(Error::Network)?;
                    // Numbered on its own, so the body's convolutions keep the names they would have without it.
                    self.shortcuts += 1;
                    planned.shortcut = Some(Box::new(PlannedLayer {
                        layer: Layer::conv(output.channels, 1, stride, 0),
                        name: format!("shortcut{}", self.shortcuts),
                        input,
                        output,
                        weight: Some(self.take(output.channels * input.channels)),
                        bias: Some(self.take(output.channels)),
                        statistics: None,
                        body: Vec::new(),
                        shortcut: None,
                    }));
                }
            }
            Layer::MaxPool { .. } => planned.name = "maxpool".to_string(),
            Layer::AvgPool { .. } => planned.name = "avgpool".to_string(),
            Layer::Relu => planned.name = "relu".to_string(),
            Layer::Tanh => planned.name = "tanh".to_string(),
            Layer::Gelu => planned.name = "gelu".to_string(),
            Layer::Dropout { .. } => planned.name = "dropout".to_string(),
            Layer::GlobalAvgPool => planned.name = "gap".to_string(),
        }
        Ok(planned)
    }
}

impl Network {
    /// Checks that every layer accepts its input and lays out the parameters in the order of
    /// PyTorch's state_dict: for each layer, weight then bias (a batch norm's running statistics
    /// after them; a residual block's body, then its shortcut).
    pub fn plan(&self) -> Result<Plan> {
        if self.input.is_empty() {
            return Err(Error::Network(format!("the input shape {} is empty", self.input)));
        }
        if self.layers.is_empty() {
            return Err(Error::Network("a network needs at least one layer".into()));
        }
        let mut planner = Planner::default();
        let layers = planner.layers(&self.layers, self.input, &|i| format!("layer {}", i + 1))?;
        Ok(Plan { network: self.clone(), layers, parameter_count: planner.offset })
    }
}
