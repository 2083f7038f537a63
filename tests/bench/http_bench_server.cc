// The HTTP serving benchmark's server: the scoring API over a model registry directory, plus a
// bare POST /bench/constant route in the same server that reads the body and answers a
// constant (the ceiling the scoring routes are compared with). Driven by http_bench.sh (wrk);
// not a test. Prints "port=N" once listening; stops on SIGTERM/SIGINT.
//   osprey_http_bench_server REGISTRY_DIR [THREADS]
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include "daemon/http_server.h"
#include "daemon/model_registry.h"
#include "daemon/serving_api.h"
#include "daemon/signals.h"
#include "models/serving/builtin_kinds.h"

int main(int argc, char** argv) {
  using namespace osprey;  // NOLINT(google-build-using-namespace): a small main
  if (argc < 2) {
    std::cerr << "usage: osprey_http_bench_server REGISTRY_DIR [THREADS]\n";
    return 2;
  }
  daemon::BlockTerminationSignals();
  models::ModelKindRegistry kinds;
  models::RegisterBuiltinKinds(kinds);
  config::ModelsOptions models_options;
  models_options.registry_dir = argv[1];
  models_options.poll_interval_ms = 0;
  auto registry = daemon::ModelRegistry::Open(models_options, kinds, nullptr);
  if (!registry.ok()) {
    std::cerr << registry.status().ToString() << "\n";
    return 1;
  }
  if (!(*registry)->snapshot()->errors.empty()) {
    std::cerr << "registry errors: " << (*registry)->snapshot()->errors.front() << "\n";
    return 1;
  }
  daemon::HttpRouter router;
  daemon::AddServingRoutes(router, **registry, nullptr);
  router.Add("POST", "/bench/constant", [](const daemon::HttpRequest& req) {
    return daemon::HttpResponse::Json(
        200, req.body.empty() ? R"({"predictions":[]})" : R"({"predictions":[{"score":1}]})");
  });
  config::HttpOptions http;
  http.listen = "127.0.0.1:0";
  http.threads = argc > 2 ? std::atoi(argv[2]) : 2;
  http.limits.max_connections = 4096;
  auto server = daemon::HttpServer::Start(http, std::move(router));
  if (!server.ok()) {
    std::cerr << server.status().ToString() << "\n";
    return 1;
  }
  std::cout << "port=" << (*server)->port() << std::endl;
  while (daemon::WaitForTerminationSignal(std::chrono::milliseconds(1000)) == 0) {
  }
  return 0;
}
