// `osprey train` and `osprey evaluate`: the batch trainer's command line. train reads a YAML
// file (config/train_options.h), loads and prepares the data (models/ml), fits the algorithm
// with a progress bar on a terminal (nothing when stderr is not a TTY), evaluates on the
// validation and test splits, prints a summary table and publishes the model to the registry
// atomically. evaluate scores a registered model on a data file.
// Thread-compatible: each call runs on the caller's thread.
#pragma once

#include <ostream>
#include <string>

namespace osprey::daemon::trainer {

struct TrainCommand {
  std::string config_path;
  // Overrides the file's `registry`.
  std::string registry;
  // When set, the test split's rows and the trainer's predictions for them, as CSV (inputs...,
  // then the prediction columns), for checking that the published model serves the same.
  std::string predictions_out;
  // The HTML report (html_report.h); default: <registry>/<name>/<version>/report.html.
  std::string report_path;
};

// Returns the process exit code (0 ok, 1 error); messages go to `err`, the table to `out`.
int RunTrain(const TrainCommand& command, std::ostream& out, std::ostream& err);

struct EvaluateCommand {
  std::string registry;
  std::string model;
  std::string version;  // empty = the latest
  std::string data;     // .jsonl / .json = JSON Lines, anything else CSV
  bool header = false;  // csv
  int label_index = 0;  // csv without header; -1 = no label
  std::string label;    // csv with header / jsonl
};

int RunEvaluate(const EvaluateCommand& command, std::ostream& out, std::ostream& err);

}  // namespace osprey::daemon::trainer
