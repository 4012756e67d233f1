//! A metrics recorder for one test.

/// A metrics recorder for one test: every counter's total and every value a gauge was set
/// to, by name and labels (`name{label="value",…}`, labels in the order given).
///
/// [`MetricsProbe::install`] puts it on the test's thread only. `#[tokio::test]` runs the
/// test and the app, which the client calls in process, on that one thread (password hashes
/// run elsewhere but record nothing there), so the probe sees this test's app and no other.
#[derive(Clone, Default)]
pub struct MetricsProbe(std::sync::Arc<ProbeData>);

#[derive(Default)]
pub struct ProbeData {
    counters: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    gauges: std::sync::Mutex<std::collections::BTreeMap<String, Vec<f64>>>,
}

struct ProbeHandle {
    probe: MetricsProbe,
    key: String,
}

fn probe_key(key: &metrics::Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|label| format!("{}=\"{}\"", label.key(), label.value()))
        .collect();
    if labels.is_empty() {
        key.name().to_owned()
    } else {
        format!("{}{{{}}}", key.name(), labels.join(","))
    }
}

impl MetricsProbe {
    /// Records this thread's metrics until the guard is dropped.
    pub fn install(&self) -> metrics::LocalRecorderGuard<'_> {
        metrics::set_default_local_recorder(self)
    }

    /// A counter's total (0 when it was never incremented).
    pub fn counter(&self, key: &str) -> u64 {
        let counters = self.0.counters.lock().expect("probe lock");
        counters.get(key).copied().unwrap_or(0)
    }

    /// Every counter named `name` that was incremented, as `name{labels}`: one per label set.
    pub fn counter_keys(&self, name: &str) -> Vec<String> {
        let counters = self.0.counters.lock().expect("probe lock");
        counters
            .keys()
            .filter(|key| key.as_str() == name || key.starts_with(&format!("{name}{{")))
            .cloned()
            .collect()
    }

    /// Every value the gauge was set to, in order.
    pub fn gauge_values(&self, key: &str) -> Vec<f64> {
        let gauges = self.0.gauges.lock().expect("probe lock");
        gauges.get(key).cloned().unwrap_or_default()
    }

    /// How many password hashes the hashing pool took on (`tessera_password_hashes_total`).
    pub fn hashes(&self) -> u64 {
        self.counter("tessera_password_hashes_total")
    }

    /// The value `tessera_hash_queue_depth` was last set to.
    pub fn queue_depth(&self) -> Option<f64> {
        self.gauge_values("tessera_hash_queue_depth")
            .last()
            .copied()
    }
}

impl metrics::CounterFn for ProbeHandle {
    fn increment(&self, value: u64) {
        let mut counters = self.probe.0.counters.lock().expect("probe lock");
        *counters.entry(self.key.clone()).or_default() += value;
    }

    fn absolute(&self, value: u64) {
        let mut counters = self.probe.0.counters.lock().expect("probe lock");
        let total = counters.entry(self.key.clone()).or_default();
        *total = (*total).max(value);
    }
}

impl metrics::GaugeFn for ProbeHandle {
    fn increment(&self, value: f64) {
        let mut gauges = self.probe.0.gauges.lock().expect("probe lock");
        let values = gauges.entry(self.key.clone()).or_default();
        let next = values.last().copied().unwrap_or(0.0) + value;
        values.push(next);
    }

    fn decrement(&self, value: f64) {
        self.increment(-value);
    }

    fn set(&self, value: f64) {
        let mut gauges = self.probe.0.gauges.lock().expect("probe lock");
        gauges.entry(self.key.clone()).or_default().push(value);
    }
}

impl metrics::Recorder for MetricsProbe {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(std::sync::Arc::new(ProbeHandle {
            probe: self.clone(),
            key: probe_key(key),
        }))
    }

    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(std::sync::Arc::new(ProbeHandle {
            probe: self.clone(),
            key: probe_key(key),
        }))
    }

    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}
