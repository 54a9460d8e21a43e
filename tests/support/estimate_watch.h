// EstimateWatch: a WatchEstimates stream read on its own thread, for
// end-to-end tests that check which estimate versions a client sees.
//
// Example:
//   EstimateWatch watch(daemon.Channel(), sweep_id);
//   ... record trials ...
//   WaitUntil([&] { return !watch.updates().empty(); });
#pragma once

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "mixsweep/v1/utilization.grpc.pb.h"

namespace mixsweep::testing {

// Every update of a WatchEstimates stream, read on its own thread.
class EstimateWatch {
 public:
  EstimateWatch(std::shared_ptr<grpc::Channel> channel, int64_t sweep_id)
      : stub_(mixsweep::v1::UtilizationService::NewStub(std::move(channel))) {
    mixsweep::v1::WatchEstimatesRequest request;
    request.set_sweep_id(sweep_id);
    reader_ = stub_->WatchEstimates(&context_, request);
    thread_ = std::thread([this] {
      mixsweep::v1::EstimateUpdate update;
      while (reader_->Read(&update)) {
        std::lock_guard<std::mutex> lock(mu_);
        updates_.push_back(update);
      }
    });
  }
  ~EstimateWatch() {
    context_.TryCancel();
    thread_.join();
    (void)reader_->Finish();
  }

  std::vector<mixsweep::v1::EstimateUpdate> updates() {
    std::lock_guard<std::mutex> lock(mu_);
    return updates_;
  }

 private:
  std::unique_ptr<mixsweep::v1::UtilizationService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<mixsweep::v1::EstimateUpdate>> reader_;
  std::mutex mu_;
  std::vector<mixsweep::v1::EstimateUpdate> updates_;
  std::thread thread_;
};

}  // namespace mixsweep::testing
