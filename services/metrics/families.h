// Building Prometheus metric families by hand, for the collectors that
// render a snapshot (mixsweepd's system series, the worker's): a family, and
// one counter or gauge sample in it.
//
//   prometheus::MetricFamily jobs = MakeFamily("mixsweep_jobs", "Jobs", prometheus::MetricType::Gauge);
//   AddSample(jobs, {{"state", "queued"}}, 12);
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

namespace mixsweep::metrics {

inline prometheus::MetricFamily MakeFamily(std::string name, std::string help,
                                           prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

// A counter's or a gauge's sample, as the family's type says.
inline void AddSample(prometheus::MetricFamily& family,
                      std::vector<prometheus::ClientMetric::Label> labels, double value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  if (family.type == prometheus::MetricType::Counter) metric.counter.value = value;
  else metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

}  // namespace mixsweep::metrics
