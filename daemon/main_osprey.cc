// osprey: the companion tool.
//   osprey broker [--brokers N] [--topic NAME[:PARTITIONS]]...   an embedded Kafka broker
//   osprey validate --config FILE                                check a configuration
//   osprey replay --config FILE --input IN.csv --output OUT.csv [--pipeline NAME]
//                                                                score a CSV file offline
//   osprey model export --pipeline P --key K --registry DIR [--url URL] [--name NAME]
//                                                                a live key's RCF into a registry
//   osprey savepoint --url http://HOST:PORT [--dir DIR] [--token T]
//                                                                savepoint a running ospreyd
//   osprey history export --config FILE --pipeline P [--format csv|jsonl] [--since MS]
//          [--until MS] [--output FILE] [--store DIR]             a pipeline's event history
//   osprey train --config TRAIN.yaml [--registry DIR]              train and publish a model
//   osprey evaluate --registry DIR --model NAME [--version V] --data FILE
//                                                                score a registered model
#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "config/base/json_writer.h"
#include "config/loader.h"
#include "daemon/daemon.h"
#include "daemon/history_export.h"
#include "daemon/http_client.h"
#include "daemon/kafka/embedded_broker.h"
#include "daemon/model_export.h"
#include "daemon/replay.h"
#include "daemon/signals.h"
#include "daemon/trainer/trainer.h"

namespace {

int Broker(int brokers, const std::vector<std::string>& topics) {
  osprey::config::EmbeddedBrokerOptions options;
  options.enabled = true;
  options.brokers = brokers;
  for (const auto& spec : topics) {
    osprey::config::EmbeddedTopic topic;
    auto colon = spec.rfind(':');
    topic.name = spec.substr(0, colon);
    if (colon != std::string::npos) {
      try {
        topic.partitions = std::stoi(spec.substr(colon + 1));
      } catch (const std::exception&) {
        topic.partitions = 0;
      }
    }
    if (topic.name.empty() || topic.partitions < 1 || topic.partitions > 1024) {
      std::cerr << "osprey broker: --topic '" << spec
                << "': expected NAME or NAME:PARTITIONS with 1..1024 partitions\n";
      return 1;
    }
    options.topics.push_back(topic);
  }
  auto broker = osprey::daemon::EmbeddedBroker::Start(options);
  if (!broker.ok()) {
    std::cerr << "osprey broker: " << broker.status().ToString() << "\n";
    return 1;
  }
  std::cout << "bootstrap.servers=" << (*broker)->bootstrap_servers() << std::endl;
  std::cerr << "embedded Kafka broker running (librdkafka mock cluster); Ctrl-C to stop\n";
  while (osprey::daemon::WaitForTerminationSignal(std::chrono::milliseconds(1000)) == 0) {
  }
  return 0;
}

// POST /v1/admin/savepoint; prints the daemon's answer (the directory and the manifest).
int Savepoint(const std::string& url, const std::string& dir, const std::string& token) {
  std::string body;
  if (!dir.empty()) {
    osprey::JsonWriter w(&body);
    w.BeginObject();
    w.Key("dir").String(dir);
    w.EndObject();
  }
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  auto response = osprey::daemon::HttpRequestOnce("POST", url, "/v1/admin/savepoint", body,
                                                  headers, std::chrono::seconds(120));
  if (!response.ok()) {
    std::cerr << "osprey savepoint: " << response.status().message() << "\n";
    return 1;
  }
  if (response->status != 200) {
    std::cerr << "osprey savepoint: HTTP " << response->status << ": " << response->body << "\n";
    return 1;
  }
  std::cout << response->body << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  osprey::daemon::BlockTerminationSignals();
  CLI::App app{"osprey: tools for the Osprey anomaly-detection daemon"};
  app.set_version_flag("--version", std::string("osprey ") + osprey::daemon::OspreyVersion());
  app.require_subcommand(1);

  auto* broker = app.add_subcommand("broker", "Run an embedded Kafka broker and print its address");
  int brokers = 1;
  std::vector<std::string> topics;
  broker->add_option("--brokers", brokers, "Number of brokers")->check(CLI::Range(1, 16));
  broker->add_option("-t,--topic", topics, "Topic to create, NAME or NAME:PARTITIONS (repeatable)");

  auto* validate = app.add_subcommand("validate", "Check a configuration file and exit 0 or 1");
  std::string config_path;
  validate->add_option("-c,--config", config_path, "YAML configuration file")->required();

  auto* replay = app.add_subcommand(
      "replay", "Run a CSV file (header line; timestamp and value columns) through a pipeline "
                "offline and write timestamp,values...,anomaly_score,grade per row");
  osprey::daemon::ReplayOptions replay_options;
  replay->add_option("-c,--config", replay_options.config_path, "YAML configuration file")
      ->required();
  replay->add_option("-i,--input", replay_options.input_path, "Input CSV file")->required();
  replay->add_option("-o,--output", replay_options.output_path, "Output CSV file (overwritten)")
      ->required();
  replay->add_option("-p,--pipeline", replay_options.pipeline,
                     "Pipeline to run (default: the first in the configuration)");

  auto* model = app.add_subcommand("model", "Model registry tools");
  auto* model_export = model->add_subcommand(
      "export",
      "Copy a live pipeline key's Random Cut Forest from a running ospreyd into a model "
      "registry as a new version (kind rcf)");
  model->require_subcommand(1);
  osprey::daemon::ModelExportOptions model_export_options;
  model_export->add_option("-p,--pipeline", model_export_options.pipeline, "Pipeline")->required();
  model_export->add_option("-k,--key", model_export_options.key, "Key")->required();
  model_export
      ->add_option("-r,--registry", model_export_options.registry_dir,
                   "Registry directory (the daemon's models.registry_dir)")
      ->required();
  model_export->add_option("-u,--url", model_export_options.url, "ospreyd base URL")
      ->capture_default_str();
  model_export->add_option("-n,--name", model_export_options.name,
                           "Model name (default: <pipeline>-<key>)");
  model_export->add_option("--token", model_export_options.token, "Admin bearer token, if required");

  auto* savepoint = app.add_subcommand(
      "savepoint", "Ask a running ospreyd for a savepoint of its state (POST /v1/admin/savepoint)");
  std::string savepoint_url, savepoint_dir, token;
  savepoint->add_option("-u,--url", savepoint_url, "The daemon, http://HOST:PORT")->required();
  savepoint->add_option("-d,--dir", savepoint_dir,
                        "Directory on the daemon's host to write (must not exist; default "
                        "<state.dir>/savepoints/savepoint-<time>)");
  savepoint->add_option("--token", token, "Bearer token for the admin API")
      ->envname("OSPREY_TOKEN");

  auto* history = app.add_subcommand("history", "The events pipelines keep for training");
  history->require_subcommand(1);
  auto* history_export = history->add_subcommand(
      "export", "Write a pipeline's history rows, oldest first, as CSV or JSON Lines (reads a "
                "running daemon's store without stopping it)");
  osprey::daemon::HistoryExportOptions export_options;
  int64_t since_ms = 0, until_ms = 0;
  history_export->add_option("-c,--config", export_options.config_path, "The daemon's YAML")
      ->required();
  history_export->add_option("-p,--pipeline", export_options.pipeline, "Pipeline")->required();
  history_export->add_option("-f,--format", export_options.format, "csv or jsonl (default csv)")
      ->check(CLI::IsMember({"csv", "jsonl"}));
  auto* since = history_export->add_option("--since", since_ms, "Event time >= (epoch ms)");
  auto* until = history_export->add_option("--until", until_ms, "Event time < (epoch ms)");
  history_export->add_option("-o,--output", export_options.output_path,
                             "Output file (default stdout)");
  history_export->add_option("--store", export_options.store_dir,
                             "Read this store, checkpoint or savepoint directory instead of "
                             "the live state.dir");

  auto* train = app.add_subcommand(
      "train", "Train a model from a YAML file (data, preparation, algorithm, hyperparameters) "
               "and publish it to the model registry");
  osprey::daemon::trainer::TrainCommand train_command;
  train->add_option("-c,--config", train_command.config_path, "Training YAML file")->required();
  train->add_option("-r,--registry", train_command.registry,
                    "Registry directory (overrides the file's 'registry')");
  train->add_option("--predictions-out", train_command.predictions_out,
                    "Write the test split and the trainer's predictions for it as CSV");
  train->add_option("--report", train_command.report_path,
                    "Write the HTML report here (default: report.html in the published "
                    "version's directory)");

  auto* evaluate = app.add_subcommand("evaluate", "Score a registered model on a data file");
  osprey::daemon::trainer::EvaluateCommand evaluate_command;
  evaluate->add_option("-r,--registry", evaluate_command.registry, "Registry directory")
      ->required();
  evaluate->add_option("-m,--model", evaluate_command.model, "Model name")->required();
  evaluate->add_option("-v,--version", evaluate_command.version, "Version (default: the latest)");
  evaluate->add_option("-d,--data", evaluate_command.data,
                       "Data file: .jsonl for JSON Lines, otherwise CSV")
      ->required();
  evaluate->add_flag("--header", evaluate_command.header, "The CSV file has a header line");
  evaluate->add_option("--label-index", evaluate_command.label_index,
                       "CSV without header: the label's column (default 0; -1 = no label)");
  evaluate->add_option("--label", evaluate_command.label,
                       "CSV with header or JSON Lines: the label's column or key");

  CLI11_PARSE(app, argc, argv);
  if (*model_export) {
    auto version = osprey::daemon::ExportModel(model_export_options);
    if (!version.ok()) {
      std::cerr << "osprey model export: " << version.status().ToString() << "\n";
      return 1;
    }
    std::cout << "published version " << *version << " to " << model_export_options.registry_dir << "\n";
    return 0;
  }
  if (*history_export) {
    if (since->count() > 0) export_options.since_ms = since_ms;
    if (until->count() > 0) export_options.until_ms = until_ms;
    auto rows = osprey::daemon::ExportHistory(export_options);
    if (!rows.ok()) {
      std::cerr << "osprey history export: " << rows.status().message() << "\n";
      return 1;
    }
    std::cerr << *rows << " rows\n";
    return 0;
  }
  if (*savepoint) return Savepoint(savepoint_url, savepoint_dir, token);
  if (*train) return osprey::daemon::trainer::RunTrain(train_command, std::cout, std::cerr);
  if (*evaluate) {
    return osprey::daemon::trainer::RunEvaluate(evaluate_command, std::cout, std::cerr);
  }
  if (*replay) {
    osprey::Status st = osprey::daemon::Replay(replay_options);
    if (!st.ok()) {
      std::cerr << st.message() << "\n";
      return 1;
    }
    return 0;
  }
  if (*broker) return Broker(brokers, topics);
  if (*validate) {
    auto cfg = osprey::config::LoadConfigFile(config_path);
    if (!cfg.ok()) {
      std::cerr << cfg.status().message() << "\n";
      return 1;
    }
    std::cout << config_path << ": OK\n";
    return 0;
  }
  return 0;
}
