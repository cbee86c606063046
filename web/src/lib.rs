//! lenet-gpu in a web page: the library compiled to wasm32, bound to JavaScript. `lab` does the
//! work in plain Rust; this file only turns its calls into promises and its results into plain
//! JavaScript objects for `www/app.js`, which builds the page and `window.lenet` on them.

pub mod lab;

// A call holds the lab for its whole run, awaits included: `Page::busy` refuses any other call
// meanwhile, so no second borrow can meet it.
#[cfg(target_arch = "wasm32")]
#[allow(clippy::await_holding_refcell_ref)]
mod bindings {
    use super::lab::{DataKind, Lab, PlanState, Reading, TrainRequest, TrainTotals};
    use js_sys::{Array, Float32Array, Function, Object, Promise, Reflect, Uint8Array};
    use lenet_gpu::data::preprocess::rgba_to_gray;
    use lenet_gpu::session::Interrupt;
    use std::cell::{Cell, RefCell};
    use std::future::Future;
    use std::pin::Pin;
    use std::rc::Rc;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::{JsFuture, future_to_promise};

    /// A panic shows in the console with its message (a wasm trap alone says nothing).
    #[wasm_bindgen(start)]
    fn start() {
        std::panic::set_hook(Box::new(|info| web_sys::console::error_1(&info.to_string().into())));
    }

    /// An object with these fields.
    fn object(fields: &[(&str, JsValue)]) -> JsValue {
        let object = Object::new();
        for (key, value) in fields {
            Reflect::set(&object, &(*key).into(), value).expect("setting a field of a fresh object");
        }
        object.into()
    }

    fn error(e: impl std::fmt::Display) -> JsValue {
        JsError::new(&e.to_string()).into()
    }

    fn totals_object(t: &TrainTotals) -> JsValue {
        object(&[
            ("steps", (t.steps as f64).into()),
            ("images", (t.images as f64).into()),
            ("loss", t.loss().into()),
            ("trainAccuracy", t.accuracy().into()),
            ("seconds", t.seconds.into()),
            ("imagesPerSecond", t.images_per_second().into()),
            ("plan", t.plan.as_ref().map_or(JsValue::NULL, plan_object)),
        ])
    }

    /// `{ probabilities, input }`: the ten probabilities and the 28x28 bytes the network saw.
    fn reading_object(reading: &Reading) -> JsValue {
        let probabilities: Vec<f32> = reading.probabilities.iter().map(|&p| p as f32).collect();
        object(&[
            ("probabilities", Float32Array::from(probabilities.as_slice()).into()),
            ("input", Uint8Array::from(reading.input.as_slice()).into()),
        ])
    }

    fn plan_object(p: &PlanState) -> JsValue {
        object(&[
            ("epoch", (p.epoch as f64).into()),
            ("epochs", (p.epochs as f64).into()),
            ("epochEnded", p.epoch_ended.into()),
            ("stepsLeft", (p.steps_left as f64).into()),
        ])
    }

    /// `pause()` awaits the promise the page's function returns (it lets the browser draw).
    fn pauser(pause: Function) -> impl Fn() -> Pin<Box<dyn Future<Output = ()>>> {
        move || {
            let promise = pause.call0(&JsValue::NULL).ok().and_then(|p| p.dyn_into::<Promise>().ok());
            Box::pin(async move {
                if let Some(promise) = promise {
                    let _ = JsFuture::from(promise).await;
                }
            })
        }
    }

    /// The page's handle on a `Lab`. One call at a time: a call while another runs rejects.
    #[wasm_bindgen]
    pub struct Page {
        lab: Rc<RefCell<Lab>>,
        /// Set from a call until its promise settles: the lab is borrowed only inside calls, and
        /// never by two at once.
        busy: Rc<Cell<bool>>,
        interrupt: Interrupt,
    }

    /// Why `value` cannot be the setting `name` ("learningRate", "batchSize", "epochs"), in the
    /// library's words (`session::check`), or "" when it can.
    #[wasm_bindgen(js_name = checkSetting)]
    pub fn check_setting(name: &str, value: f64) -> String {
        super::lab::check_setting(name, value).err().unwrap_or_default()
    }

    /// Opens a lab (`prefer`: "auto", "webgpu" or "cpu"), LeNet-5 initialized from `seed`;
    /// `adapter`: the WebGPU adapter's name as the browser gives it ("" if none).
    #[wasm_bindgen]
    pub async fn open(prefer: String, seed: f64, adapter: String) -> Result<Page, JsValue> {
        let lab = Lab::open(&prefer, seed as u64, &adapter).await.map_err(error)?;
        let interrupt = lab.interrupt();
        Ok(Page { lab: Rc::new(RefCell::new(lab)), busy: Rc::default(), interrupt })
    }

    impl Page {
        /// Runs `work` on the lab as a promise, or rejects at once if another call holds it.
        fn run<F, Fut>(&self, work: F) -> Promise
        where
            F: FnOnce(Rc<RefCell<Lab>>) -> Fut + 'static,
            Fut: Future<Output = Result<JsValue, JsValue>> + 'static,
        {
            if self.busy.replace(true) {
                return Promise::reject(&error(
                    "busy: another call (training, evaluating, …) is still running",
                ));
            }
            let (lab, busy) = (self.lab.clone(), self.busy.clone());
            future_to_promise(async move {
                let result = work(lab).await;
                busy.set(false);
                result
            })
        }
    }

    #[wasm_bindgen]
    impl Page {
        /// `{ backend, adapter, software, fallback, network, batchSize, learningRate }`, the last
        /// two the library's defaults (`TrainConfig::default`), which the page's fields start at.
        pub fn info(&self) -> Result<JsValue, JsValue> {
            let lab =
                self.lab.try_borrow().map_err(|_| error("busy: ask again when the call under way ends"))?;
            let defaults = lenet_gpu::session::TrainConfig::default();
            // The rate as written (0.01), not as f32 widened to f64 (0.009999999776).
            let rate: f64 = defaults.optimizer.lr().to_string().parse().unwrap_or(f64::NAN);
            Ok(object(&[
                ("batchSize", (defaults.batch_size as f64).into()),
                ("learningRate", rate.into()),
                ("backend", lab.backend().key().into()),
                ("adapter", lab.adapter().into()),
                ("software", lab.is_software().into()),
                ("fallback", lab.fallback().map_or(JsValue::NULL, JsValue::from)),
                ("network", lab.network_title().into()),
            ]))
        }

        /// Stops the training call under way (it rejects, keeping the steps done).
        pub fn stop(&self) {
            self.interrupt.request();
        }

        #[wasm_bindgen(js_name = hasMnist)]
        pub fn has_mnist(&self) -> Result<bool, JsValue> {
            let lab =
                self.lab.try_borrow().map_err(|_| error("busy: ask again when the call under way ends"))?;
            Ok(lab.has_mnist())
        }

        /// Plans a Train click: `epochs` epochs (a share of one too) of "synthetic" or "mnist" at
        /// `batchSize`; the `train` calls after it stop at each epoch's end and say where the
        /// click stands (`plan`). Resolves to that: `{ epoch, epochs, epochEnded, stepsLeft }`.
        #[wasm_bindgen(js_name = planEpochs)]
        pub fn plan_epochs(&self, epochs: f64, batch_size: f64, dataset: String) -> Promise {
            self.run(move |lab| async move {
                let dataset = DataKind::parse(&dataset).map_err(error)?;
                let plan =
                    lab.borrow_mut().plan_epochs(epochs, batch_size as usize, dataset).map_err(error)?;
                Ok(plan_object(&plan))
            })
        }

        /// Ends the Train click planned by `planEpochs` (one stopped between two `train` calls).
        #[wasm_bindgen(js_name = endPlan)]
        pub fn end_plan(&self) -> Promise {
            self.run(move |lab| async move {
                lab.borrow_mut().end_plan();
                Ok(JsValue::UNDEFINED)
            })
        }

        /// MNIST's four files (gzipped or raw): train images, train labels, test images, test
        /// labels. Resolves to a description of the sizes.
        #[wasm_bindgen(js_name = setMnist)]
        pub fn set_mnist(&self, files: Array) -> Promise {
            let bytes: Vec<Vec<u8>> = files.iter().map(|f| Uint8Array::new(&f).to_vec()).collect();
            self.run(move |lab| async move {
                let files: [Vec<u8>; 4] =
                    bytes.try_into().map_err(|_| error("give MNIST's four files, in their usual order"))?;
                Ok(lab.borrow_mut().set_mnist(files).map_err(error)?.into())
            })
        }

        /// Trains `steps` steps; `progress(totals)` as they grow, `pause()` between slices of CPU
        /// work. Resolves to the totals (`loss`, `trainAccuracy`, `imagesPerSecond`, …).
        pub fn train(
            &self,
            steps: f64,
            batch_size: f64,
            learning_rate: f64,
            dataset: String,
            progress: Function,
            pause: Function,
        ) -> Promise {
            self.interrupt.clear();
            self.run(move |lab| async move {
                let dataset = DataKind::parse(&dataset).map_err(error)?;
                let request = TrainRequest {
                    steps: steps as usize,
                    batch_size: batch_size as usize,
                    learning_rate: learning_rate as f32,
                    dataset,
                };
                let mut report = |t: &TrainTotals| {
                    let _ = progress.call1(&JsValue::NULL, &totals_object(t));
                };
                let pause = pauser(pause);
                let totals = lab.borrow_mut().train(&request, &mut report, &pause).await.map_err(error)?;
                Ok(totals_object(&totals))
            })
        }

        /// The held-out set of "synthetic" or "mnist" scored: `{ accuracy, classes, confusion,
        /// mistakes }`, `confusion` row by row (rows the true class), `mistakes` the most
        /// confident ones, each `{ label, predicted, confidence, image }` (28x28 bytes).
        pub fn score(&self, dataset: String, pause: Function) -> Promise {
            self.run(move |lab| async move {
                let dataset = DataKind::parse(&dataset).map_err(error)?;
                let pause = pauser(pause);
                let scored = lab.borrow_mut().score(dataset, &pause).await.map_err(error)?;
                let confusion: Vec<f64> = scored.confusion.iter().map(|&n| n as f64).collect();
                let mistakes: Array = scored
                    .mistakes
                    .iter()
                    .map(|m| {
                        object(&[
                            ("label", f64::from(m.label).into()),
                            ("predicted", f64::from(m.predicted).into()),
                            ("confidence", m.confidence.into()),
                            ("image", Uint8Array::from(m.image.as_slice()).into()),
                        ])
                    })
                    .collect();
                Ok(object(&[
                    ("accuracy", scored.accuracy.into()),
                    ("classes", (scored.classes as f64).into()),
                    ("confusion", js_sys::Float64Array::from(confusion.as_slice()).into()),
                    ("mistakes", mistakes.into()),
                ]))
            })
        }

        /// A 28x28 image's reading as it is, unprepared (a test image's): `{ probabilities, input }`.
        #[wasm_bindgen(js_name = readInput)]
        pub fn read_input(&self, input: Vec<u8>) -> Promise {
            self.run(move |lab| async move {
                let reading = lab.borrow_mut().read_input(&input).await.map_err(error)?;
                Ok(reading_object(&reading))
            })
        }

        /// The feature maps the network computes for `input` (the 28x28 bytes `predict` gives
        /// back): `[{ label, channels, height, width, values }]`, a layer each.
        pub fn features(&self, input: Vec<u8>) -> Promise {
            self.run(move |lab| async move {
                let maps = lab.borrow_mut().features(&input).await.map_err(error)?;
                Ok(maps
                    .iter()
                    .map(|m| {
                        object(&[
                            ("label", m.label.as_str().into()),
                            ("channels", (m.channels as f64).into()),
                            ("height", (m.height as f64).into()),
                            ("width", (m.width as f64).into()),
                            ("values", Float32Array::from(m.values.as_slice()).into()),
                        ])
                    })
                    .collect::<Array>()
                    .into())
            })
        }

        /// The lesson's kernels applied to `input` (28x28 bytes): `[{ name, does, width, height,
        /// pixels }]`, `pixels` gray levels.
        #[wasm_bindgen(js_name = lessonKernels)]
        pub fn lesson_kernels(&self, input: Vec<u8>) -> Promise {
            self.run(move |lab| async move {
                let filtered = lab.borrow().lesson_kernels(&input).map_err(error)?;
                Ok(filtered
                    .iter()
                    .map(|f| {
                        object(&[
                            ("name", f.name.into()),
                            ("does", f.does.into()),
                            ("width", (f.width as f64).into()),
                            ("height", (f.height as f64).into()),
                            ("pixels", Uint8Array::from(f.pixels.as_slice()).into()),
                        ])
                    })
                    .collect::<Array>()
                    .into())
            })
        }

        /// The digit in RGBA pixels (a canvas's `getImageData`): `{ probabilities, input }`, the
        /// ten probabilities and the 28x28 bytes the network saw.
        pub fn predict(&self, rgba: Vec<u8>, width: usize, height: usize) -> Promise {
            self.run(move |lab| async move {
                let gray = rgba_to_gray(rgba, width, height).map_err(error)?;
                let reading = lab.borrow_mut().predict(&gray.pixels, width, height).await.map_err(error)?;
                Ok(reading_object(&reading))
            })
        }

        /// conv1's kernels: `{ count, height, width, values }`.
        pub fn kernels(&self) -> Promise {
            self.run(move |lab| async move {
                let k = lab.borrow().kernels().await.map_err(error)?;
                Ok(object(&[
                    ("count", (k.count as f64).into()),
                    ("height", (k.height as f64).into()),
                    ("width", (k.width as f64).into()),
                    ("values", Float32Array::from(k.values.as_slice()).into()),
                ]))
            })
        }

        /// The model as a safetensors file, as `lenet train --save` writes one.
        pub fn save(&self) -> Promise {
            self.run(move |lab| async move {
                let bytes = lab.borrow().save().await.map_err(error)?;
                Ok(Uint8Array::from(bytes.as_slice()).into())
            })
        }

        /// Reads a blank image once, making the GPU's inference pipelines before the first digit.
        #[wasm_bindgen(js_name = warmUp)]
        pub fn warm_up(&self) -> Promise {
            self.run(move |lab| async move {
                lab.borrow_mut().warm_up().await.map_err(error)?;
                Ok(JsValue::UNDEFINED)
            })
        }

        /// Starts over from the seed: a fresh initialization and optimizer state.
        pub fn reset(&self) -> Promise {
            self.run(move |lab| async move {
                lab.borrow_mut().reset().await.map_err(error)?;
                Ok(JsValue::UNDEFINED)
            })
        }

        /// Replaces the model with a saved one; resolves to its network's name.
        pub fn load(&self, bytes: Vec<u8>) -> Promise {
            self.run(move |lab| async move { Ok(lab.borrow_mut().load(&bytes).await.map_err(error)?.into()) })
        }

        /// `{ kernel: error }` for every kernel, WebGPU against the CPU path, inputs from `seed`.
        pub fn parity(&self, seed: f64) -> Promise {
            self.run(move |lab| async move {
                let results = lab.borrow_mut().parity(seed as u64).await.map_err(error)?;
                let fields: Vec<(&str, JsValue)> =
                    results.iter().map(|r| (r.kernel, JsValue::from(r.error as f64))).collect();
                Ok(object(&fields))
            })
        }
    }
}
